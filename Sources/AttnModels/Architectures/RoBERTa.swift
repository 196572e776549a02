import AttnCore
import Foundation

/// RoBERTa (and the checkpoints that share its code: XLM-RoBERTa, CamemBERT), as transformers'
/// `modeling_roberta.py` computes it with eager attention. BERT's layers, with positions counted
/// from the padding index: token `i` (not padding) sits at position `padding + 1 + i`, padding at
/// `padding`.
public struct RobertaConfig: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String?
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int?
    public var layerNormEps: Float?
    public var padTokenId: Int?
    public var positionEmbeddingType: String?
    public var id2label: [String: String]?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id"
        case positionEmbeddingType = "position_embedding_type", id2label
    }

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.width("hidden_size", hiddenSize)
        check.layers("num_hidden_layers", numHiddenLayers)
        check.heads("num_attention_heads", numAttentionHeads)
        check.multiple("hidden_size", hiddenSize, of: "num_attention_heads", numAttentionHeads)
        check.width("intermediate_size", intermediateSize)
        check.positions("max_position_embeddings", maxPositionEmbeddings)
        check.within("type_vocab_size", typeVocabSize, 1 ... 1024)
        check.within("pad_token_id", padTokenId, 0 ... max(0, maxPositionEmbeddings - 2))
        check.positive("layer_norm_eps", layerNormEps.map(Double.init))
        check.require(positionEmbeddingType == nil || positionEmbeddingType == "absolute",
                      "position_embedding_type \"\(positionEmbeddingType ?? "")\" is not supported (AttnLab runs absolute positions)")
    }
}

/// RoBERTa's encoder with its optional heads: classification (`classifier.dense` → tanh →
/// `classifier.out_proj` on `<s>`) and masked LM (`lm_head`, decoder tied to the word embeddings).
public final class RobertaModel: TransformerModel {
    public let config: RobertaConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let padding: Int
    private let wordEmbeddings: Tensor      // [vocab, hidden]
    private let positionEmbeddings: Tensor  // [maxPositions, hidden]
    private let typeEmbeddings: Tensor      // [types, hidden]
    private let embeddingNorm: LayerNorm
    private let layers: [PostNormEncoderLayer]

    public init(config c: RobertaConfig, weights: WeightStore, path: String, architecture: String = "roberta") throws {
        config = c
        let activation = try Activation(named: c.hiddenAct ?? "gelu", path: path)
        let (h, m, eps) = (c.hiddenSize, c.intermediateSize, c.layerNormEps ?? 1e-12)
        let shape = HeadShape(heads: c.numAttentionHeads, headDim: h / c.numAttentionHeads)
        padding = c.padTokenId ?? 1
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["roberta.", ""], architecture: "RoBERTa")
        wordEmbeddings = try w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = try w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        typeEmbeddings = try w.base("embeddings.token_type_embeddings.weight", [c.typeVocabSize ?? 1, h])
        embeddingNorm = try LayerNorm(w, "embeddings.LayerNorm", dim: h, eps: eps)
        layers = try (0 ..< c.numHiddenLayers).map { i in
            let p = "encoder.layer.\(i)."
            return PostNormEncoderLayer(
                attention: try SelfAttention(w, query: p + "attention.self.query", key: p + "attention.self.key",
                                             value: p + "attention.self.value", output: p + "attention.output.dense",
                                             hidden: h, shape: shape),
                attentionNorm: try LayerNorm(w, p + "attention.output.LayerNorm", dim: h, eps: eps),
                feedForward: FeedForward(up: try w.linear(p + "intermediate.dense", in: h, out: m, base: true),
                                         down: try w.linear(p + "output.dense", in: m, out: h, base: true), activation: activation),
                outputNorm: try LayerNorm(w, p + "output.LayerNorm", dim: h, eps: eps))
        }
        var classifier: ClassificationHead?
        if weights.contains("classifier.dense.weight") {
            let count = weights.shape(of: "classifier.out_proj.weight")?.first ?? c.id2label?.count ?? 2
            classifier = ClassificationHead(dense: try w.linear("classifier.dense", in: h, out: h),
                                            output: try w.linear("classifier.out_proj", in: h, out: count), id2label: c.id2label)
        }
        // RobertaLMHead's activation is always GELU, whatever hidden_act says.
        let maskedLM = try MaskedLMHead(w, dense: "lm_head.dense", norm: "lm_head.layer_norm", decoder: "lm_head.decoder.weight",
                                        bias: "lm_head.bias", decoderBias: "lm_head.decoder.bias", hidden: h, width: h,
                                        vocabulary: c.vocabSize, eps: eps, embeddings: wordEmbeddings, activation: .gelu)
        try w.finish()
        outputHeads = OutputHeads(languageModel: maskedLM.map(LanguageModelHead.masked), classifier: classifier)
        // Positions start after the padding index, so the table holds padding + 1 fewer tokens.
        summary = ModelSummary(architecture: architecture, layers: c.numHiddenLayers, heads: shape.heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: max(1, c.maxPositionEmbeddings - padding - 1))
    }

    public var typeVocabulary: Int { typeEmbeddings.shape[0] }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let shape = layers[0].attention.shape
        var stack = StackPass(.encoder, layers: layers.count, shape: shape, queries: n, keys: n, hidden: config.hiddenSize,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: layers.count), pass: options)

        // Positions count the non-padding tokens from padding + 1; padding stays at `padding`.
        var positions: [Int] = []
        var seen = 0
        for id in input.ids {
            if id == padding { positions.append(padding) } else { seen += 1; positions.append(padding + seen) }
        }
        // Word + position + token type embeddings, then LayerNorm.     x: (n, h)
        var x = embeddingNorm(embed(input.ids, in: wordEmbeddings) + embed(positions, in: positionEmbeddings)
            + embed(input.typeIds ?? [Int](repeating: 0, count: n), in: typeEmbeddings))
        let mask = AttentionMask(keys: input.attentionMask)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)                       // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }
}
