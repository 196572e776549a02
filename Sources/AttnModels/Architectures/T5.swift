import AttnCore
import Foundation

/// T5 (and T5 v1.1, FLAN-T5), as transformers' `modeling_t5.py` computes it with eager attention:
/// pre-norm blocks with an RMS norm (no mean, no bias), no biases in linear layers, attention
/// without the 1/√d scaling and with a relative position bias (computed by the first layer of each
/// stack and shared by all), a ReLU or gated feed-forward, and the LM head tied to the shared
/// embeddings with the decoder output rescaled by d_model^-0.5 (v1.0) or an LM head of its own (v1.1).
public struct T5Config: Codable, Sendable {
    public var vocabSize: Int
    public var dModel: Int
    public var dKv: Int
    public var dFf: Int
    public var numLayers: Int
    public var numDecoderLayers: Int?
    public var numHeads: Int
    public var relativeAttentionNumBuckets: Int?
    public var relativeAttentionMaxDistance: Int?
    public var layerNormEpsilon: Float?
    public var feedForwardProj: String?
    public var decoderStartTokenId: Int?
    public var tieWordEmbeddings: Bool?
    public var scaleDecoderOutputs: Bool?
    public var nPositions: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKv = "d_kv", dFf = "d_ff", numLayers = "num_layers"
        case numDecoderLayers = "num_decoder_layers", numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon", feedForwardProj = "feed_forward_proj"
        case decoderStartTokenId = "decoder_start_token_id", tieWordEmbeddings = "tie_word_embeddings"
        case scaleDecoderOutputs = "scale_decoder_outputs", nPositions = "n_positions"
    }
}

/// T5's RMS norm weights: `x / √(mean(x²) + eps) · γ`.
struct RMSNormWeights: Sendable {
    var gamma: Tensor
    var eps: Float

    init(_ w: WeightLoader, _ name: String, dim: Int, eps: Float) {
        gamma = w.base("\(name).weight", [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        let dim = gamma.count
        y.withUnsafeMutableBufferPointer { ys in
            gamma.withUnsafeBufferPointer { g in
                Kernels.rmsNorm(ys.baseAddress!, rows: ys.count / dim, dim: dim, gamma: g.baseAddress!, eps: eps)
            }
        }
        return y
    }
}

private struct T5EncoderBlock: Sendable {
    var attentionNorm: RMSNormWeights
    var attention: SelfAttentionWeights
    var feedForwardNorm: RMSNormWeights
    var feedForward: FeedForwardWeights
}

private struct T5DecoderBlock: Sendable {
    var selfAttentionNorm: RMSNormWeights
    var selfAttention: SelfAttentionWeights
    var crossAttentionNorm: RMSNormWeights
    var crossAttention: CrossAttentionWeights
    var feedForwardNorm: RMSNormWeights
    var feedForward: FeedForwardWeights
}

/// T5 for conditional generation.
public final class T5Model: TransformerModel {
    public let config: T5Config
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>

    private let buckets: Int
    private let maxDistance: Int
    private let shared: Tensor                      // [vocab, d]
    private let encoderRelativeBias: Tensor         // [buckets, heads], block 0's
    private let decoderRelativeBias: Tensor         // [buckets, heads]
    private let encoderBlocks: [T5EncoderBlock]
    private let decoderBlocks: [T5DecoderBlock]
    private let encoderFinalNorm: RMSNormWeights
    private let decoderFinalNorm: RMSNormWeights
    private let lmHead: Tensor                      // [vocab, d]
    /// d_model^-0.5 when the head is tied (T5 v1.0), else 1.
    private let outputScale: Float

    /// `architecture` is `t5` or `mt5`; mT5 never rescales its output, whatever its config says of ties.
    public init(config c: T5Config, weights: WeightStore, path: String, architecture: String = "t5") throws {
        config = c
        let (d, heads, v) = (c.dModel, c.numHeads, c.vocabSize)
        let eps = c.layerNormEpsilon ?? 1e-6
        buckets = c.relativeAttentionNumBuckets ?? 32
        maxDistance = c.relativeAttentionMaxDistance ?? 128
        guard buckets >= 4, maxDistance > buckets / 4 else {
            throw ModelError("relative_attention_num_buckets \(buckets) and max_distance \(maxDistance) leave no logarithmic buckets", location: path)
        }
        // feed_forward_proj: "relu", "gelu", "gated-gelu" (which means gelu_new), "gated-silu", …
        let projection = c.feedForwardProj ?? "relu"
        let parts = projection.split(separator: "-").map(String.init)
        guard parts.count == 1 || (parts.count == 2 && parts[0] == "gated") else {
            throw ModelError("feed_forward_proj \"\(projection)\" is not \"ACT\" or \"gated-ACT\"", location: path)
        }
        let gated = parts.count == 2
        let activation = try FeedForwardActivation(named: projection == "gated-gelu" ? "gelu_new" : parts.last!, path: path)

        let w = WeightLoader(store: weights, probe: "shared.weight", prefixes: [""])
        shared = w.base("shared.weight", [v, d])
        func feedForward(_ p: String) -> FeedForwardWeights {
            FeedForwardWeights(input: Linear(weight: w.base(p + (gated ? "wi_0" : "wi") + ".weight", [c.dFf, d]), bias: nil),
                               gate: gated ? Linear(weight: w.base(p + "wi_1.weight", [c.dFf, d]), bias: nil) : nil,
                               output: Linear(weight: w.base(p + "wo.weight", [d, c.dFf]), bias: nil),
                               activation: activation)
        }
        func selfAttention(_ p: String) -> SelfAttentionWeights {
            SelfAttentionWeights(w, query: p + "q", key: p + "k", value: p + "v", output: p + "o",
                                 hidden: d, heads: heads, headDim: c.dKv, bias: false)
        }
        encoderBlocks = (0 ..< c.numLayers).map { i in
            let p = "encoder.block.\(i).layer."
            return T5EncoderBlock(attentionNorm: RMSNormWeights(w, p + "0.layer_norm", dim: d, eps: eps),
                                  attention: selfAttention(p + "0.SelfAttention."),
                                  feedForwardNorm: RMSNormWeights(w, p + "1.layer_norm", dim: d, eps: eps),
                                  feedForward: feedForward(p + "1.DenseReluDense."))
        }
        decoderBlocks = (0 ..< (c.numDecoderLayers ?? c.numLayers)).map { i in
            let p = "decoder.block.\(i).layer."
            let a = p + "1.EncDecAttention."
            return T5DecoderBlock(selfAttentionNorm: RMSNormWeights(w, p + "0.layer_norm", dim: d, eps: eps),
                                  selfAttention: selfAttention(p + "0.SelfAttention."),
                                  crossAttentionNorm: RMSNormWeights(w, p + "1.layer_norm", dim: d, eps: eps),
                                  crossAttention: CrossAttentionWeights(w, query: a + "q", key: a + "k", value: a + "v", output: a + "o",
                                                                        hidden: d, heads: heads, headDim: c.dKv, bias: false),
                                  feedForwardNorm: RMSNormWeights(w, p + "2.layer_norm", dim: d, eps: eps),
                                  feedForward: feedForward(p + "2.DenseReluDense."))
        }
        encoderRelativeBias = w.base("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [buckets, heads])
        decoderRelativeBias = w.base("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [buckets, heads])
        encoderFinalNorm = RMSNormWeights(w, "encoder.final_layer_norm", dim: d, eps: eps)
        decoderFinalNorm = RMSNormWeights(w, "decoder.final_layer_norm", dim: d, eps: eps)
        lmHead = tied(w.optional("lm_head.weight", [v, d]), to: shared)
        // transformers 5 writes scale_decoder_outputs; older configs say tie_word_embeddings: false for v1.1.
        let rescale = architecture != "mt5" && (c.scaleDecoderOutputs ?? c.tieWordEmbeddings ?? true)
        outputScale = rescale ? 1 / Float(d).squareRoot() : 1
        try w.finish(architecture: "T5")

        taskHeads = [.seq2seq]
        summary = ModelSummary(architecture: architecture, layers: c.numLayers, heads: heads, hidden: d, intermediate: c.dFf,
                               vocabulary: v, maxPositions: c.nPositions ?? 512, parameters: parameterCount(shared, encoderRelativeBias, decoderRelativeBias, encoderBlocks, decoderBlocks,
                                                          encoderFinalNorm, decoderFinalNorm, lmHead))
    }

    /// T5's bucket for a key `relative` positions after the query (Mesh TensorFlow's scheme): half
    /// the buckets (per direction when bidirectional) for exact small distances, the rest
    /// logarithmic up to `maxDistance`, computed in float32 as PyTorch does.
    static func bucket(_ relative: Int, bidirectional: Bool, buckets: Int, maxDistance: Int) -> Int {
        var buckets = buckets
        var result = 0
        var distance: Int
        if bidirectional {
            buckets /= 2
            if relative > 0 { result += buckets }
            distance = abs(relative)
        } else {
            distance = -min(relative, 0)
        }
        let exact = buckets / 2
        if distance < exact { return result + distance }
        let logRatio = Float(Foundation.log(Double(maxDistance) / Double(exact)))
        let large = exact + Int(Foundation.log(Float(distance) / Float(exact)) / logRatio * Float(buckets - exact))
        return result + min(large, buckets - 1)
    }

    /// The position bias `[heads, queries, keys]` from a `[buckets, heads]` table.
    private func positionBias(_ table: Tensor, queries: Int, keys: Int, bidirectional: Bool) -> Tensor {
        let heads = config.numHeads
        var bias = Tensor(uninitialized: [heads, queries, keys])
        for i in 0 ..< queries {
            for j in 0 ..< keys {
                let b = Self.bucket(j - i, bidirectional: bidirectional, buckets: buckets, maxDistance: maxDistance)
                for h in 0 ..< heads { bias.scalars[(h * queries + i) * keys + j] = table.scalars[b * heads + h] }
            }
        }
        return bias
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary)
        let decoderIds = try EncoderDecoderInput.decoderIds(input, startToken: config.decoderStartTokenId ?? 0, vocabulary: config.vocabSize)
        let (ne, nd, d, heads) = (input.ids.count, decoderIds.count, config.dModel, config.numHeads)
        var encoder = StackCapture(layers: encoderBlocks.count, heads: heads, queries: ne, keys: ne, headDim: config.dKv, hidden: d, capture: capture)
        var decoder = StackCapture(layers: decoderBlocks.count, heads: heads, queries: nd, keys: nd, headDim: config.dKv, hidden: d, capture: capture)
        var cross = StackCapture(layers: decoderBlocks.count, heads: heads, queries: nd, keys: ne, headDim: config.dKv, hidden: nil, capture: capture)
        let encoderMask = AttentionMask(keys: input.attentionMask)

        // Encoder: shared embeddings, pre-norm blocks, unscaled attention + bidirectional bias.  x: (ne, d)
        var x = embed(input.ids, in: shared)
        encoder.keepHidden(x, at: 0)
        let encoderBias = positionBias(encoderRelativeBias, queries: ne, keys: ne, bidirectional: true)   // (heads, ne, ne)
        for (l, block) in encoderBlocks.enumerated() {
            x = x + block.attention(block.attentionNorm(x), scale: 1, mask: encoderMask, bias: encoderBias, capture: &encoder, layer: l)
            x = x + block.feedForward(block.feedForwardNorm(x))
            if l < encoderBlocks.count - 1 { encoder.keepHidden(x, at: l + 1) }
        }
        x = encoderFinalNorm(x)
        encoder.keepHidden(x, at: encoderBlocks.count)

        // Decoder: causal self-attention + one-directional bias, cross-attention over x (no bias).  y: (nd, d)
        var y = embed(decoderIds, in: shared)
        decoder.keepHidden(y, at: 0)
        let decoderBias = positionBias(decoderRelativeBias, queries: nd, keys: nd, bidirectional: false)  // (heads, nd, nd)
        for (l, block) in decoderBlocks.enumerated() {
            y = y + block.selfAttention(block.selfAttentionNorm(y), scale: 1, mask: AttentionMask(causal: true), bias: decoderBias,
                                        capture: &decoder, layer: l)
            y = y + block.crossAttention(block.crossAttentionNorm(y), memory: x, scale: 1, mask: encoderMask, capture: &cross, layer: l)
            y = y + block.feedForward(block.feedForwardNorm(y))
            if l < decoderBlocks.count - 1 { decoder.keepHidden(y, at: l + 1) }
        }
        y = decoderFinalNorm(y)
        decoder.keepHidden(y, at: decoderBlocks.count)
        return ModelOutput(stacks: [.encoder: encoder.stack, .decoder: decoder.stack, .cross: cross.stack], lastHidden: y)
    }

    /// Logits `[positions, vocab]` over the decoder's positions: the final states, rescaled when the
    /// head is tied, times the LM head.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        var states = try rows(positions, of: output.lastHidden)
        let scale = outputScale
        states.apply { p, count in for i in 0 ..< count { p[i] *= scale } }
        return tiedProjection(states, embeddings: lmHead, bias: nil)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        EncoderDecoderInput.flops(tokens: n, hidden: config.dModel, inner: config.numHeads * config.dKv,
                                  encoderLayers: config.numLayers, decoderLayers: config.numDecoderLayers ?? config.numLayers,
                                  encoderFFN: config.dFf, decoderFFN: config.dFf,
                                  ffnMatrices: (config.feedForwardProj ?? "relu").hasPrefix("gated-") ? 3 : 2)
    }
}
