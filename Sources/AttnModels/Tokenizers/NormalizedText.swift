/// A piece of text as the pipeline sees it: the normalized Unicode scalars, and for each one the span
/// of the ORIGINAL text (scalar indices, end exclusive) it came from.
///
/// This is Hugging Face's `NormalizedString`, in scalars instead of bytes: a token's span in the
/// original text is `alignments[first].start ..< alignments[last].end`. Spans are absolute (indices
/// into the whole input), so pieces split off a text need no shift.
struct NormalizedText: Sendable, Equatable {
    struct Span: Sendable, Equatable {
        var start: Int
        var end: Int
    }

    /// The normalized text.
    var scalars: [Unicode.Scalar]
    /// One original span per normalized scalar.
    var alignments: [Span]
    /// Where this piece starts in the original text; the span given to a scalar inserted before
    /// everything else (Hugging Face aligns it to the empty range there).
    var originalStart: Int

    /// The whole of `original`, not yet normalized: scalar `i` comes from `i ..< i + 1`.
    init(original: [Unicode.Scalar]) {
        scalars = original
        alignments = (0..<original.count).map { Span(start: $0, end: $0 + 1) }
        originalStart = 0
    }

    init(scalars: [Unicode.Scalar], alignments: [Span], originalStart: Int) {
        self.scalars = scalars
        self.alignments = alignments
        self.originalStart = originalStart
    }

    var isEmpty: Bool { scalars.isEmpty }
    var count: Int { scalars.count }

    /// The normalized text as a string.
    var string: String { String(String.UnicodeScalarView(scalars)) }

    /// The span of the original text that normalized scalars `range` came from.
    func originalSpan(of range: Range<Int>) -> Span {
        Span(start: alignments[range.lowerBound].start, end: alignments[range.upperBound - 1].end)
    }

    /// The normalized scalars `range` as their own piece (Hugging Face's `slice`).
    func slice(_ range: Range<Int>) -> NormalizedText {
        let start = range.isEmpty ? originalStart : alignments[range.lowerBound].start
        return NormalizedText(scalars: Array(scalars[range]), alignments: Array(alignments[range]),
                              originalStart: start)
    }

    // MARK: Transformations, with Hugging Face's alignment rules

    /// Replaces every scalar by zero or more scalars, all aligned to the scalar they replace.
    ///
    /// This is what Hugging Face's `filter`, `map`, `lowercase` and the CJK spacing do: the first
    /// output replaces the scalar and the others are "inserted after" it, which takes its alignment.
    mutating func replaceEach(_ replacement: (Unicode.Scalar) -> ScalarReplacement) {
        var newScalars: [Unicode.Scalar] = []
        var newAlignments: [Span] = []
        newScalars.reserveCapacity(scalars.count)
        newAlignments.reserveCapacity(scalars.count)
        for index in scalars.indices {
            switch replacement(scalars[index]) {
            case .keep:
                newScalars.append(scalars[index])
                newAlignments.append(alignments[index])
            case .remove:
                break
            case .one(let scalar):
                newScalars.append(scalar)
                newAlignments.append(alignments[index])
            case .many(let replaced):
                for scalar in replaced {
                    newScalars.append(scalar)
                    newAlignments.append(alignments[index])
                }
            }
        }
        scalars = newScalars
        alignments = newAlignments
    }

    /// Rebuilds the text from `changes`, Hugging Face's `transform`: each new scalar comes with a
    /// change of `0` (it replaces the next old scalar and takes its span), `1` (it is inserted and
    /// takes the span of the old scalar before the current position), or `-n` (it replaces the next
    /// old scalar and the `n` after it are removed). `initialOffset` old scalars are removed first.
    ///
    /// Alignment follows positions, not scalars, exactly as Hugging Face does; this matters only when
    /// Unicode normalization reorders combining marks.
    mutating func transform(_ changes: [(scalar: Unicode.Scalar, change: Int)], initialOffset: Int = 0) {
        var offset = initialOffset
        var newAlignments: [Span] = []
        newAlignments.reserveCapacity(changes.count)
        for (_, change) in changes {
            let span: Span
            if change > 0 {
                span = offset >= 1 && offset - 1 < alignments.count
                    ? alignments[offset - 1] : Span(start: originalStart, end: originalStart)
            } else {
                span = offset < alignments.count
                    ? alignments[offset] : (alignments.last ?? Span(start: originalStart, end: originalStart))
                offset += 1
            }
            if change < 0 { offset += -change }
            newAlignments.append(span)
        }
        scalars = changes.map(\.scalar)
        alignments = newAlignments
    }

    /// Puts `prefix` before the text, Hugging Face's `prepend`: the first new scalar takes the span of
    /// the old first scalar, and so does everything inserted after it. Nothing happens to empty text.
    mutating func prepend(_ prefix: [Unicode.Scalar]) {
        guard let first = alignments.first, !prefix.isEmpty else { return }
        scalars.insert(contentsOf: prefix, at: 0)
        alignments.insert(contentsOf: repeatElement(first, count: prefix.count), at: 0)
    }

    /// Replaces each range of `matches` (sorted, not overlapping) by `content`, Hugging Face's
    /// `replace`: the matched scalars are removed and the new ones inserted, each taking the span of
    /// the last scalar removed.
    mutating func replace(_ matches: [Range<Int>], with content: [Unicode.Scalar]) {
        guard !matches.isEmpty else { return }
        var newScalars: [Unicode.Scalar] = []
        var newAlignments: [Span] = []
        newScalars.reserveCapacity(scalars.count)
        newAlignments.reserveCapacity(scalars.count)
        var position = 0
        for match in matches where !match.isEmpty {
            newScalars.append(contentsOf: scalars[position..<match.lowerBound])
            newAlignments.append(contentsOf: alignments[position..<match.lowerBound])
            newScalars.append(contentsOf: content)
            newAlignments.append(contentsOf: repeatElement(alignments[match.upperBound - 1], count: content.count))
            position = match.upperBound
        }
        newScalars.append(contentsOf: scalars[position...])
        newAlignments.append(contentsOf: alignments[position...])
        scalars = newScalars
        alignments = newAlignments
    }

    /// Rebuilds the text from pieces that each replace a range of old scalars (the ranges partition
    /// the text, in order): every new scalar of a piece spans all the old scalars it replaces. A piece
    /// with no output removes its scalars. This is SentencePiece's alignment, coarser than `transform`.
    mutating func rebuild(_ pieces: [(old: Range<Int>, new: [Unicode.Scalar])]) {
        var newScalars: [Unicode.Scalar] = []
        var newAlignments: [Span] = []
        newScalars.reserveCapacity(scalars.count)
        newAlignments.reserveCapacity(scalars.count)
        for piece in pieces where !piece.old.isEmpty {
            let span = Span(start: alignments[piece.old.lowerBound].start, end: alignments[piece.old.upperBound - 1].end)
            newScalars.append(contentsOf: piece.new)
            newAlignments.append(contentsOf: repeatElement(span, count: piece.new.count))
        }
        scalars = newScalars
        alignments = newAlignments
    }

    /// The span in the original text where this piece starts (Hugging Face's `offsets_original().0`).
    var originalOffset: Int { alignments.first?.start ?? originalStart }

    // MARK: Splitting (pre-tokenizers)

    /// What to do with the scalars a pattern matched, Hugging Face's `SplitDelimiterBehavior`.
    enum DelimiterBehavior: String, Sendable {
        case removed = "Removed"
        case isolated = "Isolated"
        case mergedWithPrevious = "MergedWithPrevious"
        case mergedWithNext = "MergedWithNext"
        case contiguous = "Contiguous"
    }

    /// Splits where single scalars satisfy `isDelimiter` (each matching scalar is one match).
    func split(behavior: DelimiterBehavior, where isDelimiter: (Unicode.Scalar) -> Bool) -> [NormalizedText] {
        var matches: [(range: Range<Int>, isMatch: Bool)] = []
        var runStart = 0
        for index in scalars.indices where isDelimiter(scalars[index]) {
            if runStart < index { matches.append((runStart..<index, false)) }
            matches.append((index..<index + 1, true))
            runStart = index + 1
        }
        if runStart < scalars.count { matches.append((runStart..<scalars.count, false)) }
        return split(matches: matches, behavior: behavior)
    }

    /// Splits along `matches`, a partition of the text into matched and unmatched ranges.
    func split(matches: [(range: Range<Int>, isMatch: Bool)], behavior: DelimiterBehavior) -> [NormalizedText] {
        var pieces: [(range: Range<Int>, remove: Bool)] = []
        switch behavior {
        case .removed:
            pieces = matches.map { ($0.range, $0.isMatch) }
        case .isolated:
            pieces = matches.map { ($0.range, false) }
        case .contiguous:
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch == previousMatch, let last = pieces.last {
                    pieces[pieces.count - 1] = (last.range.lowerBound..<range.upperBound, false)
                } else {
                    pieces.append((range, false))
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for (range, isMatch) in matches {
                if isMatch, !previousMatch, let last = pieces.last {
                    pieces[pieces.count - 1] = (last.range.lowerBound..<range.upperBound, false)
                } else {
                    pieces.append((range, false))
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for (range, isMatch) in matches.reversed() {
                if isMatch, !previousMatch, let last = pieces.last {
                    pieces[pieces.count - 1] = (range.lowerBound..<last.range.upperBound, false)
                } else {
                    pieces.append((range, false))
                }
                previousMatch = isMatch
            }
            pieces.reverse()
        }
        return pieces.compactMap { piece in
            piece.remove || piece.range.isEmpty ? nil : slice(piece.range)
        }
    }
}

/// What one scalar becomes under a scalar-wise normalization.
enum ScalarReplacement {
    case keep
    case remove
    case one(Unicode.Scalar)
    case many([Unicode.Scalar])
}
