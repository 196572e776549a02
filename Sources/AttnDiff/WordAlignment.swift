import AttnCore

/// Which words of one trace correspond to which words of another (a sentence and a perturbed copy
/// of it), and how to read both traces' attention word by word so that it can be compared.
///
/// Tokens are grouped into words by `(segment, word)`; special tokens are words of their own.
/// Each segment is aligned separately by a longest common subsequence of the lower-cased word
/// texts (the text of a word is the part of `inputs.a` or `inputs.b` its tokens cover). Special
/// tokens align with each other by position: the k-th special token of a segment in A with the
/// k-th of the same segment in B, whatever their text. Between two aligned anchors, the words
/// left over on both sides are paired in order as `changed`; what remains is `deleted` (only in
/// A) or `inserted` (only in B).
public struct WordAlignment: Sendable, Equatable {
    /// A word: one or more consecutive tokens (`TraceWords` groups them).
    public typealias Word = TraceWord

    /// What happened to a word between A and B.
    public enum Status: String, Sendable, Equatable, Codable {
        /// Same text (case-insensitive), or special tokens at the same position.
        case matched
        /// Replaced by a different word at the same place.
        case changed
        /// Only in A.
        case deleted
        /// Only in B.
        case inserted
    }

    /// One step of the alignment: a word of A, of B, or of both.
    public struct Pair: Sendable, Equatable {
        /// Index into `wordsA` (nil when inserted).
        public var a: Int?
        /// Index into `wordsB` (nil when deleted).
        public var b: Int?
        public var status: Status

        public init(a: Int?, b: Int?, status: Status) {
            self.a = a
            self.b = b
            self.status = status
        }
    }

    /// Which trace a matrix belongs to.
    public enum Side: Sendable { case a, b }

    public let wordsA: [Word]
    public let wordsB: [Word]
    /// Every word of A and of B exactly once, in reading order (segment A first).
    public let pairs: [Pair]

    /// Aligns the words of two traces' input tokens (`tokens`, not decoder tokens).
    public init(_ a: Trace, _ b: Trace) {
        self.init(tokensA: a.tokens, inputsA: a.inputs, tokensB: b.tokens, inputsB: b.inputs)
    }

    public init(tokensA: [TraceToken], inputsA: TraceInputs, tokensB: [TraceToken], inputsB: TraceInputs) {
        let wordsA = Self.words(tokensA, inputs: inputsA)
        let wordsB = Self.words(tokensB, inputs: inputsB)
        self.wordsA = wordsA
        self.wordsB = wordsB
        var pairs: [Pair] = []
        let segments = Set(wordsA.map(\.segment) + wordsB.map(\.segment)).sorted()
        for segment in segments {
            let left = wordsA.indices.filter { wordsA[$0].segment == segment }
            let right = wordsB.indices.filter { wordsB[$0].segment == segment }
            pairs += Self.align(left.map { wordsA[$0] }, right.map { wordsB[$0] }).map {
                Pair(a: $0.a.map { left[$0] }, b: $0.b.map { right[$0] }, status: $0.status)
            }
        }
        self.pairs = pairs
    }

    /// The pair that holds word `index` of A.
    public func pair(forWordOfA index: Int) -> Pair? { pairs.first { $0.a == index } }

    /// The pair that holds word `index` of B.
    public func pair(forWordOfB index: Int) -> Pair? { pairs.first { $0.b == index } }

    /// The pairs present in both traces (matched and changed), in reading order: the rows and
    /// columns of `wordMatrix`.
    public var commonPairs: [Pair] { pairs.filter { $0.a != nil && $0.b != nil } }

    /// True when every word of A matched a word of B.
    public var isIdentical: Bool { pairs.allSatisfy { $0.status == .matched } }

    /// Reads a `[tokens, tokens]` self-attention matrix of one side word by word over `commonPairs`:
    /// the row of a word is the **mean** over its tokens as queries, the column of a word the
    /// **sum** over its tokens as keys. A row then still sums to the attention its word pays to
    /// the words both traces share (1 minus what goes to deleted or inserted words), and a word
    /// split into more pieces in one trace is not weighted more than in the other.
    public func wordMatrix(_ matrix: Tensor, side: Side) throws -> Tensor {
        try checkSquare(matrix, side: side)
        let common = commonTokens(side: side)
        var scalars = [Float](repeating: 0, count: common.count * common.count)
        matrix.withUnsafeBufferPointer { Self.wordMatrix($0.baseAddress!, keys: matrix.shape[1], tokens: common, into: &scalars) }
        return Tensor(shape: [common.count, common.count], scalars: scalars)
    }

    /// The tokens of each word of `commonPairs` on one side.
    func commonTokens(side: Side) -> [[Int]] {
        let words = side == .a ? wordsA : wordsB
        return commonPairs.map { words[side == .a ? $0.a! : $0.b!].tokens }
    }

    /// Checks that a stack's `[layers, heads, n, n]` attention (or one head's) covers this side's tokens.
    func checkSquare(_ attention: Tensor, side: Side) throws {
        let words = side == .a ? wordsA : wordsB
        let tokenCount = (words.flatMap(\.tokens).max() ?? -1) + 1
        let shape = attention.shape.suffix(2)
        guard attention.rank == 4 || attention.rank == 2, shape.first == shape.last, (shape.first ?? 0) >= tokenCount else {
            throw CoreError("the \(side == .a ? "first" : "second") matrix has shape \(Array(shape)) but its trace has \(tokenCount) tokens",
                            hint: "pass the [tokens, tokens] self-attention of one head of the trace the alignment was built from")
        }
    }

    /// A `[n, keys]` attention matrix read word by word: row `i`, column `j` is the mean over word
    /// `i`'s tokens of the attention summed over word `j`'s tokens, written into `target`
    /// (`tokens.count²` values).
    static func wordMatrix(_ matrix: UnsafePointer<Float>, keys: Int, tokens common: [[Int]], into target: inout [Float]) {
        for (row, queries) in common.enumerated() {
            for (column, keyTokens) in common.enumerated() {
                var total: Float = 0
                for q in queries { for k in keyTokens { total += matrix[q * keys + k] } }
                target[row * common.count + column] = total / Float(queries.count)
            }
        }
    }

    // MARK: words

    /// The words of a trace's tokens, as `TraceWords.group` forms them.
    public static func words(_ tokens: [TraceToken], inputs: TraceInputs) -> [Word] {
        TraceWords.group(tokens, inputs: inputs)
    }

    // MARK: alignment

    /// Aligns two word sequences of one segment; indices are positions in `left` and `right`.
    static func align(_ left: [Word], _ right: [Word]) -> [Pair] {
        func keys(_ words: [Word]) -> [String] {
            var specials = 0
            return words.map { word in
                guard word.special else { return "w:" + word.text.lowercased() }
                defer { specials += 1 }
                return "s:\(specials)"
            }
        }
        let a = keys(left), b = keys(right)
        // lengths[i][j]: the longest common subsequence of a[i...] and b[j...].
        var lengths = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var pairs: [Pair] = []
        var deleted: [Int] = [], inserted: [Int] = []
        // Words left over between two anchors pair up in order as changed; a special token never
        // pairs with a word.
        func flushGap() {
            let wordsDeleted = deleted.filter { !left[$0].special }, wordsInserted = inserted.filter { !right[$0].special }
            let changed = min(wordsDeleted.count, wordsInserted.count)
            for k in 0 ..< changed { pairs.append(Pair(a: wordsDeleted[k], b: wordsInserted[k], status: .changed)) }
            let paired = Set(wordsDeleted.prefix(changed)), pairedB = Set(wordsInserted.prefix(changed))
            for k in deleted where !paired.contains(k) { pairs.append(Pair(a: k, b: nil, status: .deleted)) }
            for k in inserted where !pairedB.contains(k) { pairs.append(Pair(a: nil, b: k, status: .inserted)) }
            deleted.removeAll()
            inserted.removeAll()
        }
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                flushGap()
                pairs.append(Pair(a: i, b: j, status: .matched))
                i += 1
                j += 1
            } else if j >= b.count || (i < a.count && lengths[i + 1][j] >= lengths[i][j + 1]) {
                deleted.append(i)
                i += 1
            } else {
                inserted.append(j)
                j += 1
            }
        }
        flushGap()
        return pairs
    }
}
