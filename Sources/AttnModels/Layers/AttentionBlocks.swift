import AttnCore
import Foundation

/// What happens to queries and keys between the projections and the scores, in this order: a
/// per-head RMSNorm of each (Qwen3) and rotary positions (Llama and its family). Queries and keys
/// are captured after it, so that a trace's q·k reproduces the scores.
struct QueryKeyTransform: Sendable {
    var queryNorm: RMSNorm?
    var keyNorm: RMSNorm?
    var rotary: RotaryEmbedding?

    static let none = QueryKeyTransform()

    var isIdentity: Bool { queryNorm == nil && keyNorm == nil && rotary == nil }

    /// Transforms `rows` rows of query heads (`[rows, ldq]`) and of key heads (`[rows, ldk]`) in place.
    func apply(queries q: UnsafeMutablePointer<Float>, ldq: Int, keys k: UnsafeMutablePointer<Float>, ldk: Int,
               rows: Int, shape: HeadShape) {
        let d = shape.headDim
        if let queryNorm { for r in 0 ..< rows { queryNorm(q + r * ldq, rows: shape.heads) } }
        if let keyNorm { for r in 0 ..< rows { keyNorm(k + r * ldk, rows: shape.keyValueHeads) } }
        if let rotary {
            let table = rotary.table(positions: rows)
            rotary.rotate(q, ld: ldq, rows: rows, heads: shape.heads, headDim: d, table: table)
            rotary.rotate(k, ld: ldk, rows: rows, heads: shape.keyValueHeads, headDim: d, table: table)
        }
    }
}

/// Self-attention: queries, keys and values projected from `x` by one fused layer
/// `[hidden → (heads + 2·keyValueHeads)·headDim]` (PyTorch's separate weights concatenated), the
/// query/key transform, the heads, and the output projection `[heads·headDim → hidden]`.
struct SelfAttention: Sendable {
    var qkv: Linear
    var output: Linear
    var shape: HeadShape
    var transform: QueryKeyTransform = .none

    /// Separate PyTorch weights by name (`query`, `key`, `value` `[width, hidden]`, `output`
    /// `[hidden, heads·headDim]`); biases of the projections when `bias`, of the output when `outputBias`.
    init(_ w: WeightLoader, query: String, key: String, value: String, output: String, hidden: Int, shape: HeadShape,
         bias: Bool = true, outputBias: Bool? = nil, base: Bool = true) throws {
        let (qw, kvw) = (shape.queryWidth, shape.keyValueWidth)
        qkv = try w.fusedLinear([query, key, value], out: [qw, kvw, kvw], in: hidden, bias: bias, base: base)
        self.output = try w.linear(output, in: qw, out: hidden, bias: outputBias ?? bias, base: base)
        self.shape = shape
    }

    /// Already fused projections (GPT-2's Conv1D `c_attn`, Phi-3's `qkv_proj`).
    init(qkv: Linear, output: Linear, shape: HeadShape) {
        self.qkv = qkv
        self.output = output
        self.shape = shape
    }

    /// `x` `[n, hidden]` attends to itself: `o(softmax(q·kᵀ·scale + bias + mask)·v)`, `[n, hidden]`.
    /// The probabilities go to `stack.attention[layer]`, q, k, v to the stack when kept, and the
    /// attention sites (`scores`, `pattern`, `head`, `attn`) to its visitor.
    func callAsFunction(_ x: Tensor, mask: AttentionMask, bias: Tensor? = nil, stack: inout StackPass, layer: Int) -> Tensor {
        let n = x.count / qkv.inFeatures
        let (qw, kvw) = (shape.queryWidth, shape.keyValueWidth)
        let ld = qw + 2 * kvw
        var qkv = self.qkv(x)                                   // (n, qw + 2·kvw): q | k | v
        var context = Tensor(uninitialized: [n, qw])            // (n, qw)
        let sites = stack.attentionSites(layer: layer)
        let scale = stack.geometry.scales[layer]
        qkv.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            if !transform.isIdentity {
                transform.apply(queries: base, ldq: ld, keys: base + qw, ldk: ld, rows: n, shape: shape)
            }
            withOptionalPointer(bias) { biasPointer in
                context.withUnsafeMutableBufferPointer { ctx in
                    stack.attention.withUnsafeMutableBufferPointer { probs in
                        multiHeadAttention(shape, queries: n, keys: n, q: base, ldq: ld, k: base + qw, ldk: ld, v: base + qw + kvw, ldv: ld,
                                           scale: scale, mask: mask, bias: biasPointer, sites: sites,
                                           probabilities: probs.baseAddress! + layer * shape.heads * n * n,
                                           context: ctx.baseAddress!, ldc: qw)
                    }
                }
            }
            if stack.wantsQKV {
                stack.keep(\.query, layer: layer, rows: n, heads: shape.heads, from: base, ld: ld, offset: 0)
                stack.keep(\.key, layer: layer, rows: n, heads: shape.keyValueHeads, from: base, ld: ld, offset: qw)
                stack.keep(\.value, layer: layer, rows: n, heads: shape.keyValueHeads, from: base, ld: ld, offset: qw + kvw)
            }
        }
        var out = output(context)                               // (n, hidden)
        stack.visit(.attention, layer: layer, &out)
        return out
    }
}

extension SelfAttention {
    /// Several inputs' rows stacked in `x` (`[Σn, hidden]`, input `i` in rows `segments[i]`), each
    /// attending to itself only: the projections run once over all rows, the heads per input, each
    /// into its own stack, each input's attention sites visited by its own visitor.
    func callAsFunction(_ x: Tensor, segments: [Range<Int>], masks: [AttentionMask], stacks: inout [StackPass], layer: Int) -> Tensor {
        let rows = x.count / qkv.inFeatures
        let (qw, kvw) = (shape.queryWidth, shape.keyValueWidth)
        let ld = qw + 2 * kvw
        var qkv = self.qkv(x)                                   // (Σn, qw + 2·kvw): q | k | v
        var context = Tensor(uninitialized: [rows, qw])         // (Σn, qw)
        qkv.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            if !transform.isIdentity {
                for segment in segments {
                    let start = base + segment.lowerBound * ld
                    transform.apply(queries: start, ldq: ld, keys: start + qw, ldk: ld, rows: segment.count, shape: shape)
                }
            }
            context.withUnsafeMutableBufferPointer { ctx in
                // Each stack's own attention buffer, made for this pass and held by it alone, so its
                // storage stays where it is while the threads write disjoint layers of it.
                let pointers = stacks.indices.map { i in
                    stacks[i].attention.withUnsafeMutableBufferPointer { $0.baseAddress! + layer * shape.heads * segments[i].count * segments[i].count }
                }
                let scales = stacks.map { $0.geometry.scales[layer] }
                let sites = stacks.map { $0.attentionSites(layer: layer) }
                // Each input whole on one thread (its heads in turn): many small inputs share the threads.
                Parallel.forEach(segments.count) { i in
                    let (n, start) = (segments[i].count, base + segments[i].lowerBound * ld)
                    multiHeadAttention(shape, queries: n, keys: n, q: start, ldq: ld, k: start + qw, ldk: ld, v: start + qw + kvw, ldv: ld,
                                       scale: scales[i], mask: masks[i], sites: sites[i], probabilities: pointers[i],
                                       context: ctx.baseAddress! + segments[i].lowerBound * qw, ldc: qw)
                }
            }
            for i in stacks.indices where stacks[i].wantsQKV {
                let (n, start) = (segments[i].count, UnsafePointer(base + segments[i].lowerBound * ld))
                stacks[i].keep(\.query, layer: layer, rows: n, heads: shape.heads, from: start, ld: ld, offset: 0)
                stacks[i].keep(\.key, layer: layer, rows: n, heads: shape.keyValueHeads, from: start, ld: ld, offset: qw)
                stacks[i].keep(\.value, layer: layer, rows: n, heads: shape.keyValueHeads, from: start, ld: ld, offset: qw + kvw)
            }
        }
        var out = output(context)                               // (Σn, hidden)
        for i in stacks.indices { stacks[i].visit(.attention, layer: layer, &out, rows: segments[i]) }
        return out
    }
}

/// Cross-attention: queries from the decoder `[hidden → heads·headDim]`, keys and values from the
/// encoder's output fused `[hidden → 2·keyValueHeads·headDim]`, and the output projection.
struct CrossAttention: Sendable {
    var query: Linear
    var keyValue: Linear
    var output: Linear
    var shape: HeadShape

    init(_ w: WeightLoader, query: String, key: String, value: String, output: String, hidden: Int, shape: HeadShape,
         bias: Bool = true) throws {
        let (qw, kvw) = (shape.queryWidth, shape.keyValueWidth)
        self.query = try w.linear(query, in: hidden, out: qw, bias: bias, base: true)
        keyValue = try w.fusedLinear([key, value], out: [kvw, kvw], in: hidden, bias: bias, base: true)
        self.output = try w.linear(output, in: qw, out: hidden, bias: bias, base: true)
        self.shape = shape
    }

    /// Decoder states `y` `[nq, hidden]` attend to the encoder's output `memory` `[nk, hidden]`.
    func callAsFunction(_ y: Tensor, memory: Tensor, mask: AttentionMask, stack: inout StackPass, layer: Int) -> Tensor {
        let nq = y.count / query.inFeatures
        let nk = memory.count / keyValue.inFeatures
        let (qw, kvw) = (shape.queryWidth, shape.keyValueWidth)
        let q = query(y)                                        // (nq, qw)
        let kv = keyValue(memory)                               // (nk, 2·kvw): k | v
        var context = Tensor(uninitialized: [nq, qw])           // (nq, qw)
        let sites = stack.attentionSites(layer: layer)
        let scale = stack.geometry.scales[layer]
        q.withUnsafeBufferPointer { qs in
            kv.withUnsafeBufferPointer { kvs in
                let (qBase, kvBase) = (qs.baseAddress!, kvs.baseAddress!)
                context.withUnsafeMutableBufferPointer { ctx in
                    stack.attention.withUnsafeMutableBufferPointer { probs in
                        multiHeadAttention(shape, queries: nq, keys: nk, q: qBase, ldq: qw, k: kvBase, ldk: 2 * kvw, v: kvBase + kvw, ldv: 2 * kvw,
                                           scale: scale, mask: mask, sites: sites,
                                           probabilities: probs.baseAddress! + layer * shape.heads * nq * nk,
                                           context: ctx.baseAddress!, ldc: qw)
                    }
                }
                if stack.wantsQKV {
                    stack.keep(\.query, layer: layer, rows: nq, heads: shape.heads, from: qBase, ld: qw, offset: 0)
                    stack.keep(\.key, layer: layer, rows: nk, heads: shape.keyValueHeads, from: kvBase, ld: 2 * kvw, offset: 0)
                    stack.keep(\.value, layer: layer, rows: nk, heads: shape.keyValueHeads, from: kvBase, ld: 2 * kvw, offset: kvw)
                }
            }
        }
        var out = output(context)                               // (nq, hidden)
        stack.visit(.attention, layer: layer, &out)
        return out
    }
}
