import AttnCore
import Foundation

// The pieces the architectures beyond BERT are built from: attention and feed-forward blocks that
// fill a StackCapture, activations, embeddings, tied weights, parameter and FLOP counts.

/// Self-attention's projections: query, key and value fused into one `[hidden → 3·inner]` layer
/// (PyTorch's separate weights concatenated), and the output projection `[inner → hidden]`.
struct SelfAttentionWeights: Sendable {
    var qkv: Linear
    var output: Linear
    var heads: Int
    var headDim: Int

    var inner: Int { heads * headDim }

    /// Separate PyTorch weights `[inner, hidden]` by name; biases when `bias` is true.
    init(_ w: WeightLoader, query: String, key: String, value: String, output: String,
         hidden: Int, heads: Int, headDim: Int, bias: Bool = true, base: Bool = true) {
        let inner = heads * headDim
        let take = { (name: String, shape: [Int]) in base ? w.base(name, shape) : w.take(name, shape) }
        let names = [query, key, value]
        qkv = Linear(weight: Tensor(shape: [3 * inner, hidden], scalars: names.flatMap { take("\($0).weight", [inner, hidden]).scalars }),
                     bias: bias ? Tensor(shape: [3 * inner], scalars: names.flatMap { take("\($0).bias", [inner]).scalars }) : nil)
        self.output = Linear(weight: take("\(output).weight", [hidden, inner]), bias: bias ? take("\(output).bias", [hidden]) : nil)
        self.heads = heads
        self.headDim = headDim
    }

    /// Already fused projections (GPT-2's Conv1D `c_attn`).
    init(qkv: Linear, output: Linear, heads: Int, headDim: Int) {
        self.qkv = qkv
        self.output = output
        self.heads = heads
        self.headDim = headDim
    }

    /// `x` `[n, hidden]` attends to itself: `o(softmax(q·kᵀ·scale + bias + mask)·v)`, `[n, hidden]`.
    /// The probabilities go to `capture.attention[layer]`, and q, k, v to the capture when kept.
    func callAsFunction(_ x: Tensor, scale: Float, mask: AttentionMask, bias: Tensor? = nil,
                        capture: inout StackCapture, layer: Int) -> Tensor {
        let n = x.count / qkv.inFeatures
        let qkv = self.qkv(x)                                   // (n, 3·inner): q | k | v
        var context = Tensor(uninitialized: [n, inner])         // (n, inner)
        let layout = HeadLayout(heads: heads, headDim: headDim, queries: n, keys: n)
        qkv.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            let ld = 3 * inner
            withOptionalPointer(bias) { biasPointer in
                context.withUnsafeMutableBufferPointer { ctx in
                    capture.attention.withUnsafeMutableBufferPointer { probs in
                        multiHeadAttention(layout, q: base, ldq: ld, k: base + inner, ldk: ld, v: base + 2 * inner, ldv: ld,
                                           scale: scale, mask: mask, bias: biasPointer,
                                           probabilities: probs.baseAddress! + layer * heads * n * n,
                                           context: ctx.baseAddress!, ldc: inner)
                    }
                }
            }
            if capture.wantsQKV {
                capture.keep(\.query, layer: layer, rows: n, from: base, ld: ld, offset: 0)
                capture.keep(\.key, layer: layer, rows: n, from: base, ld: ld, offset: inner)
                capture.keep(\.value, layer: layer, rows: n, from: base, ld: ld, offset: 2 * inner)
            }
        }
        return output(context)
    }
}

/// Cross-attention's projections: the query from the decoder `[hidden → inner]`, key and value
/// from the encoder's output fused `[hidden → 2·inner]`, and the output `[inner → hidden]`.
struct CrossAttentionWeights: Sendable {
    var query: Linear
    var keyValue: Linear
    var output: Linear
    var heads: Int
    var headDim: Int

    var inner: Int { heads * headDim }

    init(_ w: WeightLoader, query: String, key: String, value: String, output: String,
         hidden: Int, heads: Int, headDim: Int, bias: Bool = true) {
        let inner = heads * headDim
        self.query = Linear(weight: w.base("\(query).weight", [inner, hidden]), bias: bias ? w.base("\(query).bias", [inner]) : nil)
        keyValue = Linear(weight: Tensor(shape: [2 * inner, hidden], scalars: [key, value].flatMap { w.base("\($0).weight", [inner, hidden]).scalars }),
                          bias: bias ? Tensor(shape: [2 * inner], scalars: [key, value].flatMap { w.base("\($0).bias", [inner]).scalars }) : nil)
        self.output = Linear(weight: w.base("\(output).weight", [hidden, inner]), bias: bias ? w.base("\(output).bias", [hidden]) : nil)
        self.heads = heads
        self.headDim = headDim
    }

    /// Decoder states `y` `[nq, hidden]` attend to the encoder's output `memory` `[nk, hidden]`.
    func callAsFunction(_ y: Tensor, memory: Tensor, scale: Float, mask: AttentionMask,
                        capture: inout StackCapture, layer: Int) -> Tensor {
        let nq = y.count / query.inFeatures
        let nk = memory.count / keyValue.inFeatures
        let q = query(y)                                        // (nq, inner)
        let kv = keyValue(memory)                               // (nk, 2·inner): k | v
        var context = Tensor(uninitialized: [nq, inner])        // (nq, inner)
        let layout = HeadLayout(heads: heads, headDim: headDim, queries: nq, keys: nk)
        q.withUnsafeBufferPointer { qs in
            kv.withUnsafeBufferPointer { kvs in
                let (qBase, kvBase) = (qs.baseAddress!, kvs.baseAddress!)
                context.withUnsafeMutableBufferPointer { ctx in
                    capture.attention.withUnsafeMutableBufferPointer { probs in
                        multiHeadAttention(layout, q: qBase, ldq: inner, k: kvBase, ldk: 2 * inner, v: kvBase + inner, ldv: 2 * inner,
                                           scale: scale, mask: mask,
                                           probabilities: probs.baseAddress! + layer * heads * nq * nk,
                                           context: ctx.baseAddress!, ldc: inner)
                    }
                }
                if capture.wantsQKV {
                    capture.keep(\.query, layer: layer, rows: nq, from: qBase, ld: inner, offset: 0)
                    capture.keep(\.key, layer: layer, rows: nk, from: kvBase, ld: 2 * inner, offset: 0)
                    capture.keep(\.value, layer: layer, rows: nk, from: kvBase, ld: 2 * inner, offset: inner)
                }
            }
        }
        return output(context)
    }
}

/// A two-layer feed-forward block `out(act(in(x)))`, optionally gated (`act(in₀(x)) ⊙ in₁(x)`, T5 v1.1).
struct FeedForwardWeights: Sendable {
    var input: Linear
    var gate: Linear?
    var output: Linear
    var activation: FeedForwardActivation

    func callAsFunction(_ x: Tensor) -> Tensor {
        var inner = input(x)                                    // (n, ffn)
        inner.apply { activation($0, count: $1) }
        if let gate {
            let linear = gate(x)                                // (n, ffn)
            inner.withUnsafeMutableBufferPointer { a in
                linear.withUnsafeBufferPointer { b in
                    for i in 0 ..< a.count { a[i] *= b[i] }
                }
            }
        }
        return output(inner)
    }

    /// Matrices of the block, for FLOP counts (2, or 3 when gated).
    var matrices: Int { gate == nil ? 2 : 3 }
}

/// The activations named by `hidden_act`, `activation_function`, `activation` or T5's
/// `feed_forward_proj`, as transformers' `ACT2FN` computes them.
enum FeedForwardActivation: Sendable {
    case gelu, geluTanh, relu, silu, tanh

    init(named name: String, path: String) throws {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "relu": self = .relu
        case "silu", "swish": self = .silu
        case "tanh": self = .tanh
        default:
            throw ModelError("activation \"\(name)\" is not supported", location: path,
                             hint: "supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish, tanh")
        }
    }

    /// Applies the activation in place, long arrays split over the threads.
    func callAsFunction(_ values: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count) { range in
            let x = values + range.lowerBound, count = range.count
            switch self {
            case .gelu: Kernels.gelu(x, count: count)
            case .geluTanh: Kernels.geluTanh(x, count: count)
            case .relu: Kernels.relu(x, count: count)
            case .silu: for i in 0 ..< count { x[i] = x[i] / (1 + Foundation.exp(-x[i])) }
            case .tanh: for i in 0 ..< count { x[i] = Foundation.tanh(x[i]) }
            }
        }
    }
}

extension LayerNormWeights {
    /// `x` `[n, dim]` normalised row by row.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        let rows = x.count / gamma.count
        y.withUnsafeMutableBufferPointer { self($0.baseAddress!, rows: rows) }
        return y
    }
}

/// `a + b`, element-wise (residual connections).
func + (a: Tensor, b: Tensor) -> Tensor {
    var sum = a
    sum.withUnsafeMutableBufferPointer { s in
        b.withUnsafeBufferPointer { Kernels.add(s.baseAddress!, $0.baseAddress!, count: s.count) }
    }
    return sum
}

/// Rows of an embedding table `[vocab, dim]` for `ids`, times `scale`: `[ids.count, dim]`.
func embed(_ ids: [Int], in table: Tensor, scale: Float = 1) -> Tensor {
    let dim = table.shape[1]
    var rows = Tensor(uninitialized: [ids.count, dim])
    rows.withUnsafeMutableBufferPointer { out in
        table.withUnsafeBufferPointer { t in
            for (i, id) in ids.enumerated() {
                for j in 0 ..< dim { out[i * dim + j] = t[id * dim + j] * scale }
            }
        }
    }
    return rows
}

/// Rows `[positions.count, hidden]` of the last hidden states `[n, hidden]`.
func rows(_ positions: [Int], of x: Tensor) throws -> Tensor {
    let hidden = x.shape[1]
    let n = x.shape[0]
    if let bad = positions.first(where: { $0 < 0 || $0 >= n }) {
        throw ModelError("position \(bad) is outside the \(n) tokens")
    }
    return Tensor(shape: [positions.count, hidden], scalars: positions.flatMap { Array(x.scalars[$0 * hidden ..< ($0 + 1) * hidden]) })
}

private func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A masked-LM head as BERT, RoBERTa, DistilBERT and ALBERT have it: dense → activation →
/// LayerNorm → a decoder tied to the word embeddings, plus a bias.
struct MaskedLMHead: Sendable {
    var dense: Linear            // [hidden → width]
    var norm: LayerNormWeights
    var decoder: Tensor          // [vocab, width]
    var bias: Tensor             // [vocab]
    var activation: FeedForwardActivation

    /// The head under `dense`, `norm`, `decoder` and `bias` (full names), or nil when the checkpoint
    /// has no `dense` weight. Without a decoder name, or without that tensor in the file, the
    /// decoder is the word embeddings; `decoderBias` is the other name the bias may be saved under.
    init?(_ w: WeightLoader, dense: String, norm: String, decoder: String?, bias: String, decoderBias: String? = nil,
          hidden: Int, width: Int, vocabulary: Int, eps: Float, embeddings: Tensor, activation: FeedForwardActivation) {
        guard let weight = w.optional("\(dense).weight", [width, hidden]) else { return nil }
        self.dense = Linear(weight: weight, bias: w.take("\(dense).bias", [width]))
        self.norm = LayerNormWeights(w, norm, dim: width, eps: eps, base: false)
        self.decoder = tied(decoder.flatMap { w.optional($0, [vocabulary, width]) }, to: embeddings)
        // The bias may be saved under either name, or both (one tensor in PyTorch).
        self.bias = w.optional(bias, [vocabulary]) ?? decoderBias.flatMap { w.optional($0, [vocabulary]) } ?? w.take(bias, [vocabulary])
        self.activation = activation
    }

    /// Vocabulary logits `[rows, vocab]` of hidden states `[rows, hidden]`.
    func logits(_ hidden: Tensor) -> Tensor {
        var x = dense(hidden)                               // (rows, width)
        x.apply { activation($0, count: $1) }
        return tiedProjection(norm(x), embeddings: decoder, bias: bias)
    }
}

/// Class names for a classifier of `count` outputs: `id2label`, or `LABEL_i` as transformers names them.
func classLabels(_ count: Int, _ id2label: [String: String]?) -> [String] {
    (0 ..< count).map { id2label?[String($0)] ?? "LABEL_\($0)" }
}

/// A weight that a checkpoint may tie to another (an LM head to the embeddings): `source` when the
/// file has no tensor of its own, or a copy with the same values (a `.bin` stores tied weights
/// under every name), so that the model keeps one array.
func tied(_ candidate: Tensor?, to source: Tensor) -> Tensor {
    guard let candidate, candidate != source else { return source }
    return candidate
}

/// The number of parameters in a model's parts: the elements of every tensor they hold (found by
/// reflection through structs, arrays and optionals), a tensor shared by two parts (tied
/// embeddings) counted once.
func parameterCount(_ parts: Any...) -> Int {
    var seen = Set<UnsafeRawPointer>()
    var total = 0
    func visit(_ value: Any) {
        if let tensor = value as? Tensor {
            guard tensor.count > 0 else { return }
            let address = tensor.scalars.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
            if seen.insert(address).inserted { total += tensor.count }
            return
        }
        for child in Mirror(reflecting: value).children { visit(child.value) }
    }
    parts.forEach(visit)
    return total
}

/// FLOPs of one attention block (projections and the two products) for `nq` queries over `nk`
/// keys, `inner` = heads · headDim: 2·nq·h·inner for q and for the output, 2·nk·h·inner for k and
/// for v, and 2·2·nq·nk·inner for q·kᵀ and attention·v.
func attentionFLOPs(queries nq: Int, keys nk: Int, hidden h: Int, inner: Int) -> Double {
    let (nq, nk, h, inner) = (Double(nq), Double(nk), Double(h), Double(inner))
    return 2 * nq * h * inner * 2 + 2 * nk * h * inner * 2 + 4 * nq * nk * inner
}

/// FLOPs of a feed-forward block of `matrices` `[h, m]` matrices on `n` rows.
func feedForwardFLOPs(rows n: Int, hidden h: Int, inner m: Int, matrices: Int = 2) -> Double {
    2 * Double(n) * Double(h) * Double(m) * Double(matrices)
}
