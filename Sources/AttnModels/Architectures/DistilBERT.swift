import AttnCore
import Foundation

/// DistilBERT, as transformers' `modeling_distilbert.py` computes it with eager attention: BERT's
/// post-norm layers under other weight names, no token types, LayerNorm eps 1e-12.
public struct DistilBertConfig: Codable, Sendable, ArchitectureConfig {
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

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.width("dim", dim)
        check.layers("n_layers", nLayers)
        check.heads("n_heads", nHeads)
        check.multiple("dim", dim, of: "n_heads", nHeads)
        check.width("hidden_dim", hiddenDim)
        check.positions("max_position_embeddings", maxPositionEmbeddings)
    }
}

/// DistilBERT's encoder with its optional heads: classification (`pre_classifier` → ReLU →
/// `classifier` on `[CLS]`) and masked LM (`vocab_transform` → activation → `vocab_layer_norm` →
/// `vocab_projector`, tied to the word embeddings).
public final class DistilBertModel: TransformerModel {
    public let config: DistilBertConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let wordEmbeddings: Tensor      // [vocab, dim]
    private let positionEmbeddings: Tensor  // [maxPositions, dim]
    private let embeddingNorm: LayerNorm
    private let layers: [PostNormEncoderLayer]

    public init(config c: DistilBertConfig, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.activation ?? "gelu", path: path)
        let (h, m, eps): (Int, Int, Float) = (c.dim, c.hiddenDim, 1e-12)
        let shape = HeadShape(heads: c.nHeads, headDim: h / c.nHeads)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["distilbert.", ""], architecture: "DistilBERT")
        wordEmbeddings = try w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = try w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        embeddingNorm = try LayerNorm(w, "embeddings.LayerNorm", dim: h, eps: eps)
        layers = try (0 ..< c.nLayers).map { i in
            let p = "transformer.layer.\(i)."
            return PostNormEncoderLayer(
                attention: try SelfAttention(w, query: p + "attention.q_lin", key: p + "attention.k_lin", value: p + "attention.v_lin",
                                             output: p + "attention.out_lin", hidden: h, shape: shape),
                attentionNorm: try LayerNorm(w, p + "sa_layer_norm", dim: h, eps: eps),
                feedForward: FeedForward(up: try w.linear(p + "ffn.lin1", in: h, out: m, base: true),
                                         down: try w.linear(p + "ffn.lin2", in: m, out: h, base: true), activation: activation),
                outputNorm: try LayerNorm(w, p + "output_layer_norm", dim: h, eps: eps))
        }
        var classifier: ClassificationHead?
        if weights.contains("pre_classifier.weight") {
            let count = weights.shape(of: "classifier.weight")?.first ?? c.id2label?.count ?? 2
            classifier = ClassificationHead(dense: try w.linear("pre_classifier", in: h, out: h), activation: .relu,
                                            output: try w.linear("classifier", in: h, out: count), id2label: c.id2label)
        }
        let maskedLM = try MaskedLMHead(w, dense: "vocab_transform", norm: "vocab_layer_norm", decoder: "vocab_projector.weight",
                                        bias: "vocab_projector.bias", hidden: h, width: h, vocabulary: c.vocabSize, eps: eps,
                                        embeddings: wordEmbeddings, activation: activation)
        try w.finish()
        outputHeads = OutputHeads(languageModel: maskedLM.map(LanguageModelHead.masked), classifier: classifier)
        summary = ModelSummary(architecture: "distilbert", layers: c.nLayers, heads: shape.heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings)
    }

    // DistilBERT has no token types: a pair's segment ids are not used (its [SEP] separates them).
    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let shape = layers[0].attention.shape
        var stack = StackPass(.encoder, layers: layers.count, shape: shape, queries: n, keys: n, hidden: config.dim,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: layers.count), pass: options)

        // Word + position embeddings, then LayerNorm.                   x: (n, h)
        var x = embeddingNorm(embed(input.ids, in: wordEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings))
        let mask = AttentionMask(keys: input.attentionMask)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)                       // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }
}
