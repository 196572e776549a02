import AttnCore
import Foundation

/// BART, as transformers' `modeling_bart.py` computes it with eager attention: a post-norm
/// encoder-decoder with learned positions (offset by 2), a LayerNorm on the embeddings, and an LM
/// head tied to the shared embeddings plus `final_logits_bias`.
public struct BartConfig: Codable, Sendable {
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
}

/// BART for conditional generation: the encoder over the input, the decoder over the
/// teacher-forced decoder input, and the LM head.
public final class BartModel: TransformerModel {
    public let config: BartConfig
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>

    /// BART's learned positions start at row 2 of their tables (a fairseq legacy).
    private static let positionOffset = 2
    private let embeddingScale: Float
    private let encoderEmbeddings: Tensor   // [vocab, d]
    private let decoderEmbeddings: Tensor   // [vocab, d]
    private let encoderPositions: Tensor    // [maxPositions + 2, d]
    private let decoderPositions: Tensor    // [maxPositions + 2, d]
    private let encoderEmbeddingNorm: LayerNormWeights
    private let decoderEmbeddingNorm: LayerNormWeights
    private let encoderLayers: [PostNormEncoderLayer]
    private let decoderLayers: [PostNormDecoderLayer]
    private let lmHead: Tensor              // [vocab, d]
    private let finalLogitsBias: Tensor     // [vocab]

    public init(config c: BartConfig, weights: WeightStore, path: String) throws {
        config = c
        for heads in [c.encoderAttentionHeads, c.decoderAttentionHeads] where c.dModel % heads != 0 {
            throw ModelError("d_model \(c.dModel) is not a multiple of \(heads) attention heads", location: path)
        }
        if c.normalizeBefore == true || c.addFinalLayerNorm == true {
            throw ModelError("a pre-norm BART (normalize_before / add_final_layer_norm, as mBART) is not supported", location: path,
                             hint: "AttnLab runs BART's post-norm layers")
        }
        let activation = try FeedForwardActivation(named: c.activationFunction ?? "gelu", path: path)
        let (d, v) = (c.dModel, c.vocabSize)
        embeddingScale = c.scaleEmbedding == true ? Float(d).squareRoot() : 1
        let w = WeightLoader(store: weights, probe: "encoder.layers.0.self_attn.q_proj.weight", prefixes: ["model.", ""])
        // One table shared by both embeddings and the LM head; files hold it under one name or several.
        let shared = w.optional(w.prefix + "shared.weight", [v, d]) ?? w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d])
            ?? w.base("shared.weight", [v, d])
        encoderEmbeddings = tied(w.optional(w.prefix + "encoder.embed_tokens.weight", [v, d]), to: shared)
        decoderEmbeddings = tied(w.optional(w.prefix + "decoder.embed_tokens.weight", [v, d]), to: shared)
        let positions = c.maxPositionEmbeddings + Self.positionOffset
        encoderPositions = w.base("encoder.embed_positions.weight", [positions, d])
        decoderPositions = w.base("decoder.embed_positions.weight", [positions, d])
        encoderEmbeddingNorm = LayerNormWeights(w, "encoder.layernorm_embedding", dim: d, eps: 1e-5)
        decoderEmbeddingNorm = LayerNormWeights(w, "decoder.layernorm_embedding", dim: d, eps: 1e-5)
        encoderLayers = (0 ..< c.encoderLayers).map {
            BartFamilyLayers.encoder(w, "encoder.layers.\($0).", hidden: d, heads: c.encoderAttentionHeads, ffn: c.encoderFfnDim, activation: activation)
        }
        decoderLayers = (0 ..< c.decoderLayers).map {
            BartFamilyLayers.decoder(w, "decoder.layers.\($0).", hidden: d, heads: c.decoderAttentionHeads, ffn: c.decoderFfnDim, activation: activation)
        }
        lmHead = tied(w.optional("lm_head.weight", [v, d]), to: shared)
        finalLogitsBias = (w.optional("final_logits_bias", [1, v]) ?? Tensor(zeros: [1, v])).reshaped([v])
        try w.finish(architecture: "BART")

        taskHeads = [.seq2seq]
        summary = ModelSummary(architecture: "bart", layers: c.encoderLayers, heads: c.encoderAttentionHeads, hidden: d,
                               intermediate: c.encoderFfnDim, vocabulary: v, maxPositions: c.maxPositionEmbeddings,
                               parameters: parameterCount(encoderEmbeddings, decoderEmbeddings, encoderPositions, decoderPositions, encoderEmbeddingNorm,
                                                          decoderEmbeddingNorm, encoderLayers, decoderLayers, lmHead))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary)
        let decoderIds = try EncoderDecoderInput.decoderIds(input, startToken: config.decoderStartTokenId ?? 2, vocabulary: config.vocabSize)
        guard decoderIds.count <= config.maxPositionEmbeddings else {
            throw ModelError("the decoder input has \(decoderIds.count) tokens but the model takes at most \(config.maxPositionEmbeddings)")
        }
        let (ne, nd, d) = (input.ids.count, decoderIds.count, config.dModel)   // encoder tokens, decoder tokens, width
        let (encoderHeads, decoderHeads) = (config.encoderAttentionHeads, config.decoderAttentionHeads)
        var encoder = StackCapture(layers: encoderLayers.count, heads: encoderHeads, queries: ne, keys: ne,
                                   headDim: d / encoderHeads, hidden: d, capture: capture)
        var decoder = StackCapture(layers: decoderLayers.count, heads: decoderHeads, queries: nd, keys: nd,
                                   headDim: d / decoderHeads, hidden: d, capture: capture)
        var cross = StackCapture(layers: decoderLayers.count, heads: decoderHeads, queries: nd, keys: ne,
                                 headDim: d / decoderHeads, hidden: nil, capture: capture)
        let encoderMask = AttentionMask(keys: input.attentionMask)

        // Encoder: (scaled) tokens + learned positions, LayerNorm, post-norm layers.   x: (ne, d)
        var x = encoderEmbeddingNorm(embed(input.ids, in: encoderEmbeddings, scale: embeddingScale)
            + embed((0 ..< ne).map { $0 + Self.positionOffset }, in: encoderPositions))
        encoder.keepHidden(x, at: 0)
        for (l, layer) in encoderLayers.enumerated() {
            x = layer(x, mask: encoderMask, capture: &encoder, layer: l)
            encoder.keepHidden(x, at: l + 1)
        }

        // Decoder: the same embedding, causal self-attention, cross-attention over x.  y: (nd, d)
        var y = decoderEmbeddingNorm(embed(decoderIds, in: decoderEmbeddings, scale: embeddingScale)
            + embed((0 ..< nd).map { $0 + Self.positionOffset }, in: decoderPositions))
        decoder.keepHidden(y, at: 0)
        for (l, layer) in decoderLayers.enumerated() {
            y = layer(y, memory: x, encoderMask: encoderMask, decoder: &decoder, cross: &cross, layer: l)
            decoder.keepHidden(y, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: encoder.stack, .decoder: decoder.stack, .cross: cross.stack], lastHidden: y)
    }

    /// Logits `[positions, vocab]` over the decoder's positions: tied LM head + `final_logits_bias`.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        tiedProjection(try rows(positions, of: output.lastHidden), embeddings: lmHead, bias: finalLogitsBias)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        EncoderDecoderInput.flops(tokens: n, hidden: config.dModel, inner: config.dModel, encoderLayers: config.encoderLayers,
                                  decoderLayers: config.decoderLayers, encoderFFN: config.encoderFfnDim, decoderFFN: config.decoderFfnDim)
    }
}
