import AttnCore
import Foundation

/// DistilBERT, as transformers' `modeling_distilbert.py` computes it with eager attention: BERT's
/// post-norm layers under other weight names, no token types, LayerNorm eps 1e-12.
public struct DistilBertConfig: Codable, Sendable {
    public var vocabSize: Int
    public var dim: Int
    public var nLayers: Int
    public var nHeads: Int
    public var hiddenDim: Int
    public var maxPositionEmbeddings: Int
    public var activation: String?
    public var id2label: [String: String]?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dim, nLayers = "n_layers", nHeads = "n_heads", hiddenDim = "hidden_dim"
        case maxPositionEmbeddings = "max_position_embeddings", activation, id2label
    }
}

/// DistilBERT's encoder with its optional heads: classification (`pre_classifier` → ReLU →
/// `classifier` on `[CLS]`) and masked LM (`vocab_transform` → activation → `vocab_layer_norm` →
/// `vocab_projector`, tied to the word embeddings).
public final class DistilBertModel: TransformerModel {
    public let config: DistilBertConfig
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>
    public let labels: [String]?

    private let activation: FeedForwardActivation
    private let wordEmbeddings: Tensor      // [vocab, dim]
    private let positionEmbeddings: Tensor  // [maxPositions, dim]
    private let embeddingNorm: LayerNormWeights
    private let layers: [PostNormEncoderLayer]
    private let preClassifier: Linear?
    private let classifier: Linear?
    private let maskedLM: MaskedLMHead?

    public init(config c: DistilBertConfig, weights: WeightStore, path: String) throws {
        config = c
        guard c.dim % c.nHeads == 0 else {
            throw ModelError("dim \(c.dim) is not a multiple of n_heads \(c.nHeads)", location: path)
        }
        activation = try FeedForwardActivation(named: c.activation ?? "gelu", path: path)
        let (h, m, heads, eps): (Int, Int, Int, Float) = (c.dim, c.hiddenDim, c.nHeads, 1e-12)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["distilbert.", ""])
        wordEmbeddings = w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        embeddingNorm = LayerNormWeights(w, "embeddings.LayerNorm", dim: h, eps: eps)
        layers = (0 ..< c.nLayers).map { [activation] i in
            let p = "transformer.layer.\(i)."
            return PostNormEncoderLayer(
                attention: SelfAttentionWeights(w, query: p + "attention.q_lin", key: p + "attention.k_lin", value: p + "attention.v_lin",
                                                output: p + "attention.out_lin", hidden: h, heads: heads, headDim: h / heads),
                attentionNorm: LayerNormWeights(w, p + "sa_layer_norm", dim: h, eps: eps),
                feedForward: FeedForwardWeights(input: Linear(weight: w.base(p + "ffn.lin1.weight", [m, h]), bias: w.base(p + "ffn.lin1.bias", [m])),
                                                gate: nil,
                                                output: Linear(weight: w.base(p + "ffn.lin2.weight", [h, m]), bias: w.base(p + "ffn.lin2.bias", [h])),
                                                activation: activation),
                outputNorm: LayerNormWeights(w, p + "output_layer_norm", dim: h, eps: eps))
        }
        if let dense = w.optional("pre_classifier.weight", [h, h]) {
            preClassifier = Linear(weight: dense, bias: w.take("pre_classifier.bias", [h]))
            let count = weights.shape(of: "classifier.weight")?.first ?? c.id2label?.count ?? 2
            classifier = Linear(weight: w.take("classifier.weight", [count, h]), bias: w.take("classifier.bias", [count]))
            labels = classLabels(count, c.id2label)
        } else {
            (preClassifier, classifier, labels) = (nil, nil, nil)
        }
        maskedLM = MaskedLMHead(w, dense: "vocab_transform", norm: "vocab_layer_norm", decoder: "vocab_projector.weight",
                                bias: "vocab_projector.bias", hidden: h, width: h, vocabulary: c.vocabSize, eps: eps,
                                embeddings: wordEmbeddings, activation: activation)
        try w.finish(architecture: "DistilBERT")

        var heads_: Set<TaskHead> = []
        if maskedLM != nil { heads_.insert(.maskedLM) }
        if classifier != nil { heads_.insert(.classification) }
        taskHeads = heads_
        summary = ModelSummary(architecture: "distilbert", layers: c.nLayers, heads: heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings, parameters: parameterCount(wordEmbeddings, positionEmbeddings, embeddingNorm, layers, preClassifier, classifier,
                                                          maskedLM))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        // DistilBERT has no token types: a pair's segment ids are not used (its [SEP] separates them).
        try validateInput(input, summary: summary)
        let n = input.ids.count                             // tokens
        let (h, heads, L) = (config.dim, config.nHeads, layers.count)
        var stack = StackCapture(layers: L, heads: heads, queries: n, keys: n, headDim: h / heads, hidden: h, capture: capture)

        // Word + position embeddings, then LayerNorm.                   x: (n, h)
        var x = embeddingNorm(embed(input.ids, in: wordEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings))
        stack.keepHidden(x, at: 0)
        let mask = AttentionMask(keys: input.attentionMask)
        for (l, layer) in layers.enumerated() {
            x = layer(x, mask: mask, capture: &stack, layer: l)                       // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// The masked-LM head: vocab_transform → activation → vocab_layer_norm → tied projector + bias.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        guard let maskedLM else {
            throw ModelError("this DistilBERT checkpoint has no masked-LM head (no vocab_transform.* tensors)",
                             hint: "use a DistilBertForMaskedLM checkpoint, or the classification task")
        }
        return maskedLM.logits(try rows(positions, of: output.lastHidden))   // (positions, vocab)
    }

    /// The classification head on `[CLS]`: pre_classifier → ReLU → classifier.
    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        guard let preClassifier, let classifier else {
            throw ModelError("this DistilBERT checkpoint has no classification head (no pre_classifier / classifier tensors)",
                             hint: "use a DistilBertForSequenceClassification checkpoint, or another task")
        }
        var x = preClassifier(try rows([0], of: output.lastHidden))          // (1, h)
        x.apply { Kernels.relu($0, count: $1) }
        return classifier(x).reshaped([classifier.outFeatures])
    }
}
