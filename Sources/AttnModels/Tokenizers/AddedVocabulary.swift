/// A token of tokenizer.json's `added_tokens`: special tokens (`[CLS]`, `[MASK]`) and any tokens
/// added on top of the model's vocabulary. Typed in the input, they are found before the rest of
/// the pipeline runs, and come out whole.
struct AddedToken: Sendable, Equatable {
    var id: Int
    var content: String
    /// Match only when not inside a word.
    var singleWord = false
    /// Swallow the whitespace on its left / right.
    var stripLeft = false
    var stripRight = false
    /// Match against the normalized text (and the normalized content) instead of the raw input.
    var normalized = false
    var special = false
}

/// Finds added tokens in text, as Hugging Face's `AddedVocabulary` does: leftmost-longest matches,
/// first of the non-normalized tokens in the raw text, then (after normalization) of the normalized
/// tokens in the normalized text.
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    let idsByContent: [VocabularyKey: Int]
    let tokensByID: [Int: AddedToken]
    private let rawPatterns: PatternSet
    private let normalizedPatterns: PatternSet

    init(tokens: [AddedToken], normalizer: (any TextNormalizer)?) {
        let usable = tokens.filter { !$0.content.isEmpty }
        self.tokens = usable
        var idsByContent: [VocabularyKey: Int] = [:]
        var tokensByID: [Int: AddedToken] = [:]
        for token in usable {
            idsByContent[VocabularyKey(token.content)] = token.id
            tokensByID[token.id] = token
        }
        self.idsByContent = idsByContent
        self.tokensByID = tokensByID
        rawPatterns = PatternSet(usable.filter { !$0.normalized }.map { (Array($0.content.unicodeScalars), $0) })
        normalizedPatterns = PatternSet(usable.filter(\.normalized).map { token in
            var text = NormalizedText(original: Array(token.content.unicodeScalars))
            normalizer?.normalize(&text)
            return (text.scalars, token)
        })
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// Cuts `text` around the added tokens found in it (raw or normalized ones); pieces that are an
    /// added token come with it. Empty pieces are left out.
    func split(_ text: NormalizedText, normalized: Bool) -> [(text: NormalizedText, token: ModelToken?)] {
        let patterns = normalized ? normalizedPatterns : rawPatterns
        if patterns.isEmpty || text.isEmpty { return text.isEmpty ? [] : [(text, nil)] }
        let scalars = text.scalars
        var pieces: [(NormalizedText, ModelToken?)] = []
        var pieceStart = 0
        var position = 0
        while position < scalars.count {
            guard let (length, token) = patterns.longestMatch(in: scalars, at: position) else {
                position += 1
                continue
            }
            var start = position
            var stop = position + length
            position = stop  // a rejected match is consumed too, as by the Aho-Corasick iterator
            if token.singleWord {
                let startsWord = start == 0 || !UnicodeRules.isWordCharacter(scalars[start - 1])
                let endsWord = stop == scalars.count || !UnicodeRules.isWordCharacter(scalars[stop])
                if !startsWord || !endsWord { continue }
            }
            if token.stripLeft {
                var newStart = start
                while newStart > 0, UnicodeRules.isWhitespace(scalars[newStart - 1]) { newStart -= 1 }
                start = max(newStart, pieceStart)
            }
            if token.stripRight {
                while stop < scalars.count, UnicodeRules.isWhitespace(scalars[stop]) { stop += 1 }
                position = stop
            }
            if pieceStart < start { pieces.append((text.slice(pieceStart..<start), nil)) }
            let matched = text.slice(start..<stop)
            pieces.append((matched, ModelToken(id: token.id, text: matched.string, range: 0..<matched.count)))
            pieceStart = stop
        }
        if pieceStart < scalars.count { pieces.append((text.slice(pieceStart..<scalars.count), nil)) }
        return pieces
    }
}

/// Patterns indexed by their first scalar, longest first.
private struct PatternSet: Sendable {
    private var byFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]

    init(_ patterns: [([Unicode.Scalar], AddedToken)]) {
        for (scalars, token) in patterns {
            guard let first = scalars.first else { continue }
            byFirstScalar[first, default: []].append((scalars, token))
        }
        for key in byFirstScalar.keys {
            byFirstScalar[key]?.sort { $0.scalars.count > $1.scalars.count }
        }
    }

    var isEmpty: Bool { byFirstScalar.isEmpty }

    func longestMatch(in text: [Unicode.Scalar], at position: Int) -> (length: Int, token: AddedToken)? {
        guard let candidates = byFirstScalar[text[position]] else { return nil }
        for (scalars, token) in candidates where position + scalars.count <= text.count {
            if text[position..<(position + scalars.count)].elementsEqual(scalars) { return (scalars.count, token) }
        }
        return nil
    }
}
