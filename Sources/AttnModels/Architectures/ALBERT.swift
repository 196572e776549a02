import AttnCore
import Foundation

/// ALBERT, as transformers' `modeling_albert.py` computes it with eager attention: factorised
/// embeddings (narrow, then mapped up to the hidden size) and layers shared across depth, in
/// `num_hidden_groups` groups of `inner_group_num` layers.
public struct AlbertConfig: Codable, Sendable {
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
}

/// ALBERT's encoder with its optional heads: masked LM (`predictions.*`, decoder tied to the word
/// embeddings) and classification (pooler → tanh → `classifier`).
public final class AlbertModel: TransformerModel {
    public let config: AlbertConfig
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>
    public let labels: [String]?

    private let activation: FeedForwardActivation
    private let wordEmbeddings: Tensor      // [vocab, embedding]
    private let positionEmbeddings: Tensor  // [maxPositions, embedding]
    private let typeEmbeddings: Tensor      // [types, embedding]
    private let embeddingNorm: LayerNormWeights
    private let embeddingToHidden: Linear   // [embedding → hidden]
    private let groups: [[PostNormEncoderLayer]]
    private let pooler: Linear?
    private let classifier: Linear?
    private let maskedLM: MaskedLMHead?     // dense: [hidden → embedding]

    public init(config c: AlbertConfig, weights: WeightStore, path: String) throws {
        config = c
        guard c.hiddenSize % c.numAttentionHeads == 0 else {
            throw ModelError("hidden_size \(c.hiddenSize) is not a multiple of num_attention_heads \(c.numAttentionHeads)", location: path)
        }
        let (groupCount, inner) = (c.numHiddenGroups ?? 1, c.innerGroupNum ?? 1)
        guard groupCount >= 1, inner >= 1, c.numHiddenLayers % groupCount == 0 else {
            throw ModelError("num_hidden_layers \(c.numHiddenLayers) is not a multiple of num_hidden_groups \(groupCount)", location: path)
        }
        if let kind = c.positionEmbeddingType, kind != "absolute" {
            throw ModelError("position_embedding_type \"\(kind)\" is not supported", location: path, hint: "AttnLab runs ALBERT with absolute positions")
        }
        activation = try FeedForwardActivation(named: c.hiddenAct ?? "gelu_new", path: path)
        let (e, h, m, heads, eps) = (c.embeddingSize, c.hiddenSize, c.intermediateSize, c.numAttentionHeads, c.layerNormEps ?? 1e-12)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["albert.", ""])
        wordEmbeddings = w.base("embeddings.word_embeddings.weight", [c.vocabSize, e])
        positionEmbeddings = w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, e])
        typeEmbeddings = w.base("embeddings.token_type_embeddings.weight", [c.typeVocabSize ?? 2, e])
        embeddingNorm = LayerNormWeights(w, "embeddings.LayerNorm", dim: e, eps: eps)
        embeddingToHidden = Linear(weight: w.base("encoder.embedding_hidden_mapping_in.weight", [h, e]),
                                   bias: w.base("encoder.embedding_hidden_mapping_in.bias", [h]))
        groups = (0 ..< groupCount).map { [activation] g in
            (0 ..< inner).map { i in
                let p = "encoder.albert_layer_groups.\(g).albert_layers.\(i)."
                return PostNormEncoderLayer(
                    attention: SelfAttentionWeights(w, query: p + "attention.query", key: p + "attention.key", value: p + "attention.value",
                                                    output: p + "attention.dense", hidden: h, heads: heads, headDim: h / heads),
                    attentionNorm: LayerNormWeights(w, p + "attention.LayerNorm", dim: h, eps: eps),
                    feedForward: FeedForwardWeights(input: Linear(weight: w.base(p + "ffn.weight", [m, h]), bias: w.base(p + "ffn.bias", [m])),
                                                    gate: nil,
                                                    output: Linear(weight: w.base(p + "ffn_output.weight", [h, m]), bias: w.base(p + "ffn_output.bias", [h])),
                                                    activation: activation),
                    outputNorm: LayerNormWeights(w, p + "full_layer_layer_norm", dim: h, eps: eps))
            }
        }
        pooler = w.optional(w.prefix + "pooler.weight", [h, h]).map { Linear(weight: $0, bias: w.base("pooler.bias", [h])) }
        if let weight = w.optional("classifier.weight", [weights.shape(of: "classifier.weight")?.first ?? 2, h]) {
            classifier = Linear(weight: weight, bias: w.take("classifier.bias", [weight.shape[0]]))
            labels = classLabels(weight.shape[0], c.id2label)
        } else {
            (classifier, labels) = (nil, nil)
        }
        maskedLM = MaskedLMHead(w, dense: "predictions.dense", norm: "predictions.LayerNorm", decoder: "predictions.decoder.weight",
                                bias: "predictions.bias", decoderBias: "predictions.decoder.bias", hidden: h, width: e,
                                vocabulary: c.vocabSize, eps: eps, embeddings: wordEmbeddings, activation: activation)
        try w.finish(architecture: "ALBERT")

        var heads_: Set<TaskHead> = []
        if maskedLM != nil { heads_.insert(.maskedLM) }
        if classifier != nil && pooler != nil { heads_.insert(.classification) }
        taskHeads = heads_
        summary = ModelSummary(architecture: "albert", layers: c.numHiddenLayers * inner, heads: heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings, parameters: parameterCount(wordEmbeddings, positionEmbeddings, typeEmbeddings, embeddingNorm, embeddingToHidden, groups,
                                                          pooler, classifier, maskedLM))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary, typeVocabulary: typeEmbeddings.shape[0])
        let n = input.ids.count                             // tokens
        let (h, heads) = (config.hiddenSize, config.numAttentionHeads)
        let L = summary.layers                              // layer applications: depth × layers per group
        var stack = StackCapture(layers: L, heads: heads, queries: n, keys: n, headDim: h / heads, hidden: h, capture: capture)

        // Narrow embeddings (word + position + type, LayerNorm), mapped up.  (n, e) → x: (n, h)
        let narrow = embeddingNorm(embed(input.ids, in: wordEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings)
            + embed(input.typeIds ?? [Int](repeating: 0, count: n), in: typeEmbeddings))
        var x = embeddingToHidden(narrow)
        stack.keepHidden(x, at: 0)
        let mask = AttentionMask(keys: input.attentionMask)
        var applied = 0
        for depth in 0 ..< config.numHiddenLayers {
            // The same group's weights serve num_hidden_layers / num_hidden_groups consecutive depths.
            let group = groups[depth * groups.count / config.numHiddenLayers]
            for layer in group {
                x = layer(x, mask: mask, capture: &stack, layer: applied)             // (n, h)
                applied += 1
                stack.keepHidden(x, at: applied)
            }
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// The masked-LM head: dense (down to the embedding size) → activation → LayerNorm → tied decoder + bias.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        guard let maskedLM else {
            throw ModelError("this ALBERT checkpoint has no masked-LM head (no predictions.* tensors)",
                             hint: "use an AlbertForMaskedLM checkpoint, or the classification task")
        }
        return maskedLM.logits(try rows(positions, of: output.lastHidden))   // (positions, vocab)
    }

    /// The classification head: pooler (tanh of a dense layer on `[CLS]`) then the classifier.
    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        guard let pooler, let classifier else {
            throw ModelError("this ALBERT checkpoint has no classification head (no pooler and classifier tensors)",
                             hint: "use an AlbertForSequenceClassification checkpoint, or another task")
        }
        var pooled = pooler(try rows([0], of: output.lastHidden))
        pooled.scalars = pooled.scalars.map { Foundation.tanh($0) }
        return classifier(pooled).reshaped([classifier.outFeatures])
    }
}
