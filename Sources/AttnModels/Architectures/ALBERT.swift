import AttnCore
import Foundation

/// ALBERT, as transformers' `modeling_albert.py` computes it with eager attention: factorised
/// embeddings (narrow, then mapped up to the hidden size) and layers shared across depth, in
/// `num_hidden_groups` groups of `inner_group_num` layers.
public struct AlbertConfig: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
    public var embeddingSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numHiddenGroups: Int?
    public var innerGroupNum: Int?
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String?
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int?
    public var layerNormEps: Float?
    public var positionEmbeddingType: String?
    public var id2label: [String: String]?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", embeddingSize = "embedding_size", hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers", numHiddenGroups = "num_hidden_groups", innerGroupNum = "inner_group_num"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", positionEmbeddingType = "position_embedding_type", id2label
    }

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.width("embedding_size", embeddingSize)
        check.width("hidden_size", hiddenSize)
        check.layers("num_hidden_layers", numHiddenLayers)
        check.within("num_hidden_groups", numHiddenGroups, 1 ... max(1, numHiddenLayers))
        check.within("inner_group_num", innerGroupNum, 1 ... 64)
        check.multiple("num_hidden_layers", numHiddenLayers, of: "num_hidden_groups", numHiddenGroups ?? 1)
        check.heads("num_attention_heads", numAttentionHeads)
        check.multiple("hidden_size", hiddenSize, of: "num_attention_heads", numAttentionHeads)
        check.width("intermediate_size", intermediateSize)
        check.positions("max_position_embeddings", maxPositionEmbeddings)
        check.within("type_vocab_size", typeVocabSize, 1 ... 1024)
        check.positive("layer_norm_eps", layerNormEps.map(Double.init))
        check.require(positionEmbeddingType == nil || positionEmbeddingType == "absolute",
                      "position_embedding_type \"\(positionEmbeddingType ?? "")\" is not supported (AttnLab runs absolute positions)")
    }
}

/// ALBERT's encoder with its optional heads: masked LM (`predictions.*`, decoder tied to the word
/// embeddings) and classification (pooler → tanh → `classifier`).
public final class AlbertModel: TransformerModel {
    public let config: AlbertConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let wordEmbeddings: Tensor      // [vocab, embedding]
    private let positionEmbeddings: Tensor  // [maxPositions, embedding]
    private let typeEmbeddings: Tensor      // [types, embedding]
    private let embeddingNorm: LayerNorm
    private let embeddingToHidden: Linear   // [embedding → hidden]
    /// `num_hidden_groups` groups of `inner_group_num` layers, shared across depth.
    private let groups: [[PostNormEncoderLayer]]

    public init(config c: AlbertConfig, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.hiddenAct ?? "gelu_new", path: path)
        let (e, h, m, eps) = (c.embeddingSize, c.hiddenSize, c.intermediateSize, c.layerNormEps ?? 1e-12)
        let shape = HeadShape(heads: c.numAttentionHeads, headDim: h / c.numAttentionHeads)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["albert.", ""], architecture: "ALBERT")
        wordEmbeddings = try w.base("embeddings.word_embeddings.weight", [c.vocabSize, e])
        positionEmbeddings = try w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, e])
        typeEmbeddings = try w.base("embeddings.token_type_embeddings.weight", [c.typeVocabSize ?? 2, e])
        embeddingNorm = try LayerNorm(w, "embeddings.LayerNorm", dim: e, eps: eps)
        embeddingToHidden = try w.linear("encoder.embedding_hidden_mapping_in", in: e, out: h, base: true)
        groups = try (0 ..< (c.numHiddenGroups ?? 1)).map { g in
            try (0 ..< (c.innerGroupNum ?? 1)).map { i in
                let p = "encoder.albert_layer_groups.\(g).albert_layers.\(i)."
                return PostNormEncoderLayer(
                    attention: try SelfAttention(w, query: p + "attention.query", key: p + "attention.key", value: p + "attention.value",
                                                 output: p + "attention.dense", hidden: h, shape: shape),
                    attentionNorm: try LayerNorm(w, p + "attention.LayerNorm", dim: h, eps: eps),
                    feedForward: FeedForward(up: try w.linear(p + "ffn", in: h, out: m, base: true),
                                             down: try w.linear(p + "ffn_output", in: m, out: h, base: true), activation: activation),
                    outputNorm: try LayerNorm(w, p + "full_layer_layer_norm", dim: h, eps: eps))
            }
        }
        let pooler = try w.optional(w.prefix + "pooler.weight", [h, h]).map { Linear(weight: $0, bias: try w.base("pooler.bias", [h])) }
        var classifier: ClassificationHead?
        if let count = weights.shape(of: "classifier.weight")?.first {
            let output = try w.linear("classifier", in: h, out: count)
            if let pooler { classifier = ClassificationHead(dense: pooler, output: output, id2label: c.id2label) }
        }
        let maskedLM = try MaskedLMHead(w, dense: "predictions.dense", norm: "predictions.LayerNorm", decoder: "predictions.decoder.weight",
                                        bias: "predictions.bias", decoderBias: "predictions.decoder.bias", hidden: h, width: e,
                                        vocabulary: c.vocabSize, eps: eps, embeddings: wordEmbeddings, activation: activation)
        try w.finish()
        outputHeads = OutputHeads(languageModel: maskedLM.map(LanguageModelHead.masked), classifier: classifier)
        summary = ModelSummary(architecture: "albert", layers: c.numHiddenLayers * (c.innerGroupNum ?? 1), heads: shape.heads, hidden: h,
                               intermediate: m, vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings)
    }

    public var typeVocabulary: Int { typeEmbeddings.shape[0] }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let shape = groups[0][0].attention.shape
        let (inner, L) = (groups[0].count, summary.layers)  // layer applications: depth × layers per group
        var stack = StackPass(.encoder, layers: L, shape: shape, queries: n, keys: n, hidden: config.hiddenSize,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: L), pass: options)

        // Narrow embeddings (word + position + type, LayerNorm), mapped up.  (n, e) → x: (n, h)
        let narrow = embeddingNorm(embed(input.ids, in: wordEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings)
            + embed(input.typeIds ?? [Int](repeating: 0, count: n), in: typeEmbeddings))
        var x = embeddingToHidden(narrow)
        let mask = AttentionMask(keys: input.attentionMask)
        for l in stack.layerRange(input: &x) {
            // The same group's weights serve num_hidden_layers / num_hidden_groups consecutive depths.
            let (depth, index) = l.quotientAndRemainder(dividingBy: inner)
            let layer = groups[depth * groups.count / config.numHiddenLayers][index]
            x = layer(x, mask: mask, stack: &stack, layer: l)                     // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }
}
