import AttnCore

/// What a forward pass keeps beyond the attention probabilities, which it always keeps.
public struct CaptureOptions: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Per-head queries, keys and values.
    public static let qkv = CaptureOptions(rawValue: 1)
    /// Hidden states after the embeddings and after every layer.
    public static let hidden = CaptureOptions(rawValue: 2)

    /// The names used on the command line and in provenance (`qkv`, `hidden`).
    public var names: [String] {
        (contains(.qkv) ? ["qkv"] : []) + (contains(.hidden) ? ["hidden"] : [])
    }
}

/// One input to a forward pass: token ids, and what the architecture needs besides.
public struct ModelInput: Sendable {
    public var ids: [Int]
    /// Segment ids (BERT's token types); nil for zeros.
    public var typeIds: [Int]?
    /// False at padding positions, which no token may attend to; nil when there is no padding.
    public var attentionMask: [Bool]?
    /// The decoder's input ids of an encoder-decoder model (teacher-forced).
    public var decoderIds: [Int]?

    public init(ids: [Int], typeIds: [Int]? = nil, attentionMask: [Bool]? = nil, decoderIds: [Int]? = nil) {
        self.ids = ids
        self.typeIds = typeIds
        self.attentionMask = attentionMask
        self.decoderIds = decoderIds
    }
}

/// What a forward pass returns.
public struct ModelOutput: Sendable {
    public var stacks: [StackKind: AttentionStack]
    /// The last layer's hidden states `[n, hidden]` (of the decoder, for encoder-decoders).
    public var lastHidden: Tensor
}

/// Sizes and names of a loaded model, for `attnlab models` and the bench.
public struct ModelSummary: Sendable, Equatable {
    public var architecture: String
    public var layers: Int
    public var heads: Int
    public var hidden: Int
    /// Width of the feed-forward layer.
    public var intermediate: Int
    public var vocabulary: Int
    public var maxPositions: Int
    public var parameters: Int
}

/// The output heads a checkpoint carries.
public enum TaskHead: String, Sendable, Hashable, CaseIterable {
    case maskedLM = "masked-lm"
    case classification
    case causalLM = "causal-lm"
    case seq2seq
}

/// A model AttnLab runs natively. One file per architecture implements it.
public protocol TransformerModel: AnyObject, Sendable {
    var summary: ModelSummary { get }
    /// The heads the checkpoint has weights for.
    var taskHeads: Set<TaskHead> { get }
    /// Class names of a classification head, in logit order.
    var labels: [String]? { get }
    /// Runs the model, capturing every layer's attention (and more on request).
    func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput
    /// Vocabulary logits `[positions, vocab]` of the language-model head at some positions.
    func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor
    /// Class logits `[labels]`.
    func classificationLogits(_ output: ModelOutput) throws -> Tensor
    /// Floating-point operations of one forward pass on `tokens` tokens (linear layers and the two
    /// attention products), for the bench's GFLOP/s.
    func forwardFLOPs(tokens: Int) -> Double
}

extension TransformerModel {
    public var labels: [String]? { nil }

    /// An encoder stack's cost: per layer, 2·n·(4h² + 2hm) for the projections and feed-forward,
    /// and 2·2·n²·h for q·kᵀ and attention·v.
    public func forwardFLOPs(tokens n: Int) -> Double {
        let (h, m, n) = (Double(summary.hidden), Double(summary.intermediate), Double(n))
        return Double(summary.layers) * (2 * n * (4 * h * h + 2 * h * m) + 4 * n * n * h)
    }

    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        throw ModelError("this \(summary.architecture) checkpoint has no language-model head",
                         hint: "use a checkpoint with one (for example a *ForMaskedLM model), or another task")
    }

    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        throw ModelError("this \(summary.architecture) checkpoint has no classification head",
                         hint: "use a *ForSequenceClassification checkpoint, or another task")
    }
}

/// Checks that ids fit the model before a forward pass runs.
public func validateInput(_ input: ModelInput, summary: ModelSummary, typeVocabulary: Int = 0) throws {
    guard !input.ids.isEmpty else { throw ModelError("the input has no tokens") }
    guard input.ids.count <= summary.maxPositions else {
        throw ModelError("the input has \(input.ids.count) tokens but the model takes at most \(summary.maxPositions)",
                         hint: "shorten the text or pass --truncate")
    }
    if let bad = input.ids.first(where: { $0 < 0 || $0 >= summary.vocabulary }) {
        throw ModelError("token id \(bad) is outside the vocabulary of \(summary.vocabulary)",
                         hint: "the tokenizer does not belong to this model")
    }
    if let types = input.typeIds {
        guard types.count == input.ids.count else { throw ModelError("\(types.count) token types for \(input.ids.count) tokens") }
        if typeVocabulary > 0, let bad = types.first(where: { $0 < 0 || $0 >= typeVocabulary }) {
            throw ModelError("token type \(bad) is outside the model's \(typeVocabulary) types")
        }
    }
    if let mask = input.attentionMask, mask.count != input.ids.count {
        throw ModelError("an attention mask of \(mask.count) for \(input.ids.count) tokens")
    }
}
