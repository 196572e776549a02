import AttnCore
import Foundation

/// What a trace computes besides attention.
public enum ModelTask: String, Sendable, CaseIterable, Codable {
    /// Cosine similarity of the two sentences' pooled embeddings (sentence-transformers).
    case similarity
    /// Class probabilities from a sequence-classification head.
    case classification
    /// Top-k predictions at each mask token.
    case maskedLM = "masked-lm"
    /// Top-k next-token predictions (decoder-only models).
    case causalLM = "causal-lm"
    /// Top-k predictions of an encoder-decoder's decoder, teacher-forced.
    case seq2seq
    /// Attention (and whatever is captured) only.
    case attention
}

/// One forward pass to trace.
public struct TraceRequest: Sendable {
    public var a: String
    public var b: String?
    /// The decoder's input of an encoder-decoder model.
    public var decoderText: String?
    /// Nil: the model's natural task (see `LoadedModel.defaultTask`).
    public var task: ModelTask?
    public var capture: CaptureOptions
    /// Cut inputs longer than the model takes instead of failing.
    public var truncate: Bool
    /// Candidates kept per predicted position.
    public var topK: Int
    /// Tokens whose probability is kept at every predicted position, whatever their rank.
    public var watchedTokens: [String] = []
    /// Threads of each forward pass.
    public var threads = 1

    public init(a: String, b: String? = nil, decoderText: String? = nil, task: ModelTask? = nil,
                capture: CaptureOptions = [], truncate: Bool = false, topK: Int = 5) {
        self.a = a
        self.b = b
        self.decoderText = decoderText
        self.task = task
        self.capture = capture
        self.truncate = truncate
        self.topK = topK
    }
}

/// A model folder loaded once: the architecture, its tokenizer and its sentence pooling, ready to
/// trace any number of inputs (from several threads).
public final class LoadedModel: @unchecked Sendable {
    public let folder: ModelFolder
    public let model: TransformerModel
    public let tokenizer: any Tokenizer
    /// The decoder's tokenizer of an encoder-decoder (Marian's target side; otherwise `tokenizer`).
    public let decoderTokenizer: any Tokenizer
    /// The folder's sentence-transformers pooling, if it has one.
    public let pooling: SentencePooling?
    public let modelType: String
    /// SHA-256 of the weight files and of the tokenizer files.
    public let weightsHash: String
    public let tokenizerHash: String

    /// Loads a model given as a folder, an id under Models/, or a Hugging Face id in the cache.
    public convenience init(_ spec: String, locator: ModelLocator = .standard()) throws {
        try self.init(folder: try locator.resolve(spec))
    }

    public init(folder: ModelFolder) throws {
        self.folder = folder
        let config = try ModelConfig(folder: folder.url)
        modelType = config.modelType
        let weights: WeightStore
        (model, weights) = try ModelRegistry.loadWithWeights(folder: folder.url)
        tokenizer = try TokenizerLoader.load(folder: folder.url)
        decoderTokenizer = model.taskHeads.contains(.seq2seq) ? try TokenizerLoader.load(folder: folder.url, side: .target) : tokenizer
        pooling = try SentencePooling.read(folder: folder.url)
        weightsHash = try weights.contentHash()
        var hasher = SHA256()
        for file in tokenizer.sourceFiles.sorted(by: { $0.path < $1.path }) {
            hasher.update(Data(try SHA256.hash(fileAt: file.path).utf8))
        }
        tokenizerHash = hasher.finalize()
    }

    /// The task a trace computes when none is asked for: similarity for a sentence-transformers
    /// model given a pair, classification when the checkpoint has a classifier, masked-LM when it
    /// has that head and the text holds a mask token, otherwise attention only.
    public func defaultTask(for request: TraceRequest) -> ModelTask {
        if model.taskHeads.contains(.seq2seq) { return .seq2seq }
        if model.taskHeads.contains(.causalLM) { return .causalLM }
        if pooling != nil && request.b != nil { return .similarity }
        if model.taskHeads.contains(.classification) { return .classification }
        if model.taskHeads.contains(.maskedLM), let mask = tokenizer.maskToken,
           request.a.contains(mask) || (request.b?.contains(mask) ?? false) { return .maskedLM }
        return .attention
    }

    /// Runs the model on the request and returns the trace: every layer's attention, what was asked
    /// to be captured, and the task's outputs.
    public func trace(_ request: TraceRequest) throws -> Trace {
        let task = request.task ?? defaultTask(for: request)
        let limit = model.summary.maxPositions
        let encoding = try tokenizer.encode(request.a, pair: request.b, maxLength: limit, truncate: request.truncate)
        // An encoder-decoder reads the decoder text teacher-forced, as BertViz's example does.
        var decoding: Encoding?
        if model.taskHeads.contains(.seq2seq) {
            guard let decoderText = request.decoderText else {
                throw ModelError("this \(modelType) model is an encoder-decoder: it needs the decoder's input text",
                                 hint: "give it with --decoder-text (decoder: in an experiment), for example the translation")
            }
            decoding = try decoderTokenizer.encode(decoderText, pair: nil, maxLength: limit, truncate: request.truncate)
        } else if request.decoderText != nil {
            throw ModelError("this \(modelType) model has no decoder", hint: "leave out --decoder-text")
        }
        let output = try model.forward(ModelInput(ids: encoding.ids, typeIds: encoding.typeIds, decoderIds: decoding?.ids),
                                       options: ForwardOptions(capture: request.capture, threads: request.threads))

        var outputs = TraceOutputs()
        var logits: Tensor?
        switch task {
        case .attention:
            break
        case .similarity:
            guard let b = request.b else {
                throw ModelError("the similarity task needs a pair of sentences",
                                 hint: "give sentence B (--pair on the command line, b: in an experiment)")
            }
            // Each sentence on its own, as sentence-transformers encodes them.
            let pooling = self.pooling ?? SentencePooling(mode: .mean, normalize: true)
            let embeddings = try [request.a, b].map { text -> [Double] in
                let single = try tokenizer.encode(text, pair: nil, maxLength: limit, truncate: request.truncate)
                return pooling.pool(try model.forward(ModelInput(ids: single.ids, typeIds: single.typeIds),
                                                     options: ForwardOptions(threads: request.threads)).lastHidden)
            }
            outputs.similarity = SentencePooling.cosine(embeddings[0], embeddings[1])
        case .classification:
            let classLogits = try model.classificationLogits(output)
            logits = classLogits
            outputs.labels = model.labels
            outputs.probabilities = Self.softmax(classLogits.scalars)
        case .maskedLM:
            guard let maskID = tokenizer.maskTokenID else {
                throw ModelError("this tokenizer has no mask token", hint: "use a masked language model for the masked-lm task")
            }
            let positions = encoding.ids.indices.filter { encoding.ids[$0] == maskID }
            guard !positions.isEmpty else {
                throw ModelError("the masked-lm task needs a \(tokenizer.maskToken ?? "mask") token in the text",
                                 hint: "write \(tokenizer.maskToken ?? "the mask token") where the model should predict a word")
            }
            let vocabulary = try model.languageModelLogits(output, positions: positions)
            outputs.topk = topK(vocabulary, positions: positions, k: request.topK, watching: request.watchedTokens)
        case .causalLM, .seq2seq:
            // The next token after every position (of the decoder, for an encoder-decoder).
            let positions = Array(0 ..< output.lastHidden.shape[0])
            let vocabulary = try model.languageModelLogits(output, positions: positions)
            outputs.topk = topK(vocabulary, positions: positions, k: request.topK, watching: request.watchedTokens,
                                tokenizer: task == .seq2seq ? decoderTokenizer : tokenizer)
        }
        let provenance = Provenance(model: folder.id, architecture: modelType, weightsHash: weightsHash,
                                    tokenizerHash: tokenizerHash, task: task.rawValue, capture: request.capture.names)
        return Trace(inputs: TraceInputs(a: request.a, b: request.b, decoder: request.decoderText),
                     tokens: encoding.tokens, decoderTokens: decoding?.tokens, tokenTypeIds: encoding.typeIds,
                     stacks: output.stacks, outputs: outputs,
                     logits: logits, provenance: provenance)
    }

    /// The `k` most probable tokens at each position of `[positions, vocab]` logits.
    func topK(_ logits: Tensor, positions: [Int], k: Int, watching watched: [String] = [],
              tokenizer: (any Tokenizer)? = nil) -> [TopKPrediction] {
        let tokenizer = tokenizer ?? self.tokenizer
        let vocabulary = logits.shape[1]
        return positions.enumerated().map { row, position in
            let probabilities = Self.softmax(Array(logits.scalars[row * vocabulary ..< (row + 1) * vocabulary]))
            // Highest probability first; equal ones by id, so the order never depends on the sort.
            let best = probabilities.indices.sorted { (i: Int, j: Int) -> Bool in
                probabilities[i] != probabilities[j] ? probabilities[i] > probabilities[j] : i < j
            }.prefix(k)
            let watchedCandidates = watched.compactMap { token in
                tokenizer.id(for: token).map { Candidate(token: token, id: $0, probability: probabilities[$0]) }
            }
            return TopKPrediction(position: position, candidates: best.map {
                Candidate(token: tokenizer.token(for: $0) ?? "<\($0)>", id: $0, probability: probabilities[$0])
            }, watched: watchedCandidates.isEmpty ? nil : watchedCandidates)
        }
    }

    /// Softmax in double precision.
    static func softmax(_ logits: [Float]) -> [Double] {
        let maximum = Double(logits.max() ?? 0)
        let exps = logits.map { Foundation.exp(Double($0) - maximum) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
