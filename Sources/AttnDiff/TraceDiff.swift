import AttnCore
import CKernels
import Foundation

/// How much one head's attention changed between two traces.
public struct HeadDelta: Sendable, Equatable, Codable {
    public var layer: Int
    public var head: Int
    /// Mean over the shared query words of the Jensen–Shannon divergence (base 2, in [0, 1]) of their
    /// attention over the shared key words.
    public var jsDivergence: Double
    /// Mean over the shared query words of the L1 distance of those rows (in [0, 2]).
    public var l1: Double
    /// Mean over the shared query words of the share of their top-k attended words that changed.
    public var topKChange: Double
    /// Change in the mean attention mass from sentence A to B and from B to A (pairs only).
    public var massChange: Double?

    enum CodingKeys: String, CodingKey {
        case layer, head, l1
        case jsDivergence = "js_divergence", topKChange = "top_k_change", massChange = "mass_change"
    }
}

/// How much the attention paid by one word changed, over all heads.
public struct WordDelta: Sendable, Equatable, Codable {
    public var text: String
    public var segment: Int
    /// Mean over heads of the word's row divergence.
    public var jsDivergence: Double
    /// The head where it changed most.
    public var layer: Int
    public var head: Int
    public var strongest: Double

    enum CodingKeys: String, CodingKey {
        case text, segment, layer, head, strongest
        case jsDivergence = "js_divergence"
    }
}

/// Two traces compared through their words: per-head metrics ranked by change, the words whose
/// attention moved most, and the words that differ.
public struct TraceDiff: Sendable {
    public var alignment: WordAlignment
    /// Every head, most changed first.
    public var heads: [HeadDelta]
    /// Every shared (non-special) word, most moved first.
    public var words: [WordDelta]
    /// The two traces have the same tokens and bit-identical attention in the compared stack.
    public var identical = false

    /// Words that differ between the traces: (word in A or nil, word in B or nil).
    public var changedWords: [(a: String?, b: String?)] {
        alignment.pairs.filter { $0.status != .matched }.map { pair in
            (pair.a.map { alignment.wordsA[$0].text }, pair.b.map { alignment.wordsB[$0].text })
        }
    }

    /// Compares one stack of two traces (same number of layers and heads).
    public static func compare(_ a: Trace, _ b: Trace, stack kind: StackKind = .encoder, topK: Int = 3) throws -> TraceDiff {
        guard kind == .encoder else {
            throw CoreError("only the encoder stack can be compared word by word", hint: "compare the encoder attention")
        }
        guard let stackA = a.stacks[kind], let stackB = b.stacks[kind] else {
            throw CoreError("both traces need \(kind.rawValue) attention")
        }
        guard stackA.layerCount == stackB.layerCount, stackA.headCount == stackB.headCount else {
            throw CoreError("the traces have \(stackA.layerCount)×\(stackA.headCount) and \(stackB.layerCount)×\(stackB.headCount) heads",
                            hint: "compare traces of models with the same number of layers and heads")
        }
        let alignment = WordAlignment(a, b)
        let shared = alignment.commonPairs
        let (layers, heads) = (stackA.layerCount, stackA.headCount)
        let contentRows = shared.indices.filter { !alignment.wordsA[shared[$0].a!].special }
        let massChange = CrossSentenceAttention.massChange(a, b)
        // The share of top-k words that changed is out of the k a row can have (fewer when fewer words are shared).
        let k = min(max(topK, 1), shared.count)

        var deltas: [HeadDelta] = []
        var wordTotals = [Double](repeating: 0, count: shared.count)
        var wordBest = [(Double, Int, Int)](repeating: (-1, 0, 0), count: shared.count)
        // Buffers reused for every head and row (a run compares thousands of variants): each word
        // matrix, each pair of normalised rows, each row's top k.
        let m = shared.count
        var rowsA = [Float](repeating: 0, count: m * m), rowsB = rowsA
        var p = [Double](repeating: 0, count: m), q = p
        var topP = [Int](repeating: 0, count: k + 1), topQ = topP
        let tokensA = alignment.commonTokens(side: .a), tokensB = alignment.commonTokens(side: .b)
        try alignment.checkSquare(stackA.attention, side: .a)
        try alignment.checkSquare(stackB.attention, side: .b)
        func wordMatrix(_ stack: AttentionStack, _ l: Int, _ h: Int, _ tokens: [[Int]], into target: inout [Float]) {
            let (n, keys) = (stack.attention.shape[2], stack.attention.shape[3])
            stack.attention.withUnsafeBufferPointer {
                WordAlignment.wordMatrix($0.baseAddress! + (l * heads + h) * n * keys, keys: keys, tokens: tokens, into: &target)
            }
        }
        for l in 0 ..< layers {
            for h in 0 ..< heads {
                wordMatrix(stackA, l, h, tokensA, into: &rowsA)
                wordMatrix(stackB, l, h, tokensB, into: &rowsB)
                var js = 0.0, l1 = 0.0, topChange = 0.0
                for row in contentRows {
                    Self.normalise(rowsA, row * m, m, into: &p)
                    Self.normalise(rowsB, row * m, m, into: &q)
                    let divergence = jensenShannon(p, q)
                    js += divergence
                    l1 += zip(p, q).reduce(0) { $0 + abs($1.0 - $1.1) }
                    let topCountP = Self.top(p, k, into: &topP), topCountQ = Self.top(q, k, into: &topQ)
                    var common = 0
                    for i in 0 ..< topCountP where topQ[0 ..< topCountQ].contains(topP[i]) { common += 1 }
                    topChange += Double(k - common) / Double(k)
                    wordTotals[row] += divergence
                    if divergence > wordBest[row].0 { wordBest[row] = (divergence, l, h) }
                }
                let count = Double(max(contentRows.count, 1))
                deltas.append(HeadDelta(layer: l, head: h, jsDivergence: js / count, l1: l1 / count,
                                        topKChange: topChange / count, massChange: massChange?[l][h]))
            }
        }
        let words = contentRows.map { row -> WordDelta in
            let word = alignment.wordsA[shared[row].a!]
            return WordDelta(text: word.text, segment: word.segment, jsDivergence: wordTotals[row] / Double(layers * heads),
                             layer: wordBest[row].1, head: wordBest[row].2, strongest: wordBest[row].0)
        }
        return TraceDiff(alignment: alignment,
                         heads: deltas.sorted { ($0.jsDivergence, -$0.layer, -$0.head) > ($1.jsDivergence, -$1.layer, -$1.head) },
                         words: words.sorted { $0.jsDivergence > $1.jsDivergence },
                         identical: a.tokens.map(\.text) == b.tokens.map(\.text) && stackA.attention == stackB.attention)
    }

    /// One head's `[queries, keys]` attention, out of a stack's `[layers, heads, queries, keys]`.
    public static func headMatrix(_ attention: Tensor, layer: Int, head: Int) -> Tensor {
        let (heads, q, k) = (attention.shape[1], attention.shape[2], attention.shape[3])
        let start = (layer * heads + head) * q * k
        return Tensor(shape: [q, k], scalars: Array(attention.scalars[start ..< start + q * k]))
    }

    /// A row of attention scaled to sum to 1 (a row without mass reads as uniform).
    public static func normalised<Row: Collection<Float>>(_ row: Row) -> [Double] {
        var result = [Double](repeating: 0, count: row.count)
        normalise(Array(row), 0, row.count, into: &result)
        return result
    }

    /// `normalised` of `count` values of `values` from `start`, written into `row`.
    static func normalise(_ values: [Float], _ start: Int, _ count: Int, into row: inout [Double]) {
        var total = 0.0
        for i in start ..< start + count { total += Double(values[i]) }
        if total > 0 {
            for i in 0 ..< count { row[i] = Double(values[start + i]) / total }
        } else {
            for i in 0 ..< count { row[i] = 1 / Double(max(count, 1)) }
        }
    }

    /// Jensen–Shannon divergence in bits (0 to 1) of two distributions over the same outcomes.
    /// (`attn_jensen_shannon`: its log2 is a series, the same bits with AVX2 or without.)
    public static func jensenShannon(_ p: [Double], _ q: [Double]) -> Double {
        precondition(p.count == q.count, "two distributions over the same outcomes")
        return max(0, p.withUnsafeBufferPointer { p in
            q.withUnsafeBufferPointer { q in attn_jensen_shannon(p.baseAddress, q.baseAddress, p.count) }
        })
    }

    /// Jensen–Shannon divergence in bits of two rows of attention over the same keys, each normalised.
    public static func rowDivergence<Row: Collection<Float>>(_ p: Row, _ q: Row) -> Double {
        jensenShannon(normalised(p), normalised(q))
    }

    /// The indices of the `k` largest values, largest first (ties: the lower index first): one pass
    /// keeping the best `k`, as sorting the row for every query of every head costs a run dearly.
    static func top(_ row: [Double], _ k: Int) -> [Int] {
        var best = [Int](repeating: 0, count: max(k, 0) + 1)
        let count = top(row, k, into: &best)
        return Array(best.prefix(count))
    }

    /// `top(row, k)` written into `best` (at least k + 1 long); returns how many it holds.
    static func top(_ row: [Double], _ k: Int, into best: inout [Int]) -> Int {
        guard k > 0 else { return 0 }
        return row.withUnsafeBufferPointer { values in
            best.withUnsafeMutableBufferPointer { best in
                // Higher first; of equal values, the lower index first.
                @inline(__always) func before(_ a: Int, _ b: Int) -> Bool { values[a] != values[b] ? values[a] > values[b] : a < b }
                var count = 0
                for index in 0 ..< values.count {
                    guard count < k || before(index, best[count - 1]) else { continue }
                    var slot = count
                    while slot > 0, before(index, best[slot - 1]) {
                        best[slot] = best[slot - 1]
                        slot -= 1
                    }
                    best[slot] = index
                    count = min(count + 1, k)
                }
                return count
            }
        }
    }
}
