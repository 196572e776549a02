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

/// What a forward pass is asked for besides its input: what to capture, the site visitor through
/// which interventions act (nil for none), and how many threads it uses. The thread count is
/// stated here, never taken from a process-wide setting, so concurrent passes do not interfere.
public struct ForwardOptions: Sendable {
    public var capture: CaptureOptions
    public var sites: SiteVisitor?
    public var threads: Int
    /// False when nothing reads the pass's last hidden state (a pair traced for its attention,
    /// whose similarity comes from each sentence's own pass): a batched pass may then skip the
    /// last layer's feed-forward block for this input's rows, and its `lastHidden` is empty
    /// (`[0, hidden]`). Ignored with hidden states captured or a site visitor.
    public var keepsLastHidden: Bool

    public init(capture: CaptureOptions = [], sites: SiteVisitor? = nil, threads: Int = Parallel.threads, keepsLastHidden: Bool = true) {
        self.capture = capture
        self.sites = sites
        self.threads = max(1, threads)
        self.keepsLastHidden = keepsLastHidden
    }

    /// Whether the pass must compute its last hidden state.
    var needsLastHidden: Bool { keepsLastHidden || capture.contains(.hidden) || sites != nil }
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
    /// The threads the pass ran on.
    public var threads: Int = 1

    public init(stacks: [StackKind: AttentionStack], lastHidden: Tensor, threads: Int = 1) {
        self.stacks = stacks
        self.lastHidden = lastHidden
        self.threads = threads
    }
}

/// Sizes and names of a loaded model, for `attnlab models` and the bench.
public struct ModelSummary: Sendable, Equatable {
    public var architecture: String
    public var layers: Int
    public var heads: Int
    /// Key/value heads (fewer than `heads` with grouped-query attention).
    public var keyValueHeads: Int
    public var hidden: Int
    /// Width of the feed-forward layer.
    public var intermediate: Int
    public var vocabulary: Int
    public var maxPositions: Int

    public init(architecture: String, layers: Int, heads: Int, keyValueHeads: Int? = nil, hidden: Int, intermediate: Int,
                vocabulary: Int, maxPositions: Int) {
        self.architecture = architecture
        self.layers = layers
        self.heads = heads
        self.keyValueHeads = keyValueHeads ?? heads
        self.hidden = hidden
        self.intermediate = intermediate
        self.vocabulary = vocabulary
        self.maxPositions = maxPositions
    }
}

/// The output heads a checkpoint carries.
public enum TaskHead: String, Sendable, Hashable, CaseIterable {
    case maskedLM = "masked-lm"
    case classification
    case causalLM = "causal-lm"
    case seq2seq
}

/// A model AttnLab runs natively. One file per architecture implements it on the layer kit
/// (`Layers/`); docs/adding-an-architecture.md tells how.
public protocol TransformerModel: AnyObject, Sendable {
    var summary: ModelSummary { get }
    /// The language-model and classification heads the checkpoint has weights for.
    var outputHeads: OutputHeads { get }
    /// Token types the embeddings know (0 when the model has none).
    var typeVocabulary: Int { get }
    /// The forward pass proper, top to bottom; `forward(_:options:)` checks the input and sets the
    /// threads before calling it.
    func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput
    /// Several inputs in one pass, each weight read once per layer for all of them (rows stacked),
    /// each input with its own options (the captures and threads are the first's; the site
    /// visitors are each input's own); the default runs them one after the other.
    func compute(batch inputs: [ModelInput], _ options: [ForwardOptions]) throws -> [ModelOutput]
    /// Floating-point operations of one forward pass on `tokens` tokens (linear layers and the two
    /// attention products), for the bench's GFLOP/s.
    func forwardFLOPs(tokens: Int) -> Double
}

extension TransformerModel {
    public var typeVocabulary: Int { 0 }

    /// Runs the model, capturing every layer's attention (and more on request), with the
    /// options' interventions, on the options' threads.
    public func forward(_ input: ModelInput, options: ForwardOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary, typeVocabulary: typeVocabulary)
        var output = try Parallel.run(threads: options.threads) { try compute(input, options) }
        output.threads = options.threads
        return output
    }

    /// Runs the model on several inputs at once, as `forward(_:options:)` runs each: the outputs in
    /// the inputs' order, each within float rounding (about 1e-7) of its pass alone, and the same
    /// bits whatever the thread count. The architectures that can (BERT) stack the inputs' rows,
    /// so that each weight is read once per layer for all of them.
    public func forward(_ inputs: [ModelInput], options: ForwardOptions) throws -> [ModelOutput] {
        try forward(inputs, options: [ForwardOptions](repeating: options, count: inputs.count))
    }

    /// Several inputs at once, each with its own site visitor (a scan's cells: each patches its own
    /// head, all resuming at the same layer); the captures and threads are the first options'.
    public func forward(_ inputs: [ModelInput], options: [ForwardOptions]) throws -> [ModelOutput] {
        precondition(inputs.count == options.count, "one options value per input")
        guard let threads = options.first?.threads else { return [] }
        for input in inputs { try validateInput(input, summary: summary, typeVocabulary: typeVocabulary) }
        let shared = options.map {
            ForwardOptions(capture: options[0].capture, sites: $0.sites, threads: threads, keepsLastHidden: $0.keepsLastHidden)
        }
        var outputs = try Parallel.run(threads: threads) {
            inputs.count > 1 ? try compute(batch: inputs, shared) : [try compute(inputs[0], shared[0])]
        }
        for i in outputs.indices { outputs[i].threads = threads }
        return outputs
    }

    public func compute(batch inputs: [ModelInput], _ options: [ForwardOptions]) throws -> [ModelOutput] {
        try zip(inputs, options).map { try compute($0, $1) }
    }

    /// Runs the model without interventions on the calling thread's budget.
    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try forward(input, options: ForwardOptions(capture: capture))
    }

    /// The heads the checkpoint has weights for.
    public var taskHeads: Set<TaskHead> { outputHeads.tasks }

    /// Class names of a classification head, in logit order.
    public var labels: [String]? { outputHeads.classifier?.labels }

    /// Vocabulary logits `[positions, vocab]` of the language-model head at some positions.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        guard let head = outputHeads.languageModel else {
            throw ModelError("this \(summary.architecture) checkpoint has no language-model head",
                             hint: "use a checkpoint with one (for example a *ForMaskedLM model), or another task")
        }
        return head.logits(try rows(positions, of: output.lastHidden))
    }

    /// Class logits `[labels]`, from the first token's final hidden state.
    public func classificationLogits(_ output: ModelOutput) throws -> Tensor {
        guard let head = outputHeads.classifier else {
            throw ModelError("this \(summary.architecture) checkpoint has no classification head",
                             hint: "use a *ForSequenceClassification checkpoint, or another task")
        }
        return head.logits(try rows([0], of: output.lastHidden))
    }

    /// The parameters the model holds: every tensor it keeps, a tensor shared by two parts (tied
    /// embeddings) counted once, as PyTorch's `num_parameters()` counts them.
    public var parameterCount: Int { countParameters(self) }

    /// An encoder stack's cost: per layer, 2·n·(4h² + 2hm) for the projections and feed-forward,
    /// and 2·2·n²·h for q·kᵀ and attention·v.
    public func forwardFLOPs(tokens n: Int) -> Double {
        let (h, m, n) = (Double(summary.hidden), Double(summary.intermediate), Double(n))
        return Double(summary.layers) * (2 * n * (4 * h * h + 2 * h * m) + 4 * n * n * h)
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
