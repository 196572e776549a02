import AttnCore
import Foundation

/// Traces built in code with attention of a known structure, computed the way a model computes
/// it: `softmax(q·k/√d)` from queries and keys designed so that each head has one pattern.
///
/// Head `h` has pattern `h % 4`:
/// - 0 `sink`: every token attends to the last token (`[SEP]`), whose value vector is nearly zero,
///   so the head attends there but moves almost nothing (what the neuron view must show);
/// - 1 `previous`: each token attends to the one before it (a causal stack: itself for the first);
/// - 2 `diagonal`: each token attends to itself;
/// - 3 `broad`: weak random queries, attention spread over many tokens.
/// Cross attention uses `aligned` instead of `previous`: decoder token i attends to encoder token
/// round(i · encoder / decoder).
enum SyntheticTraces {
    enum Pattern: Int { case sink, previous, diagonal, broad }

    static let xssText = "</script><img src=x onerror=\"window.__attnlabInjected=1\">"

    /// "[CLS] the cat sat on the mat [SEP]", 3 layers × 4 heads, head size 16.
    static func single() -> Trace {
        let words = ["the", "cat", "sat", "on", "the", "mat"]
        let tokens = bertTokens(a: words, b: nil)
        return make(tokens: tokens, inputs: TraceInputs(a: "the cat sat on the mat"), layers: 3, heads: 4, headDim: 16, seed: 1)
    }

    /// A sentence pair whose second sentence holds tokens that look like markup.
    static func pair() -> Trace {
        let a = ["the", "em", "##inem", "tune", "was", "totally", "awesome", "."]
        let b = ["dude", ",", xssText, "<!--", "song\u{2028}x", "&amp;", "was", "sick", "!"]
        let tokens = bertTokens(a: a, b: b)
        return make(tokens: tokens, inputs: TraceInputs(a: "the eminem tune was totally awesome.", b: "dude, \(xssText) <!-- song\u{2028}x &amp; was sick!"),
                    layers: 2, heads: 4, headDim: 16, seed: 2)
    }

    /// The pair with "sick" replaced by "fine" (same tokens otherwise) and attention of another
    /// seed, as a perturbed variant of `pair()`.
    static func perturbedPair() -> Trace {
        let a = ["the", "em", "##inem", "tune", "was", "totally", "awesome", "."]
        let b = ["dude", ",", xssText, "<!--", "song\u{2028}x", "&amp;", "was", "fine", "!"]
        let tokens = bertTokens(a: a, b: b)
        return make(tokens: tokens, inputs: TraceInputs(a: "the eminem tune was totally awesome.", b: "dude, \(xssText) <!-- song\u{2028}x &amp; was fine!"),
                    layers: 2, heads: 4, headDim: 16, seed: 7)
    }

    /// An encoder-decoder trace: 8 encoder tokens, 6 decoder tokens, encoder, decoder (causal)
    /// and cross stacks of 2 layers × 4 heads.
    static func encoderDecoder() -> Trace {
        let encoder = ["▁She", "▁sees", "▁the", "▁small", "▁elephant", ".", "</s>"]
            .enumerated().map { TraceToken(text: $1, display: $1.replacingOccurrences(of: "▁", with: ""), id: $0, word: $0, special: $1 == "</s>") }
            + [TraceToken(text: "<pad>", id: 58100, special: true)]
        let decoder = ["<pad>", "▁Sie", "▁sieht", "▁den", "▁Elefanten", "</s>"]
            .enumerated().map { TraceToken(text: $1, display: $1.replacingOccurrences(of: "▁", with: ""), id: 100 + $0, special: $1.hasPrefix("<")) }
        let layers = 2, heads = 4, headDim = 16
        var generator = SplitMix64(seed: 3)
        let stacks: [StackKind: AttentionStack] = [
            .encoder: stack(queries: encoder.count, keys: encoder.count, layers: layers, heads: heads, headDim: headDim, causal: false, cross: false, generator: &generator),
            .decoder: stack(queries: decoder.count, keys: decoder.count, layers: layers, heads: heads, headDim: headDim, causal: true, cross: false, generator: &generator),
            .cross: stack(queries: decoder.count, keys: encoder.count, layers: layers, heads: heads, headDim: headDim, causal: false, cross: true, generator: &generator),
        ]
        return Trace(inputs: TraceInputs(a: "She sees the small elephant.", decoder: "Sie sieht den Elefanten"),
                     tokens: encoder, decoderTokens: decoder, stacks: stacks,
                     provenance: Provenance(model: "synthetic/marian-like", architecture: "marian", capture: ["qkv"]))
    }

    /// 512 tokens, 6 layers × 12 heads, head size 32: the size of all-MiniLM-L6-v2 at its longest input.
    static func long(tokens count: Int = 512, layers: Int = 6, heads: Int = 12, withQKV: Bool = true) -> Trace {
        let words = (0 ..< count - 2).map { $0 % 7 == 3 ? "##x\($0)" : "w\($0)" }
        let tokens = bertTokens(a: words, b: nil)
        var trace = make(tokens: tokens, inputs: TraceInputs(a: words.joined(separator: " ")), layers: layers, heads: heads, headDim: 32, seed: 4)
        if !withQKV {
            for (kind, stack) in trace.stacks { trace.stacks[kind] = AttentionStack(attention: stack.attention) }
        }
        return trace
    }

    /// Two tokens, one layer, one head: the smallest trace a view must handle.
    static func tiny() -> Trace {
        make(tokens: bertTokens(a: [], b: nil), inputs: TraceInputs(a: ""), layers: 1, heads: 1, headDim: 8, seed: 5)
    }

    /// Like `single()`, without queries, keys and values.
    static func attentionOnly() -> Trace {
        var trace = single()
        trace.stacks[.encoder] = AttentionStack(attention: trace.stacks[.encoder]!.attention)
        return trace
    }

    // MARK: - building

    static func bertTokens(a: [String], b: [String]?) -> [TraceToken] {
        var tokens = [TraceToken(text: "[CLS]", id: 101, special: true)]
        var id = 1000
        func add(_ words: [String], segment: Int) {
            var word = -1
            for text in words {
                if !text.hasPrefix("##") { word += 1 }
                tokens.append(TraceToken(text: text, display: text.hasPrefix("##") ? String(text.dropFirst(2)) : text, id: id, word: word, segment: segment))
                id += 1
            }
            tokens.append(TraceToken(text: "[SEP]", id: 102, segment: segment, special: true))
        }
        add(a, segment: 0)
        if let b { add(b, segment: 1) }
        return tokens
    }

    static func make(tokens: [TraceToken], inputs: TraceInputs, layers: Int, heads: Int, headDim: Int, seed: UInt64) -> Trace {
        var generator = SplitMix64(seed: seed)
        let encoder = stack(queries: tokens.count, keys: tokens.count, layers: layers, heads: heads, headDim: headDim,
                            causal: false, cross: false, generator: &generator)
        return Trace(inputs: inputs, tokens: tokens, stacks: [.encoder: encoder],
                     outputs: TraceOutputs(similarity: 0.5), provenance: Provenance(model: "synthetic/bert-like", architecture: "bert", capture: ["qkv"]))
    }

    /// The key a query of `pattern` is built to attend to.
    static func target(_ pattern: Pattern, query i: Int, queries: Int, keys: Int, cross: Bool) -> Int {
        switch pattern {
        case .sink: return keys - 1
        case .previous: return cross ? min(keys - 1, Int((Double(i) * Double(keys) / Double(queries)).rounded())) : max(i - 1, 0)
        case .diagonal: return min(i, keys - 1)
        case .broad: return -1
        }
    }

    static func stack(queries: Int, keys: Int, layers: Int, heads: Int, headDim d: Int, causal: Bool, cross: Bool,
                      generator: inout SplitMix64) -> AttentionStack {
        var attention = [Float](repeating: 0, count: layers * heads * queries * keys)
        var query = [Float](repeating: 0, count: layers * heads * queries * d)
        var key = [Float](repeating: 0, count: layers * heads * keys * d)
        var value = [Float](repeating: 0, count: layers * heads * keys * d)
        for layer in 0 ..< layers {
            for head in 0 ..< heads {
                let pattern = Pattern(rawValue: head % 4)!
                // Sharper in later layers, so that layers differ.
                let sharpness = Float(6 + 2 * layer + head % 3) * Float(d).squareRoot()
                let keyDirections = (0 ..< keys).map { _ in unitVector(d, &generator) }
                let qBase = (layer * heads + head) * queries * d, kBase = (layer * heads + head) * keys * d
                for j in 0 ..< keys {
                    for e in 0 ..< d {
                        key[kBase + j * d + e] = keyDirections[j][e]
                        let scale: Float = pattern == .sink && j == keys - 1 ? 0.02 : 1
                        value[kBase + j * d + e] = scale * generator.normal()
                    }
                }
                for i in 0 ..< queries {
                    let t = target(pattern, query: i, queries: queries, keys: keys, cross: cross)
                    for e in 0 ..< d {
                        query[qBase + i * d + e] = t >= 0 ? sharpness * keyDirections[t][e] : 0.8 * generator.normal()
                    }
                }
                // α = softmax(q·kᵀ/√d), with future keys masked in a causal stack.
                var scores = [Float](repeating: 0, count: queries * keys)
                query.withUnsafeBufferPointer { q in
                    key.withUnsafeBufferPointer { k in
                        scores.withUnsafeMutableBufferPointer { s in
                            BLAS.gemm(transposeB: true, m: queries, n: keys, k: d, alpha: 1 / Float(d).squareRoot(),
                                      a: q.baseAddress! + qBase, lda: d, b: k.baseAddress! + kBase, ldb: d, c: s.baseAddress!, ldc: keys)
                            if causal {
                                for i in 0 ..< queries { for j in (i + 1) ..< max(i + 1, keys) { s[i * keys + j] = -.infinity } }
                            }
                            Kernels.softmaxRows(s.baseAddress!, rows: queries, cols: keys)
                        }
                    }
                }
                let aBase = (layer * heads + head) * queries * keys
                attention.replaceSubrange(aBase ..< aBase + queries * keys, with: scores)
            }
        }
        return AttentionStack(attention: Tensor(shape: [layers, heads, queries, keys], scalars: attention),
                              query: Tensor(shape: [layers, heads, queries, d], scalars: query),
                              key: Tensor(shape: [layers, heads, keys, d], scalars: key),
                              value: Tensor(shape: [layers, heads, keys, d], scalars: value))
    }

    static func unitVector(_ d: Int, _ generator: inout SplitMix64) -> [Float] {
        let v = (0 ..< d).map { _ in generator.normal() }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }
}

/// A small deterministic random number generator (SplitMix64), so that fixtures never change.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    mutating func uniform() -> Float { (Float(next() >> 40) + 0.5) / Float(1 << 24) }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Float {
        let u = uniform(), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
