import AttnCore
import Foundation

/// The output heads of a checkpoint, in one place for every architecture: which tasks it can run
/// (`tasks`), its language-model head and its classifier. The model answers "no such head" from
/// here (`TransformerModel.languageModelLogits`), not in each file.
public struct OutputHeads: Sendable {
    var languageModel: LanguageModelHead?
    var classifier: ClassificationHead?

    init(languageModel: LanguageModelHead? = nil, classifier: ClassificationHead? = nil) {
        self.languageModel = languageModel
        self.classifier = classifier
    }

    /// The tasks the heads serve.
    public var tasks: Set<TaskHead> {
        var tasks: Set<TaskHead> = []
        if let languageModel { tasks.insert(languageModel.task) }
        if classifier != nil { tasks.insert(.classification) }
        return tasks
    }
}

/// A language-model head: vocabulary logits `[rows, vocab]` from final hidden states.
struct LanguageModelHead: Sendable {
    enum Kind: Sendable {
        /// BERT's family: dense → activation → LayerNorm → decoder (tied to the embeddings) + bias.
        case masked(MaskedLMHead)
        /// A projection `x · Wᵀ + b` with `W` `[vocab, hidden]` (tied embeddings or a head of its
        /// own), the input multiplied by `inputScale` first (T5 v1.0's d_model^-0.5); the bias is
        /// a buffer (BART's `final_logits_bias`).
        case projection(weight: Tensor, bias: Buffer?, inputScale: Float)
    }

    var kind: Kind
    /// masked-lm, causal-lm or seq2seq.
    var task: TaskHead

    static func masked(_ head: MaskedLMHead) -> LanguageModelHead { LanguageModelHead(kind: .masked(head), task: .maskedLM) }

    static func projection(_ weight: Tensor, bias: Tensor? = nil, inputScale: Float = 1, task: TaskHead) -> LanguageModelHead {
        LanguageModelHead(kind: .projection(weight: weight, bias: bias.map(Buffer.init), inputScale: inputScale), task: task)
    }

    func logits(_ hidden: Tensor) -> Tensor {
        switch kind {
        case .masked(let head):
            return head.logits(hidden)
        case .projection(let weight, let bias, let scale):
            var x = hidden
            if scale != 1 { x.apply { p, n in for i in 0 ..< n { p[i] *= scale } } }
            return tiedProjection(x, embeddings: weight, bias: bias?.tensor)
        }
    }
}

/// A sequence-classification head on the first token: an optional dense layer with its activation
/// (BERT's pooler, RoBERTa's `classifier.dense`, DistilBERT's `pre_classifier`), then the output.
struct ClassificationHead: Sendable {
    var dense: Linear?
    var denseActivation: Activation
    var output: Linear
    /// Class names in logit order: `id2label`, or `LABEL_i` as transformers names them.
    var labels: [String]

    init(dense: Linear?, activation: Activation = .tanh, output: Linear, id2label: [String: String]?) {
        self.dense = dense
        self.denseActivation = activation
        self.output = output
        labels = (0 ..< output.outFeatures).map { id2label?[String($0)] ?? "LABEL_\($0)" }
    }

    /// Logits `[labels]` of the first token's state `[1, hidden]`.
    func logits(_ first: Tensor) -> Tensor {
        var x = first
        if let dense {
            x = dense(x)
            x.apply { denseActivation($0, count: $1) }
        }
        return output(x).reshaped([output.outFeatures])
    }
}

/// A masked-LM head as BERT, RoBERTa, DistilBERT and ALBERT have it: dense → activation →
/// LayerNorm → a decoder tied to the word embeddings, plus a bias.
struct MaskedLMHead: Sendable {
    var dense: Linear            // [hidden → width]
    var norm: LayerNorm
    var decoder: Tensor          // [vocab, width]
    var bias: Tensor             // [vocab]
    var activation: Activation

    /// The head under `dense`, `norm`, `decoder` and `bias` (full names), or nil when the checkpoint
    /// has no `dense` weight. Without a decoder name, or without that tensor in the file, the
    /// decoder is the word embeddings; `decoderBias` is the other name the bias may be saved under.
    init?(_ w: WeightLoader, dense: String, norm: String, decoder: String?, bias: String, decoderBias: String? = nil,
          hidden: Int, width: Int, vocabulary: Int, eps: Float, embeddings: Tensor, activation: Activation) throws {
        guard let weight = try w.optional("\(dense).weight", [width, hidden]) else { return nil }
        self.dense = Linear(weight: weight, bias: try w.take("\(dense).bias", [width]))
        self.norm = try LayerNorm(w, norm, dim: width, eps: eps, base: false)
        self.decoder = tied(try decoder.flatMap { try w.optional($0, [vocabulary, width]) }, to: embeddings)
        // The bias may be saved under either name, or both (one tensor in PyTorch).
        self.bias = try w.optional(bias, [vocabulary]) ?? decoderBias.flatMap { try w.optional($0, [vocabulary]) }
            ?? w.take(bias, [vocabulary])
        self.activation = activation
    }

    /// Vocabulary logits `[rows, vocab]` of hidden states `[rows, hidden]`.
    func logits(_ hidden: Tensor) -> Tensor {
        var x = dense(hidden)                               // (rows, width)
        x.apply { activation($0, count: $1) }
        return tiedProjection(norm(x), embeddings: decoder, bias: bias)
    }
}

/// A weight that a checkpoint may tie to another (an LM head to the embeddings): `source` when the
/// file has no tensor of its own, or a copy with the same values (a `.bin` stores tied weights
/// under every name), so that the model keeps one array.
func tied(_ candidate: Tensor?, to source: Tensor) -> Tensor {
    guard let candidate, candidate != source else { return source }
    return candidate
}
