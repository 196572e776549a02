import AttnCore
import Foundation

/// BERT (and BERT-shaped checkpoints: MiniLM, sentence-transformers, …), as transformers'
/// `modeling_bert.py` computes it with eager attention.
public struct BertConfig: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String?
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int?
    public var layerNormEps: Float?
    public var positionEmbeddingType: String?
    public var id2label: [String: String]?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act", maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps"
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
        check.positive("layer_norm_eps", layerNormEps.map(Double.init))
        check.require(positionEmbeddingType == nil || positionEmbeddingType == "absolute",
                      "position_embedding_type \"\(positionEmbeddingType ?? "")\" is not supported (AttnLab runs absolute positions)")
    }
}

/// BERT's encoder with its optional heads: the pooler with a classifier, and the masked-LM head
/// whose decoder is tied to the word embeddings.
public final class BertModel: TransformerModel {
    public let config: BertConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let wordEmbeddings: Tensor      // [vocab, hidden]
    private let positionEmbeddings: Tensor  // [maxPositions, hidden]
    private let typeEmbeddings: Tensor      // [types, hidden]
    private let embeddingNorm: LayerNorm
    private let layers: [PostNormEncoderLayer]

    public init(config c: BertConfig, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.hiddenAct ?? "gelu", path: path)
        let (h, m, eps, types) = (c.hiddenSize, c.intermediateSize, c.layerNormEps ?? 1e-12, c.typeVocabSize ?? 2)
        let shape = HeadShape(heads: c.numAttentionHeads, headDim: h / c.numAttentionHeads)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["", "bert.", "model."], architecture: "BERT")
        wordEmbeddings = try w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = try w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        typeEmbeddings = try w.base("embeddings.token_type_embeddings.weight", [types, h])
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
        // The classifier reads the pooler's tanh of [CLS]; the masked-LM decoder is always the word
        // embeddings (transformers ties them).
        let pooler = try w.optional(w.prefix + "pooler.dense.weight", [h, h]).map { Linear(weight: $0, bias: try w.base("pooler.dense.bias", [h])) }
        var classifier: ClassificationHead?
        if let count = weights.shape(of: "classifier.weight")?.first {
            let output = try w.linear("classifier", in: h, out: c.id2label?.count ?? count)
            if let pooler { classifier = ClassificationHead(dense: pooler, output: output, id2label: c.id2label) }
        }
        let maskedLM = try MaskedLMHead(w, dense: "cls.predictions.transform.dense", norm: "cls.predictions.transform.LayerNorm",
                                        decoder: nil, bias: "cls.predictions.bias", hidden: h, width: h, vocabulary: c.vocabSize,
                                        eps: eps, embeddings: wordEmbeddings, activation: activation)
        try w.finish()
        outputHeads = OutputHeads(languageModel: maskedLM.map(LanguageModelHead.masked), classifier: classifier)
        summary = ModelSummary(architecture: "bert", layers: c.numHiddenLayers, heads: shape.heads, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings)
    }

    public var typeVocabulary: Int { typeEmbeddings.shape[0] }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                                          // tokens
        let h = config.hiddenSize
        let shape = layers[0].attention.shape
        var stack = StackPass(.encoder, layers: layers.count, shape: shape, queries: n, keys: n, hidden: h,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: layers.count), pass: options)

        // Word + position + token type embeddings, then LayerNorm.       x: (n, h)
        let types = input.typeIds ?? [Int](repeating: 0, count: n)
        var x = embed(input.ids, in: wordEmbeddings)
        x += embed(Array(0 ..< n), in: positionEmbeddings)
        x += embed(types, in: typeEmbeddings)
        embeddingNorm.normalize(&x)
        let mask = AttentionMask(keys: input.attentionMask)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)       // (n, h)
            stack.keepHidden(x, at: l + 1)
        }
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// The inputs' rows stacked (`[Σn, h]`), each input attending to itself only, its sites
    /// visited by its own visitor.
    public func compute(batch inputs: [ModelInput], _ options: [ForwardOptions]) throws -> [ModelOutput] {
        let h = config.hiddenSize
        let shape = layers[0].attention.shape
        let scales = StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: layers.count)
        var stacks = zip(inputs, options).map { input, pass in
            StackPass(.encoder, layers: layers.count, shape: shape, queries: input.ids.count, keys: input.ids.count,
                      hidden: h, scales: scales, pass: pass)
        }
        var segments: [Range<Int>] = []
        for input in inputs { segments.append((segments.last?.upperBound ?? 0) ..< (segments.last?.upperBound ?? 0) + input.ids.count) }
        let masks = inputs.map { AttentionMask(keys: $0.attentionMask) }

        var x: Tensor, first: Int
        switch StackPass.batchStart(stacks, segments: segments, width: h) {
        case nil:                                   // resumed at different layers: one at a time
            return try zip(inputs, options).map { try compute($0, $1) }
        case .resumed(let layer, let residual)?:    // a scan's cells, past the layers they cannot change
            (x, first) = (residual, layer)
        case .beginning?:
            // Word + position + token type embeddings of every input, stacked, then LayerNorm.   x: (Σn, h)
            let ids = inputs.flatMap(\.ids)
            let positions = inputs.flatMap { Array(0 ..< $0.ids.count) }
            let types = inputs.flatMap { $0.typeIds ?? [Int](repeating: 0, count: $0.ids.count) }
            x = embeddingNorm(embed(ids, in: wordEmbeddings) + embed(positions, in: positionEmbeddings) + embed(types, in: typeEmbeddings))
            for i in stacks.indices { stacks[i].keepHidden(x, rows: segments[i], at: 0) }
            first = 0
        }
        // Inputs whose last hidden state nobody reads stop after the last layer's attention.
        let needed = options.map(\.needsLastHidden)
        let lastFeedForward = needed.allSatisfy { $0 } || options.contains(where: { $0.sites != nil })
            ? nil : needed.indices.filter { needed[$0] }
        for l in first ..< layers.count {
            x = layers[l](x, segments: segments, masks: masks, stacks: &stacks, layer: l,
                          feedForwardInputs: l == layers.count - 1 ? lastFeedForward : nil)        // (Σn, h)
            for i in stacks.indices { stacks[i].keepHidden(x, rows: segments[i], at: l + 1) }
        }
        return zip(stacks, segments).enumerated().map { i, pass in
            let (stack, rows) = pass
            let last = needed[i] ? Tensor(shape: [rows.count, h], scalars: Array(x.scalars[rows.lowerBound * h ..< rows.upperBound * h]))
                                 : Tensor(shape: [0, h], scalars: [])
            return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: last)
        }
    }
}
