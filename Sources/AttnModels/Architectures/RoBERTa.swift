import AttnCore
import Foundation

/// RoBERTa (and the checkpoints that share its code: XLM-RoBERTa, CamemBERT), as transformers'
/// `modeling_roberta.py` computes it with eager attention. BERT's layers, with positions counted
/// from the padding index: token `i` (not padding) sits at position `padding + 1 + i`, padding at
/// `padding`.
public struct RobertaConfig: Codable, Sendable {
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
}

/// RoBERTa's encoder with its optional heads: classification (`classifier.dense` → tanh →
/// `classifier.out_proj` on `<s>`) and masked LM (`lm_head`, decoder tied to the word embeddings).
public final class RobertaModel: TransformerModel {
    public let config: RobertaConfig
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>
    public let labels: [String]?

    private let padding: Int
    private let wordEmbeddings: Tensor      // [vocab, hidden]
    private let positionEmbeddings: Tensor  // [maxPositions, hidden]
    private let typeEmbeddings: Tensor      // [types, hidden]
    private let embeddingNorm: LayerNormWeights
    private let layers: [PostNormEncoderLayer]
    private let classifierDense: Linear?
    private let classifierOutput: Linear?
    private let maskedLM: MaskedLMHead?

    public init(config c: RobertaConfig, weights: WeightStore, path: String, architecture: String = "roberta") throws {
        config = c
        guard c.hiddenSize % c.numAttentionHeads == 0 else {
            throw ModelError("hidden_size \(c.hiddenSize) is not a multiple of num_attention_heads \(c.numAttentionHeads)", location: path)
        }
        if let kind = c.positionEmbeddingType, kind != "absolute" {
            throw ModelError("position_embedding_type \"\(kind)\" is not supported", location: path, hint: "AttnLab runs RoBERTa with absolute positions")
        }
        let activation = try FeedForwardActivation(named: c.hiddenAct ?? "gelu", path: path)
        let (h, m, heads, eps) = (c.hiddenSize, c.intermediateSize, c.numAttentionHeads, c.layerNormEps ?? 1e-12)
        padding = c.padTokenId ?? 1
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["roberta.", ""])
        wordEmbeddings = w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        typeEmbeddings = w.base("embeddings.token_type_embeddings.weight", [c.typeVocabSize ?? 1, h])
        embeddingNorm = LayerNormWeights(w, "embeddings.LayerNorm", dim: h, eps: eps)
        layers = (0 ..< c.numHiddenLayers).map { i in
            let p = "encoder.layer.\(i)."
            return PostNormEncoderLayer(
                attention: SelfAttentionWeights(w, query: p + "attention.self.query", key: p + "attention.self.key",
                                                value: p + "attention.self.value", output: p + "attention.output.dense",
                                                hidden: h, heads: heads, headDim: h / heads),
                attentionNorm: LayerNormWeights(w, p + "attention.output.LayerNorm", dim: h, eps: eps),
                feedForward: FeedForwardWeights(input: Linear(weight: w.base(p + "intermediate.dense.weight", [m, h]), bias: w.base(p + "intermediate.dense.bias", [m])),
                                                gate: nil,
                                                output: Linear(weight: w.base(p + "output.dense.weight", [h, m]), bias: w.base(p + "output.dense.bias", [h])),
                                                activation: activation),
                outputNorm: LayerNormWeights(w, p + "output.LayerNorm", dim: h, eps: eps))
        }
        if let dense = w.optional("classifier.dense.weight", [h, h]) {
            classifierDense = Linear(weight: dense, bias: w.take("classifier.dense.bias", [h]))
            let count = weights.shape(of: "classifier.out_proj.weight")?.first ?? c.id2label?.count ?? 2
            classifierOutput = Linear(weight: w.take("classifier.out_proj.weight", [count, h]), bias: w.take("classifier.out_proj.bias", [count]))
            labels = classLabels(count, c.id2label)
        } else {
            (classifierDense, classifierOutput, labels) = (nil, nil, nil)
        }
        // RobertaLMHead's activation is always GELU, whatever hidden_act says.
        maskedLM = MaskedLMHead(w, dense: "lm_head.dense", norm: "lm_head.layer_norm", decoder: "lm_head.decoder.weight",
                                bias: "lm_head.bias", decoderBias: "lm_head.decoder.bias", hidden: h, width: h,
                                vocabulary: c.vocabSize, eps: eps, embeddings: wordEmbeddings, activation: .gelu)
        try w.finish(architecture: "RoBERTa")

        var heads_: Set<TaskHead> = []
        if maskedLM != nil { heads_.insert(.maskedLM) }
        if classifierDense != nil { heads_.insert(.classification) }
        taskHeads = heads_
        // Positions start after the padding index, so the table holds padding + 1 fewer tokens.
        summary = ModelSummary(architecture: architecture, layers: c.numHiddenLayers, heads: heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: max(1, c.maxPositionEmbeddings - padding - 1),
                               parameters: parameterCount(wordEmbeddings, positionEmbeddings, typeEmbeddings, embeddingNorm, layers,
                                                          classifierDense, classifierOutput, maskedLM))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary, typeVocabulary: typeEmbeddings.shape[0])
        let n = input.ids.count                             // tokens
        let (h, heads, L) = (config.hiddenSize, config.numAttentionHeads, layers.count)
        var stack = StackCapture(layers: L, heads: heads, queries: n, keys: n, headDim: h / heads, hidden: h, capture: capture)

        // Positions count the non-padding tokens from padding + 1; padding stays at `padding`.
        var positions: [Int] = []
        var seen = 0
        for id in input.ids {
            if id == padding { positions.append(padding) } else { seen += 1; positions.append(padding + seen) }
        }
        // Word + position + token type embeddings, then LayerNorm.     x: (n, h)
        var x = embed(input.ids, in: wordEmbeddings) + embed(positions, in: positionEmbeddings)
            + embed(input.typeIds ?? [Int](repeating: 0, count: n), in: typeEmbeddings)
        x = embeddingNorm(x)
        stack.keepHidden(x, at: 0)
        let mask = AttentionMask(keys: input.attentionMask)
        for (l, layer) in layers.enumerated() {
            x = layer(x, mask: mask, capture: &stack, layer: l)                       // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// The masked-LM head: dense → GELU → LayerNorm → tied decoder + bias.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        guard let maskedLM else {
            throw ModelError("this RoBERTa checkpoint has no masked-LM head (no lm_head.* tensors)",
                             hint: "use a RobertaForMaskedLM checkpoint, or the classification task")
        }
        return maskedLM.logits(try rows(positions, of: output.lastHidden))   // (positions, vocab)
    }

    /// The classification head on `<s>`: dense → tanh → out_proj.
    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        guard let classifierDense, let classifierOutput else {
            throw ModelError("this RoBERTa checkpoint has no classification head (no classifier.* tensors)",
                             hint: "use a RobertaForSequenceClassification checkpoint, or another task")
        }
        var x = classifierDense(try rows([0], of: output.lastHidden))  // (1, h)
        x.scalars = x.scalars.map { Foundation.tanh($0) }
        return classifierOutput(x).reshaped([classifierOutput.outFeatures])
    }
}
