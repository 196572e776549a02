import AttnCore
import Foundation

/// BART, as transformers' `modeling_bart.py` computes it with eager attention: a post-norm
/// encoder-decoder with learned positions (offset by 2), a LayerNorm on the embeddings, and an LM
/// head tied to the shared embeddings plus `final_logits_bias`.
public struct BartConfig: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
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
    public var normalizeBefore: Bool?
    public var addFinalLayerNorm: Bool?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", encoderLayers = "encoder_layers", decoderLayers = "decoder_layers"
        case encoderAttentionHeads = "encoder_attention_heads", decoderAttentionHeads = "decoder_attention_heads"
        case encoderFfnDim = "encoder_ffn_dim", decoderFfnDim = "decoder_ffn_dim"
        case maxPositionEmbeddings = "max_position_embeddings", activationFunction = "activation_function"
        case scaleEmbedding = "scale_embedding", decoderStartTokenId = "decoder_start_token_id"
        case normalizeBefore = "normalize_before", addFinalLayerNorm = "add_final_layer_norm"
    }

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
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
        check.within("decoder_start_token_id", decoderStartTokenId, 0 ... max(0, vocabSize - 1))
        check.require(normalizeBefore != true && addFinalLayerNorm != true,
                      "a pre-norm BART (normalize_before / add_final_layer_norm, as mBART) is not supported (AttnLab runs BART's post-norm layers)")
    }
}

/// BART for conditional generation: the encoder over the input, the decoder over the
/// teacher-forced decoder input, and the LM head.
public final class BartModel: TransformerModel {
    public let config: BartConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    /// BART's learned positions start at row 2 of their tables (a fairseq legacy).
    private static let positionOffset = 2
    private let embeddingScale: Float
    private let encoderEmbeddings: Tensor   // [vocab, d]
    private let decoderEmbeddings: Tensor   // [vocab, d]
    private let encoderPositions: Tensor    // [maxPositions + 2, d]
    private let decoderPositions: Tensor    // [maxPositions + 2, d]
    private let encoderEmbeddingNorm: LayerNorm
    private let decoderEmbeddingNorm: LayerNorm
    private let encoderLayers: [PostNormEncoderLayer]
    private let decoderLayers: [PostNormDecoderLayer]

    public init(config c: BartConfig, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.activationFunction ?? "gelu", path: path)
        let (d, v) = (c.dModel, c.vocabSize)
        embeddingScale = c.scaleEmbedding == true ? Float(d).squareRoot() : 1
        let w = WeightLoader(store: weights, probe: "encoder.layers.0.self_attn.q_proj.weight", prefixes: ["model.", ""], architecture: "BART")
        // One table shared by both embeddings and the LM head; files hold it under one name or several.
        let shared = try w.optional(w.prefix + "shared.weight", [v, d]) ?? w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d])
            ?? w.base("shared.weight", [v, d])
        encoderEmbeddings = tied(try w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d]), to: shared)
        decoderEmbeddings = tied(try w.optional(w.prefix + "decoder.embed_tokens.weight", [v, d]), to: shared)
        let positions = c.maxPositionEmbeddings + Self.positionOffset
        encoderPositions = try w.base("encoder.embed_positions.weight", [positions, d])
        decoderPositions = try w.base("decoder.embed_positions.weight", [positions, d])
        encoderEmbeddingNorm = try LayerNorm(w, "encoder.layernorm_embedding", dim: d, eps: 1e-5)
        decoderEmbeddingNorm = try LayerNorm(w, "decoder.layernorm_embedding", dim: d, eps: 1e-5)
        encoderLayers = try (0 ..< c.encoderLayers).map {
            try BartFamilyLayers.encoder(w, "encoder.layers.\($0).", hidden: d, heads: c.encoderAttentionHeads, ffn: c.encoderFfnDim, activation: activation)
        }
        decoderLayers = try (0 ..< c.decoderLayers).map {
            try BartFamilyLayers.decoder(w, "decoder.layers.\($0).", hidden: d, heads: c.decoderAttentionHeads, ffn: c.decoderFfnDim, activation: activation)
        }
        let lmHead = tied(try w.optional("lm_head.weight", [v, d]), to: shared)
        let finalLogitsBias = try w.optional("final_logits_bias", [1, v]).map { $0.reshaped([v]) }
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, bias: finalLogitsBias, task: .seq2seq))
        summary = ModelSummary(architecture: "bart", layers: c.encoderLayers, heads: c.encoderAttentionHeads, hidden: d,
                               intermediate: c.encoderFfnDim, vocabulary: v, maxPositions: c.maxPositionEmbeddings)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let decoderIds = try EncoderDecoderInput.decoderIds(input, startToken: config.decoderStartTokenId ?? 2, vocabulary: config.vocabSize)
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

        // Encoder: (scaled) tokens + learned positions, LayerNorm, post-norm layers.   x: (ne, d)
        var x = encoderEmbeddingNorm(embed(input.ids, in: encoderEmbeddings, scale: embeddingScale)
            + embed((0 ..< ne).map { $0 + Self.positionOffset }, in: encoderPositions))
        for l in encoder.layerRange(input: &x) {
            x = encoderLayers[l](x, mask: encoderMask, stack: &encoder, layer: l)
            encoder.keepHidden(x, at: l + 1)
        }

        // Decoder: the same embedding, causal self-attention, cross-attention over x.  y: (nd, d)
        var y = decoderEmbeddingNorm(embed(decoderIds, in: decoderEmbeddings, scale: embeddingScale)
            + embed((0 ..< nd).map { $0 + Self.positionOffset }, in: decoderPositions))
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
