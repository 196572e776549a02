import AttnCore
import Foundation

/// T5 (and T5 v1.1, FLAN-T5), as transformers' `modeling_t5.py` computes it with eager attention:
/// pre-norm blocks with an RMS norm (no mean, no bias), no biases in linear layers, attention
/// without the 1/√d scaling and with a relative position bias (computed by the first layer of each
/// stack and shared by all), a ReLU or gated feed-forward, and the LM head tied to the shared
/// embeddings with the decoder output rescaled by d_model^-0.5 (v1.0) or an LM head of its own (v1.1).
public struct T5Config: Codable, Sendable, ArchitectureConfig {
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

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.width("d_model", dModel)
        check.width("d_kv", dKv)
        check.width("d_ff", dFf)
        check.layers("num_layers", numLayers)
        check.layers("num_decoder_layers", numDecoderLayers)
        check.heads("num_heads", numHeads)
        check.within("relative_attention_num_buckets", relativeAttentionNumBuckets, 4 ... 4096)
        check.within("relative_attention_max_distance", relativeAttentionMaxDistance, 1 ... ConfigCheck.maxPositions)
        let (buckets, distance) = (relativeAttentionNumBuckets ?? 32, relativeAttentionMaxDistance ?? 128)
        check.require(distance > buckets / 4, "relative_attention_num_buckets \(buckets) and relative_attention_max_distance \(distance) leave no logarithmic buckets")
        check.positive("layer_norm_epsilon", layerNormEpsilon.map(Double.init))
        check.within("decoder_start_token_id", decoderStartTokenId, 0 ... max(0, vocabSize - 1))
        check.positions("n_positions", nPositions)
        let projection = feedForwardProj ?? "relu"
        let parts = projection.split(separator: "-")
        check.require(parts.count == 1 || (parts.count == 2 && parts[0] == "gated"),
                      "feed_forward_proj \"\(projection)\" is not \"ACT\" or \"gated-ACT\"")
    }
}

/// A pre-norm T5 encoder block: `x + attention(RMS(x))`, then `x + feedForward(RMS(x))`.
private struct T5EncoderBlock: Sendable {
    var attentionNorm: RMSNorm
    var attention: SelfAttention
    var feedForwardNorm: RMSNorm
    var feedForward: FeedForward

    func callAsFunction(_ x: Tensor, mask: AttentionMask, bias: Tensor, stack: inout StackPass, layer: Int) -> Tensor {
        var x = x
        stack.visit(.residual, layer: layer, &x)
        x += attention(attentionNorm(x), mask: mask, bias: bias, stack: &stack, layer: layer)        // (n, d)
        var mlp = feedForward(feedForwardNorm(x))                                                     // (n, d)
        stack.visit(.mlp, layer: layer, &mlp)
        x += mlp
        return x
    }
}

/// A pre-norm T5 decoder block: causal self-attention with its position bias, cross-attention over
/// the encoder's output (no bias), feed-forward, each `y + block(RMS(y))`.
private struct T5DecoderBlock: Sendable {
    var selfAttentionNorm: RMSNorm
    var selfAttention: SelfAttention
    var crossAttentionNorm: RMSNorm
    var crossAttention: CrossAttention
    var feedForwardNorm: RMSNorm
    var feedForward: FeedForward

    func callAsFunction(_ y: Tensor, memory: Tensor, encoderMask: AttentionMask, bias: Tensor,
                        decoder: inout StackPass, cross: inout StackPass, layer: Int) -> Tensor {
        var y = y
        decoder.visit(.residual, layer: layer, &y)
        y += selfAttention(selfAttentionNorm(y), mask: AttentionMask(causal: true), bias: bias, stack: &decoder, layer: layer)
        y += crossAttention(crossAttentionNorm(y), memory: memory, mask: encoderMask, stack: &cross, layer: layer)
        var mlp = feedForward(feedForwardNorm(y))                                                     // (nd, d)
        decoder.visit(.mlp, layer: layer, &mlp)
        y += mlp
        return y
    }
}

/// T5 for conditional generation.
public final class T5Model: TransformerModel {
    public let config: T5Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let buckets: Int
    private let maxDistance: Int
    private let shared: Tensor                      // [vocab, d]
    private let encoderRelativeBias: Tensor         // [buckets, heads], block 0's
    private let decoderRelativeBias: Tensor         // [buckets, heads]
    private let encoderBlocks: [T5EncoderBlock]
    private let decoderBlocks: [T5DecoderBlock]
    private let encoderFinalNorm: RMSNorm
    private let decoderFinalNorm: RMSNorm

    /// `architecture` is `t5` or `mt5`; mT5 never rescales its output, whatever its config says of ties.
    public init(config c: T5Config, weights: WeightStore, path: String, architecture: String = "t5") throws {
        config = c
        let (d, v, eps) = (c.dModel, c.vocabSize, c.layerNormEpsilon ?? 1e-6)
        let shape = HeadShape(heads: c.numHeads, headDim: c.dKv)
        buckets = c.relativeAttentionNumBuckets ?? 32
        maxDistance = c.relativeAttentionMaxDistance ?? 128
        // feed_forward_proj: "relu", "gelu", "gated-gelu" (which means gelu_new), "gated-silu", …
        let projection = c.feedForwardProj ?? "relu"
        let gated = projection.hasPrefix("gated-")
        let activation = try Activation(named: projection == "gated-gelu" ? "gelu_new" : String(projection.split(separator: "-").last ?? ""),
                                        path: path)

        let w = WeightLoader(store: weights, probe: "shared.weight", prefixes: [""], architecture: "T5")
        shared = try w.base("shared.weight", [v, d])
        func feedForward(_ p: String) throws -> FeedForward {
            // Gated (v1.1): wi_0 is the activated branch, wi_1 the linear one.
            gated ? try FeedForward(gate: try w.linear(p + "wi_0", in: d, out: c.dFf, bias: false),
                                    up: try w.linear(p + "wi_1", in: d, out: c.dFf, bias: false),
                                    down: try w.linear(p + "wo", in: c.dFf, out: d, bias: false), activation: activation)
                : FeedForward(up: try w.linear(p + "wi", in: d, out: c.dFf, bias: false),
                              down: try w.linear(p + "wo", in: c.dFf, out: d, bias: false), activation: activation)
        }
        func selfAttention(_ p: String) throws -> SelfAttention {
            try SelfAttention(w, query: p + "q", key: p + "k", value: p + "v", output: p + "o", hidden: d, shape: shape, bias: false)
        }
        encoderBlocks = try (0 ..< c.numLayers).map { i in
            let p = "encoder.block.\(i).layer."
            return T5EncoderBlock(attentionNorm: try RMSNorm(w, p + "0.layer_norm", dim: d, eps: eps),
                                  attention: try selfAttention(p + "0.SelfAttention."),
                                  feedForwardNorm: try RMSNorm(w, p + "1.layer_norm", dim: d, eps: eps),
                                  feedForward: try feedForward(p + "1.DenseReluDense."))
        }
        decoderBlocks = try (0 ..< (c.numDecoderLayers ?? c.numLayers)).map { i in
            let p = "decoder.block.\(i).layer."
            let a = p + "1.EncDecAttention."
            return T5DecoderBlock(selfAttentionNorm: try RMSNorm(w, p + "0.layer_norm", dim: d, eps: eps),
                                  selfAttention: try selfAttention(p + "0.SelfAttention."),
                                  crossAttentionNorm: try RMSNorm(w, p + "1.layer_norm", dim: d, eps: eps),
                                  crossAttention: try CrossAttention(w, query: a + "q", key: a + "k", value: a + "v", output: a + "o",
                                                                     hidden: d, shape: shape, bias: false),
                                  feedForwardNorm: try RMSNorm(w, p + "2.layer_norm", dim: d, eps: eps),
                                  feedForward: try feedForward(p + "2.DenseReluDense."))
        }
        encoderRelativeBias = try w.base("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [buckets, shape.heads])
        decoderRelativeBias = try w.base("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [buckets, shape.heads])
        encoderFinalNorm = try RMSNorm(w, "encoder.final_layer_norm", dim: d, eps: eps)
        decoderFinalNorm = try RMSNorm(w, "decoder.final_layer_norm", dim: d, eps: eps)
        let lmHead = tied(try w.optional("lm_head.weight", [v, d]), to: shared)
        // transformers 5 writes scale_decoder_outputs; older configs say tie_word_embeddings: false for v1.1.
        let rescale = architecture != "mt5" && (c.scaleDecoderOutputs ?? c.tieWordEmbeddings ?? true)
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, inputScale: rescale ? 1 / Float(d).squareRoot() : 1, task: .seq2seq))
        summary = ModelSummary(architecture: architecture, layers: c.numLayers, heads: shape.heads, hidden: d, intermediate: c.dFf,
                               vocabulary: v, maxPositions: c.nPositions ?? 512)
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

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let decoderIds = try EncoderDecoderInput.decoderIds(input, startToken: config.decoderStartTokenId ?? 0, vocabulary: config.vocabSize)
        let (ne, nd, d) = (input.ids.count, decoderIds.count, config.dModel)
        let shape = encoderBlocks[0].attention.shape
        // T5 does not scale its scores; the position bias is added instead (not kept in the trace).
        var encoder = StackPass(.encoder, layers: encoderBlocks.count, shape: shape, queries: ne, keys: ne, hidden: d,
                                scales: StackPass.scales(1, layers: encoderBlocks.count), positionBias: true, pass: options)
        var decoder = StackPass(.decoder, layers: decoderBlocks.count, shape: shape, queries: nd, keys: nd, hidden: d,
                                scales: StackPass.scales(1, layers: decoderBlocks.count), causal: true, positionBias: true, pass: options)
        var cross = StackPass(.cross, layers: decoderBlocks.count, shape: shape, queries: nd, keys: ne, hidden: nil,
                              scales: StackPass.scales(1, layers: decoderBlocks.count), pass: options)
        let encoderMask = AttentionMask(keys: input.attentionMask)

        // Encoder: shared embeddings, pre-norm blocks, unscaled attention + bidirectional bias.  x: (ne, d)
        var x = embed(input.ids, in: shared)
        let encoderBias = positionBias(encoderRelativeBias, queries: ne, keys: ne, bidirectional: true)   // (heads, ne, ne)
        for l in encoder.layerRange(input: &x) {
            x = encoderBlocks[l](x, mask: encoderMask, bias: encoderBias, stack: &encoder, layer: l)
            if l < encoderBlocks.count - 1 { encoder.keepHidden(x, at: l + 1) }
        }
        x = encoderFinalNorm(x)
        encoder.keepHidden(x, at: encoderBlocks.count)

        // Decoder: causal self-attention + one-directional bias, cross-attention over x (no bias).  y: (nd, d)
        var y = embed(decoderIds, in: shared)
        let decoderBias = positionBias(decoderRelativeBias, queries: nd, keys: nd, bidirectional: false)  // (heads, nd, nd)
        for l in decoder.layerRange(input: &y) {
            y = decoderBlocks[l](y, memory: x, encoderMask: encoderMask, bias: decoderBias, decoder: &decoder, cross: &cross, layer: l)
            if l < decoderBlocks.count - 1 { decoder.keepHidden(y, at: l + 1) }
        }
        y = decoderFinalNorm(y)
        decoder.keepHidden(y, at: decoderBlocks.count)
        return ModelOutput(stacks: [.encoder: encoder.stack, .decoder: decoder.stack, .cross: cross.stack], lastHidden: y)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        EncoderDecoderInput.flops(tokens: n, hidden: config.dModel, inner: config.numHeads * config.dKv,
                                  encoderLayers: config.numLayers, decoderLayers: config.numDecoderLayers ?? config.numLayers,
                                  encoderFFN: config.dFf, decoderFFN: config.dFf,
                                  ffnMatrices: (config.feedForwardProj ?? "relu").hasPrefix("gated-") ? 3 : 2)
    }
}
