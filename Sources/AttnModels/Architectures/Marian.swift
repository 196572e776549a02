import AttnCore
import Foundation

/// MarianMT, as transformers' `modeling_marian.py` computes it with eager attention: BART's
/// post-norm layers with sinusoidal positions (no LayerNorm on the embeddings), token embeddings
/// scaled by √d_model when `scale_embedding`, and an LM head tied to the decoder's embeddings plus
/// `final_logits_bias`.
public struct MarianConfig: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
    public var decoderVocabSize: Int?
    public var dModel: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    public var encoderAttentionHeads: Int
    public var decoderAttentionHeads: Int
    public var encoderFfnDim: Int
    public var decoderFfnDim: Int
    public var maxPositionEmbeddings: Int
    public var activationFunction: String?
    public var scaleEmbedding: Bool?
    public var decoderStartTokenId: Int?
    public var padTokenId: Int?
    public var shareEncoderDecoderEmbeddings: Bool?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", decoderVocabSize = "decoder_vocab_size", dModel = "d_model"
        case encoderLayers = "encoder_layers", decoderLayers = "decoder_layers"
        case encoderAttentionHeads = "encoder_attention_heads", decoderAttentionHeads = "decoder_attention_heads"
        case encoderFfnDim = "encoder_ffn_dim", decoderFfnDim = "decoder_ffn_dim"
        case maxPositionEmbeddings = "max_position_embeddings", activationFunction = "activation_function"
        case scaleEmbedding = "scale_embedding", decoderStartTokenId = "decoder_start_token_id", padTokenId = "pad_token_id"
        case shareEncoderDecoderEmbeddings = "share_encoder_decoder_embeddings"
    }

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.vocabulary("decoder_vocab_size", decoderVocabSize)
        check.width("d_model", dModel)
        check.layers("encoder_layers", encoderLayers)
        check.layers("decoder_layers", decoderLayers)
        check.heads("encoder_attention_heads", encoderAttentionHeads)
        check.heads("decoder_attention_heads", decoderAttentionHeads)
        check.multiple("d_model", dModel, of: "encoder_attention_heads", encoderAttentionHeads)
        check.multiple("d_model", dModel, of: "decoder_attention_heads", decoderAttentionHeads)
        check.width("encoder_ffn_dim", encoderFfnDim)
        check.width("decoder_ffn_dim", decoderFfnDim)
        check.positions("max_position_embeddings", maxPositionEmbeddings)
    }
}

/// MarianMT: the encoder over the source sentence, the decoder over the teacher-forced target.
public final class MarianModel: TransformerModel {
    public let config: MarianConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddingScale: Float
    private let decoderVocabulary: Int
    private let encoderEmbeddings: Tensor   // [vocab, d]
    private let decoderEmbeddings: Tensor   // [decoderVocab, d]
    /// The sinusoidal tables `[maxPositions, d]`: equal, and two as in PyTorch (one per stack).
    private let encoderPositions: Tensor
    private let decoderPositions: Tensor
    private let encoderLayers: [PostNormEncoderLayer]
    private let decoderLayers: [PostNormDecoderLayer]

    public init(config c: MarianConfig, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.activationFunction ?? "gelu", path: path)
        let shareEmbeddings = c.shareEncoderDecoderEmbeddings ?? true
        let (d, v) = (c.dModel, c.vocabSize)
        decoderVocabulary = shareEmbeddings ? v : c.decoderVocabSize ?? v
        embeddingScale = c.scaleEmbedding == true ? Float(d).squareRoot() : 1
        let w = WeightLoader(store: weights, probe: "encoder.layers.0.self_attn.q_proj.weight", prefixes: ["model.", ""], architecture: "Marian")
        if shareEmbeddings {
            // One table for both embeddings and the LM head; files hold it under one name or several.
            let shared = try w.optional(w.prefix + "shared.weight", [v, d]) ?? w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d])
                ?? w.base("shared.weight", [v, d])
            encoderEmbeddings = tied(try w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d]), to: shared)
            decoderEmbeddings = tied(try w.optional(w.prefix + "decoder.embed_tokens.weight", [v, d]), to: shared)
        } else {
            encoderEmbeddings = try w.base("encoder.embed_tokens.weight", [v, d])
            decoderEmbeddings = try w.base("decoder.embed_tokens.weight", [decoderVocabulary, d])
        }
        encoderPositions = Self.sinusoids(positions: c.maxPositionEmbeddings, dim: d)
        decoderPositions = Self.sinusoids(positions: c.maxPositionEmbeddings, dim: d)
        encoderLayers = try (0 ..< c.encoderLayers).map {
            try BartFamilyLayers.encoder(w, "encoder.layers.\($0).", hidden: d, heads: c.encoderAttentionHeads, ffn: c.encoderFfnDim, activation: activation)
        }
        decoderLayers = try (0 ..< c.decoderLayers).map {
            try BartFamilyLayers.decoder(w, "decoder.layers.\($0).", hidden: d, heads: c.decoderAttentionHeads, ffn: c.decoderFfnDim, activation: activation)
        }
        let lmHead = tied(try w.optional("lm_head.weight", [decoderVocabulary, d]), to: decoderEmbeddings)
        let finalLogitsBias = try w.optional("final_logits_bias", [1, decoderVocabulary]).map { [decoderVocabulary] in $0.reshaped([decoderVocabulary]) }
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, bias: finalLogitsBias, task: .seq2seq))
        summary = ModelSummary(architecture: "marian", layers: c.encoderLayers, heads: c.encoderAttentionHeads, hidden: d,
                               intermediate: c.encoderFfnDim, vocabulary: v, maxPositions: c.maxPositionEmbeddings)
    }

    /// Marian's sinusoidal table (as `MarianSinusoidalPositionalEmbedding`, in double precision):
    /// position p, frequency k = p / 10000^(2k/dim); sines in the first half of the columns,
    /// cosines in the second.
    static func sinusoids(positions: Int, dim: Int) -> Tensor {
        let sines = (dim + 1) / 2
        var table = Tensor(zeros: [positions, dim])
        for p in 0 ..< positions {
            for k in 0 ..< sines {
                let angle = Double(p) / Foundation.pow(10000, Double(2 * k) / Double(dim))
                table.scalars[p * dim + k] = Float(Foundation.sin(angle))
                if sines + k < dim { table.scalars[p * dim + sines + k] = Float(Foundation.cos(angle)) }
            }
        }
        return table
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let decoderIds = try EncoderDecoderInput.decoderIds(input, startToken: config.decoderStartTokenId ?? config.padTokenId ?? 0,
                                                            vocabulary: decoderVocabulary)
        guard decoderIds.count <= config.maxPositionEmbeddings else {
            throw ModelError("the decoder input has \(decoderIds.count) tokens but the model takes at most \(config.maxPositionEmbeddings)")
        }
        let (ne, nd, d) = (input.ids.count, decoderIds.count, config.dModel)   // encoder tokens, decoder tokens, width
        let (encoderShape, decoderShape) = (encoderLayers[0].attention.shape, decoderLayers[0].selfAttention.shape)
        let scale = { (shape: HeadShape, layers: Int) in StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: layers) }
        var encoder = StackPass(.encoder, layers: encoderLayers.count, shape: encoderShape, queries: ne, keys: ne, hidden: d,
                                scales: scale(encoderShape, encoderLayers.count), pass: options)
        var decoder = StackPass(.decoder, layers: decoderLayers.count, shape: decoderShape, queries: nd, keys: nd, hidden: d,
                                scales: scale(decoderShape, decoderLayers.count), causal: true, pass: options)
        var cross = StackPass(.cross, layers: decoderLayers.count, shape: decoderShape, queries: nd, keys: ne, hidden: nil,
                              scales: scale(decoderShape, decoderLayers.count), pass: options)
        let encoderMask = AttentionMask(keys: input.attentionMask)

        // Encoder: scaled tokens + sinusoidal positions, post-norm layers.       x: (ne, d)
        var x = embed(input.ids, in: encoderEmbeddings, scale: embeddingScale) + embed(Array(0 ..< ne), in: encoderPositions)
        for l in encoder.layerRange(input: &x) {
            x = encoderLayers[l](x, mask: encoderMask, stack: &encoder, layer: l)
            encoder.keepHidden(x, at: l + 1)
        }

        // Decoder: causal self-attention, cross-attention over x.                y: (nd, d)
        var y = embed(decoderIds, in: decoderEmbeddings, scale: embeddingScale) + embed(Array(0 ..< nd), in: decoderPositions)
        for l in decoder.layerRange(input: &y) {
            y = decoderLayers[l](y, memory: x, encoderMask: encoderMask, decoder: &decoder, cross: &cross, layer: l)
            decoder.keepHidden(y, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: encoder.stack, .decoder: decoder.stack, .cross: cross.stack], lastHidden: y)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        EncoderDecoderInput.flops(tokens: n, hidden: config.dModel, inner: config.dModel, encoderLayers: config.encoderLayers,
                                  decoderLayers: config.decoderLayers, encoderFFN: config.encoderFfnDim, decoderFFN: config.decoderFfnDim)
    }
}
