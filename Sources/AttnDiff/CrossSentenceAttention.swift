import AttnCore

/// One attention weight between a token of sentence A and a token of sentence B.
public struct CrossSentenceLink: Sendable, Equatable {
    public var layer: Int
    public var head: Int
    /// Query token index (attends from).
    public var from: Int
    /// Key token index (attends to).
    public var to: Int
    public var weight: Float
}

/// Where the attention between the two sentences of a pair goes.
public enum CrossSentenceAttention {
    /// For each layer, the head and the token pair with the strongest attention from a token of one
    /// sentence to a token of the other (special tokens left out). Empty when the trace is not a pair.
    public static func strongestPerLayer(_ trace: Trace, stack kind: StackKind = .encoder) -> [CrossSentenceLink] {
        guard let stack = trace.stacks[kind], kind == .encoder, trace.isPair else { return [] }
        let tokens = trace.tokens
        let n = tokens.count
        let (layers, heads) = (stack.layerCount, stack.headCount)
        let content = tokens.indices.filter { !tokens[$0].special }
        var links: [CrossSentenceLink] = []
        stack.attention.withUnsafeBufferPointer { attention in
            for l in 0 ..< layers {
                var best = CrossSentenceLink(layer: l, head: 0, from: 0, to: 0, weight: -1)
                for h in 0 ..< heads {
                    let base = (l * heads + h) * n * n
                    for q in content {
                        for k in content where tokens[k].segment != tokens[q].segment {
                            let weight = attention[base + q * n + k]
                            if weight > best.weight { best = CrossSentenceLink(layer: l, head: h, from: q, to: k, weight: weight) }
                        }
                    }
                }
                if best.weight >= 0 { links.append(best) }
            }
        }
        return links
    }

    /// Attention mass from sentence A's tokens to sentence B's (and back), averaged over query tokens,
    /// per layer and head: `[layers][heads]`.
    public static func mass(_ trace: Trace, from source: Int, to target: Int) -> [[Float]] {
        guard let stack = trace.stacks[.encoder] else { return [] }
        let tokens = trace.tokens
        let n = tokens.count
        let queries = tokens.indices.filter { !tokens[$0].special && tokens[$0].segment == source }
        let keys = tokens.indices.filter { tokens[$0].segment == target && !tokens[$0].special }
        return (0 ..< stack.layerCount).map { l in
            (0 ..< stack.headCount).map { h in
                guard !queries.isEmpty else { return 0 }
                let base = (l * stack.headCount + h) * n * n
                let total = queries.reduce(Float(0)) { sum, q in keys.reduce(sum) { $0 + stack.attention.scalars[base + q * n + $1] } }
                return total / Float(queries.count)
            }
        }
    }

    /// How much the attention between the sentences changed from `a` to `b`, per layer and head
    /// (`[layers][heads]`): the mean of the changes of the A → B and B → A masses. Nil unless both
    /// traces are pairs with encoder attention of the same number of layers and heads.
    public static func massChange(_ a: Trace, _ b: Trace) -> [[Double]]? {
        guard a.isPair, b.isPair else { return nil }
        let (aToB, bToA) = (mass(a, from: 0, to: 1), mass(a, from: 1, to: 0))
        let (newAToB, newBToA) = (mass(b, from: 0, to: 1), mass(b, from: 1, to: 0))
        guard !aToB.isEmpty, aToB.count == newAToB.count, aToB[0].count == newAToB[0].count else { return nil }
        return aToB.indices.map { l in
            aToB[l].indices.map { h in
                (abs(Double(aToB[l][h] - newAToB[l][h])) + abs(Double(bToA[l][h] - newBToA[l][h]))) / 2
            }
        }
    }
}
