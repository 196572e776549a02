import AttnCore
import Foundation

/// BERT (and BERT-shaped checkpoints: MiniLM, sentence-transformers, …), as transformers'
/// `modeling_bert.py` computes it with eager attention.
public struct BertConfig: Codable, Sendable {
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
}

/// A LayerNorm's weights.
struct LayerNormWeights: Sendable {
    var gamma: Tensor
    var beta: Tensor
    var eps: Float

    init(_ loader: WeightLoader, _ name: String, dim: Int, eps: Float, base: Bool = true) {
        gamma = base ? loader.base("\(name).weight", [dim]) : loader.take("\(name).weight", [dim])
        beta = base ? loader.base("\(name).bias", [dim]) : loader.take("\(name).bias", [dim])
        self.eps = eps
    }

    func callAsFunction(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        let dim = gamma.count
        gamma.withUnsafeBufferPointer { g in
            beta.withUnsafeBufferPointer { b in
                Parallel.forRanges(rows, minimum: 64) { range in
                    Kernels.layerNorm(x + range.lowerBound * dim, rows: range.count, dim: dim,
                                      gamma: g.baseAddress!, beta: b.baseAddress!, eps: eps)
                }
            }
        }
    }
}

private struct BertLayer: Sendable {
    var qkv: Linear            // query, key and value fused: [3·hidden, hidden]
    var attentionOutput: Linear
    var attentionNorm: LayerNormWeights
    var intermediate: Linear
    var output: Linear
    var outputNorm: LayerNormWeights

    init(_ w: WeightLoader, _ i: Int, _ c: BertConfig) {
        let (h, m, eps) = (c.hiddenSize, c.intermediateSize, c.layerNormEps ?? 1e-12)
        let p = "encoder.layer.\(i)."
        let parts = ["query", "key", "value"]
        qkv = Linear(weight: Tensor(shape: [3 * h, h], scalars: parts.flatMap { w.base(p + "attention.self.\($0).weight", [h, h]).scalars }),
                     bias: Tensor(shape: [3 * h], scalars: parts.flatMap { w.base(p + "attention.self.\($0).bias", [h]).scalars }))
        attentionOutput = Linear(weight: w.base(p + "attention.output.dense.weight", [h, h]), bias: w.base(p + "attention.output.dense.bias", [h]))
        attentionNorm = LayerNormWeights(w, p + "attention.output.LayerNorm", dim: h, eps: eps)
        intermediate = Linear(weight: w.base(p + "intermediate.dense.weight", [m, h]), bias: w.base(p + "intermediate.dense.bias", [m]))
        output = Linear(weight: w.base(p + "output.dense.weight", [h, m]), bias: w.base(p + "output.dense.bias", [h]))
        outputNorm = LayerNormWeights(w, p + "output.LayerNorm", dim: h, eps: eps)
    }
}

/// BERT's encoder with its optional heads: the pooler, a classifier, and the masked-LM head whose
/// decoder is tied to the word embeddings.
public final class BertModel: TransformerModel {
    public let config: BertConfig
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>
    public let labels: [String]?
    private let activation: FeedForwardActivation

    private let wordEmbeddings: Tensor      // [vocab, hidden]
    private let positionEmbeddings: Tensor  // [maxPositions, hidden]
    private let typeEmbeddings: Tensor      // [types, hidden]
    private let embeddingNorm: LayerNormWeights
    private let layers: [BertLayer]
    private let pooler: Linear?
    private let classifier: Linear?
    private let maskedLM: MaskedLMHead?

    public init(config c: BertConfig, weights: WeightStore, path: String) throws {
        config = c
        guard c.hiddenSize % c.numAttentionHeads == 0 else {
            throw ModelError("hidden_size \(c.hiddenSize) is not a multiple of num_attention_heads \(c.numAttentionHeads)", location: path)
        }
        if let kind = c.positionEmbeddingType, kind != "absolute" {
            throw ModelError("position_embedding_type \"\(kind)\" is not supported", location: path, hint: "AttnLab runs BERT with absolute positions")
        }
        activation = try FeedForwardActivation(named: c.hiddenAct ?? "gelu", path: path)
        let (h, eps, types) = (c.hiddenSize, c.layerNormEps ?? 1e-12, c.typeVocabSize ?? 2)
        let w = WeightLoader(store: weights, probe: "embeddings.word_embeddings.weight", prefixes: ["", "bert.", "model."])
        wordEmbeddings = w.base("embeddings.word_embeddings.weight", [c.vocabSize, h])
        positionEmbeddings = w.base("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, h])
        typeEmbeddings = w.base("embeddings.token_type_embeddings.weight", [types, h])
        embeddingNorm = LayerNormWeights(w, "embeddings.LayerNorm", dim: h, eps: eps)
        layers = (0 ..< c.numHiddenLayers).map { BertLayer(w, $0, c) }

        let poolerWeight = w.optional(w.prefix + "pooler.dense.weight", [h, h])
        pooler = poolerWeight.map { Linear(weight: $0, bias: w.base("pooler.dense.bias", [h])) }
        if let weight = w.optional("classifier.weight", [c.id2label?.count ?? (weights.shape(of: "classifier.weight")?.first ?? 2), h]) {
            classifier = Linear(weight: weight, bias: w.take("classifier.bias", [weight.shape[0]]))
            labels = classLabels(weight.shape[0], c.id2label)
        } else {
            classifier = nil
            labels = nil
        }
        // The decoder is always the word embeddings (transformers ties them).
        maskedLM = MaskedLMHead(w, dense: "cls.predictions.transform.dense", norm: "cls.predictions.transform.LayerNorm",
                                decoder: nil, bias: "cls.predictions.bias", hidden: h, width: h, vocabulary: c.vocabSize,
                                eps: eps, embeddings: wordEmbeddings, activation: activation)
        try w.finish(architecture: "BERT")

        var heads: Set<TaskHead> = []
        if maskedLM != nil { heads.insert(.maskedLM) }
        if classifier != nil && pooler != nil { heads.insert(.classification) }
        taskHeads = heads
        let perLayer = 4 * h * h + 4 * h + 2 * h * c.intermediateSize + c.intermediateSize + h + 4 * h
        summary = ModelSummary(architecture: "bert", layers: c.numHiddenLayers, heads: c.numAttentionHeads, hidden: h,
                               intermediate: c.intermediateSize, vocabulary: c.vocabSize, maxPositions: c.maxPositionEmbeddings,
                               parameters: (c.vocabSize + c.maxPositionEmbeddings + types) * h + 2 * h + c.numHiddenLayers * perLayer
                                   + (pooler == nil ? 0 : h * h + h))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary, typeVocabulary: typeEmbeddings.shape[0])
        let n = input.ids.count                       // tokens
        let (h, heads) = (config.hiddenSize, config.numAttentionHeads)
        let (d, m, L) = (h / heads, config.intermediateSize, layers.count)
        let types = input.typeIds ?? [Int](repeating: 0, count: n)

        // Capture buffers, each filled completely below.
        var attention = Tensor(uninitialized: [L, heads, n, n])
        var query = capture.contains(.qkv) ? Tensor(uninitialized: [L, heads, n, d]) : nil
        var key = capture.contains(.qkv) ? Tensor(uninitialized: [L, heads, n, d]) : nil
        var value = capture.contains(.qkv) ? Tensor(uninitialized: [L, heads, n, d]) : nil
        var hidden = capture.contains(.hidden) ? Tensor(uninitialized: [L + 1, n, h]) : nil

        // Embeddings: word + position + token type, then LayerNorm.       x: (n, h)
        var x = Tensor(zeros: [n, h])
        x.withUnsafeMutableBufferPointer { xs in
            for i in 0 ..< n {
                let row = xs.baseAddress! + i * h
                for j in 0 ..< h {
                    row[j] = wordEmbeddings.scalars[input.ids[i] * h + j] + positionEmbeddings.scalars[i * h + j]
                        + typeEmbeddings.scalars[types[i] * h + j]
                }
            }
            embeddingNorm(xs.baseAddress!, rows: n)
        }
        hidden?.scalars.replaceSubrange(0 ..< n * h, with: x.scalars)

        var qkv = Tensor(zeros: [n, 3 * h])      // (n, 3h): q | k | v, heads interleaved within each
        var context = Tensor(zeros: [n, h])      // (n, h)
        var attended = Tensor(zeros: [n, h])     // (n, h)
        var inner = Tensor(zeros: [n, m])        // (n, m)
        let mask = AttentionMask(keys: input.attentionMask)
        for (l, layer) in layers.enumerated() {
            x.withUnsafeMutableBufferPointer { xs in
            qkv.withUnsafeMutableBufferPointer { qkvs in
            context.withUnsafeMutableBufferPointer { ctx in
            attended.withUnsafeMutableBufferPointer { att in
            inner.withUnsafeMutableBufferPointer { mid in
            attention.withUnsafeMutableBufferPointer { probs in
                let (x, qkv, ctx, att, mid) = (xs.baseAddress!, qkvs.baseAddress!, ctx.baseAddress!, att.baseAddress!, mid.baseAddress!)
                // Self-attention: softmax(q·kᵀ/√d)·v per head.      probs[l]: (heads, n, n)
                layer.qkv.apply(x, rows: n, into: qkv)
                multiHeadAttention(HeadLayout(heads: heads, headDim: d, queries: n, keys: n),
                                   q: qkv, ldq: 3 * h, k: qkv + h, ldk: 3 * h, v: qkv + 2 * h, ldv: 3 * h,
                                   scale: 1 / Float(d).squareRoot(), mask: mask,
                                   probabilities: probs.baseAddress! + l * heads * n * n, context: ctx, ldc: h)
                // Output projection, residual, LayerNorm.          att: (n, h)
                layer.attentionOutput.apply(ctx, rows: n, into: att)
                Kernels.add(att, x, count: n * h)
                layer.attentionNorm(att, rows: n)
                // Feed-forward, residual, LayerNorm.               mid: (n, m) → x: (n, h)
                layer.intermediate.apply(att, rows: n, into: mid)
                activation(mid, count: n * m)
                layer.output.apply(mid, rows: n, into: x)
                Kernels.add(x, att, count: n * h)
                layer.outputNorm(x, rows: n)
            }}}}}}
            if capture.contains(.qkv) {
                // Keep this layer's q, k, v per head.               (heads, n, d) each
                let block = l * heads * n * d
                qkv.withUnsafeBufferPointer { source in
                    func keep(_ target: inout Tensor?, offset: Int) {
                        target!.withUnsafeMutableBufferPointer {
                            splitHeads(source.baseAddress!, ld: 3 * h, offset: offset, rows: n, heads: heads, headDim: d,
                                       into: $0.baseAddress! + block)
                        }
                    }
                    keep(&query, offset: 0)
                    keep(&key, offset: h)
                    keep(&value, offset: 2 * h)
                }
            }
            hidden?.scalars.replaceSubrange((l + 1) * n * h ..< (l + 2) * n * h, with: x.scalars)
        }
        let stack = AttentionStack(attention: attention, query: query, key: key, value: value, hidden: hidden)
        return ModelOutput(stacks: [.encoder: stack], lastHidden: x)
    }

    /// The masked-LM head at some positions: dense → activation → LayerNorm → tied decoder + bias.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        guard let maskedLM else {
            throw ModelError("this BERT checkpoint has no masked-LM head (no cls.predictions.* tensors)",
                             hint: "use a BertForMaskedLM checkpoint, or the similarity or classification task")
        }
        return maskedLM.logits(try rows(positions, of: output.lastHidden))
    }

    /// The classification head: pooler (tanh of a dense layer on `[CLS]`) then the classifier.
    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        guard let pooler, let classifier else {
            throw ModelError("this BERT checkpoint has no classification head (no pooler and classifier tensors)",
                             hint: "use a BertForSequenceClassification checkpoint, or another task")
        }
        let h = config.hiddenSize
        var pooled = pooler(Tensor(shape: [1, h], scalars: Array(output.lastHidden.scalars[0 ..< h])))
        pooled.scalars = pooled.scalars.map { Foundation.tanh($0) }
        return classifier(pooled).reshaped([classifier.outFeatures])
    }
}
