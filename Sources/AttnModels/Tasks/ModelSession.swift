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
    /// Tokens whose probability is kept at every predicted position, whatever their rank: a
    /// vocabulary spelling (`ĠParis`), or text the tokenizer makes one token of (` Paris`).
    public var watchedTokens: [String] = []
    /// Threads of each forward pass.
    public var threads = 1
    /// causal-lm: predict the next token after every position, not only after the last one.
    public var allPositions = false
    /// `a` is a rendered chat prompt (`LoadedModel.renderChat`) that holds its special tokens
    /// already: it is tokenized without adding any, as transformers' `apply_chat_template` does.
    public var chat = false

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

/// Which forward pass of a request: the joint one over the whole input, or one sentence alone (the
/// similarity task encodes each sentence on its own).
public enum PassRole: String, Sendable, Hashable, CaseIterable {
    case joint, sentenceA = "a", sentenceB = "b"
}

/// One forward pass of a request: its tokens (and decoder tokens), and the texts they come from.
public struct PassInput: Sendable {
    public var role: PassRole
    public var encoding: Encoding
    public var decoding: Encoding?
    public var inputs: TraceInputs
}

/// Gives a forward pass its site visitor (nil for none): interventions resolved to its tokens.
public typealias PassPlanner = (PassInput) throws -> SiteVisitor?

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
            hasher.update(Data(try FileHashCache.shared.sha256(ofFileAt: file.path).utf8))
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

    /// The forward passes a request needs: the joint pass over the whole input (whose attention the
    /// trace holds), and for the similarity task each sentence on its own, as sentence-transformers
    /// encodes them (their pooled embeddings give the similarity).
    public func passes(for request: TraceRequest) throws -> [PassInput] {
        let task = request.task ?? defaultTask(for: request)
        let limit = model.summary.maxPositions
        if request.chat, request.b != nil {
            throw ModelError("a chat prompt is one text", hint: "leave out sentence B (--pair)")
        }
        let encoding = request.chat ? try tokenizer.encodeRendered(request.a, maxLength: limit, truncate: request.truncate)
            : try tokenizer.encode(request.a, pair: request.b, maxLength: limit, truncate: request.truncate)
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
        let inputs = TraceInputs(a: request.a, b: request.b, decoder: request.decoderText)
        var passes = [PassInput(role: .joint, encoding: encoding, decoding: decoding, inputs: inputs)]
        if task == .similarity {
            guard let b = request.b else {
                throw ModelError("the similarity task needs a pair of sentences",
                                 hint: "give sentence B (--pair on the command line, b: in an experiment)")
            }
            passes.append(PassInput(role: .sentenceA, encoding: try tokenizer.encode(request.a, pair: nil, maxLength: limit, truncate: request.truncate),
                                    decoding: nil, inputs: TraceInputs(a: request.a)))
            // Sentence B's tokens keep segment 1, so that words are named as in the pair (`B:sick`).
            var single = try tokenizer.encode(b, pair: nil, maxLength: limit, truncate: request.truncate)
            single.tokens = single.tokens.map { var token = $0; token.segment = 1; return token }
            passes.append(PassInput(role: .sentenceB, encoding: single, decoding: nil, inputs: TraceInputs(a: "", b: b)))
        }
        return passes
    }

    /// Runs the model on the request and returns the trace: every layer's attention, what was asked
    /// to be captured, and the task's outputs. `planner` gives each forward pass its site visitor
    /// (the interventions, resolved to that pass's tokens); `interventions` are recorded in the trace.
    public func trace(_ request: TraceRequest, planner: PassPlanner? = nil, interventions: [Intervention] = []) throws -> Trace {
        let task = request.task ?? defaultTask(for: request)
        let passes = try self.passes(for: request)
        let joint = passes[0]
        let forward = { (pass: PassInput) in try self.run(pass, threads: request.threads, planner: planner) }
        // The similarity task's sentence passes run first: only their pooled embeddings are kept, so
        // their buffers are free again when the joint pass allocates its captures (the peak memory
        // is the larger pass's, not the sum).
        let early = task == .similarity
            ? try self.outputs(task: task, request: request, joint: joint, jointOutput: nil, passes: passes, forward: forward) : nil
        let output = try run(joint, capture: request.capture, threads: request.threads, planner: planner)
        let (outputs, logits) = try early ?? self.outputs(task: task, request: request, joint: joint, jointOutput: output, passes: passes,
                                                          forward: forward)
        return makeTrace(request, task: task, joint: joint, output: output, outputs: outputs, logits: logits, interventions: interventions)
    }

    /// Traces several requests with one batched forward pass over all their passes (see
    /// `TransformerModel.forward(_:options:)` over several inputs), each trace as `trace(_:)` gives
    /// it within float rounding, and the same bits whatever the thread count. No interventions;
    /// the capture and threads are the first request's.
    public func trace(batch requests: [TraceRequest]) throws -> [Trace] {
        guard let first = requests.first else { return [] }
        let passLists = try requests.map { try passes(for: $0) }
        // Passes with the same tokens run once: the variants of an input share most sentence
        // passes (sentence A of every variant that edits only B; a swap's two sentences).
        // A pair traced for its attention alone (the similarity task reads each sentence's own
        // pass; the attention task reads nothing more) does not need its last hidden state.
        let tasks = requests.map { $0.task ?? defaultTask(for: $0) }
        var slots: [PassTokens: Int] = [:], unique: [ModelInput] = [], slotOfPass: [Int] = [], keepsLast: [Bool] = []
        for (task, passes) in zip(tasks, passLists) {
            for pass in passes {
                let keep = !(pass.role == .joint && (task == .similarity || task == .attention))
                let key = PassTokens(ids: pass.encoding.ids, typeIds: pass.encoding.typeIds, decoderIds: pass.decoding?.ids)
                if let slot = slots[key] {
                    slotOfPass.append(slot)
                    keepsLast[slot] = keepsLast[slot] || keep
                    continue
                }
                slots[key] = unique.count
                slotOfPass.append(unique.count)
                unique.append(ModelInput(ids: key.ids, typeIds: key.typeIds, decoderIds: key.decoderIds))
                keepsLast.append(keep)
            }
        }
        let computed = try model.forward(unique, options: keepsLast.map {
            ForwardOptions(capture: first.capture, threads: first.threads, keepsLastHidden: $0)
        })
        let results = slotOfPass.map { computed[$0] }
        var start = 0
        return try zip(zip(requests, tasks), passLists).map { requestAndTask, passes in
            let (request, task) = requestAndTask
            let mine = Array(results[start ..< start + passes.count])
            start += passes.count
            let (outputs, logits) = try self.outputs(task: task, request: request, joint: passes[0], jointOutput: mine[0], passes: passes) { pass in
                mine[passes.firstIndex { $0.role == pass.role }!]
            }
            return makeTrace(request, task: task, joint: passes[0], output: mine[0], outputs: outputs, logits: logits, interventions: [])
        }
    }

    /// What a forward pass reads of its input: passes equal in these give the same output.
    private struct PassTokens: Hashable {
        var ids: [Int]
        var typeIds: [Int]
        var decoderIds: [Int]?
    }

    private func makeTrace(_ request: TraceRequest, task: ModelTask, joint: PassInput, output: ModelOutput, outputs: TraceOutputs,
                           logits: Tensor?, interventions: [Intervention]) -> Trace {
        let provenance = Provenance(model: folder.id, architecture: modelType, weightsHash: weightsHash,
                                    tokenizerHash: tokenizerHash, task: task.rawValue, capture: request.capture.names)
        return Trace(inputs: joint.inputs, tokens: joint.encoding.tokens, decoderTokens: joint.decoding?.tokens,
                     tokenTypeIds: joint.encoding.typeIds, stacks: output.stacks, outputs: outputs,
                     logits: logits, provenance: provenance, interventions: interventions)
    }

    /// The task's outputs alone, from only the passes they need (similarity: the two sentences;
    /// every other task: the joint pass), for scans that measure thousands of patched passes.
    /// `forward` runs one pass (a scan resumes it, or reuses an unchanged one).
    public func outputs(_ request: TraceRequest, passes: [PassInput],
                        forward: (PassInput) throws -> ModelOutput) throws -> (outputs: TraceOutputs, logits: Tensor?) {
        let task = request.task ?? defaultTask(for: request)
        let jointOutput = task == .similarity || task == .attention ? nil : try forward(passes[0])
        return try outputs(task: task, request: request, joint: passes[0], jointOutput: jointOutput, passes: passes, forward: forward)
    }

    /// The passes whose outputs the task reads: the two sentences for similarity, else the joint pass.
    public func outputPasses(_ request: TraceRequest, _ passes: [PassInput]) -> [PassInput] {
        (request.task ?? defaultTask(for: request)) == .similarity ? passes.filter { $0.role != .joint } : [passes[0]]
    }

    /// One forward pass with the visitor the planner gives it.
    public func run(_ pass: PassInput, capture: CaptureOptions = [], threads: Int, planner: PassPlanner?) throws -> ModelOutput {
        let input = ModelInput(ids: pass.encoding.ids, typeIds: pass.encoding.typeIds, decoderIds: pass.decoding?.ids)
        return try model.forward(input, options: ForwardOptions(capture: capture, sites: try planner?(pass), threads: threads))
    }

    /// Several forward passes at once, each with its own visitor (a scan's cells of one layer):
    /// rows stacked where the architecture can, so that each weight is read once for all of them.
    public func run(batch passes: [PassInput], visitors: [SiteVisitor?], threads: Int) throws -> [ModelOutput] {
        let inputs = passes.map { ModelInput(ids: $0.encoding.ids, typeIds: $0.encoding.typeIds, decoderIds: $0.decoding?.ids) }
        return try model.forward(inputs, options: visitors.map { ForwardOptions(sites: $0, threads: threads) })
    }

    private func outputs(task: ModelTask, request: TraceRequest, joint: PassInput, jointOutput: ModelOutput?,
                         passes: [PassInput], forward: (PassInput) throws -> ModelOutput) throws -> (TraceOutputs, Tensor?) {
        var outputs = TraceOutputs()
        var logits: Tensor?
        switch task {
        case .attention:
            break
        case .similarity:
            // Each sentence on its own, as sentence-transformers encodes them.
            let pooling = self.pooling ?? SentencePooling(mode: .mean, normalize: true)
            let embeddings = try passes.filter { $0.role != .joint }.map { pooling.pool(try forward($0).lastHidden) }
            outputs.similarity = SentencePooling.cosine(embeddings[0], embeddings[1])
        case .classification:
            let classLogits = try model.classificationLogits(jointOutput!)
            logits = classLogits
            outputs.labels = model.labels
            outputs.probabilities = Self.softmax(classLogits.scalars)
        case .maskedLM:
            let positions = try maskPositions(joint.encoding)
            let vocabulary = try model.languageModelLogits(jointOutput!, positions: positions)
            outputs.topk = topK(vocabulary, positions: positions, k: request.topK, watching: request.watchedTokens)
        case .causalLM, .seq2seq:
            // The next token after the last position, or after every position when asked (causal-lm);
            // after every decoder position (seq2seq, teacher-forced).
            let n = jointOutput!.lastHidden.shape[0]
            let positions = task == .causalLM && !request.allPositions ? [n - 1] : Array(0 ..< n)
            let vocabulary = try model.languageModelLogits(jointOutput!, positions: positions)
            outputs.topk = topK(vocabulary, positions: positions, k: request.topK, watching: request.watchedTokens,
                                tokenizer: task == .seq2seq ? decoderTokenizer : tokenizer)
        }
        return (outputs, logits)
    }

    /// The positions of the mask tokens, where the masked-LM task predicts.
    func maskPositions(_ encoding: Encoding) throws -> [Int] {
        guard let maskID = tokenizer.maskTokenID else {
            throw ModelError("this tokenizer has no mask token", hint: "use a masked language model for the masked-lm task")
        }
        let positions = encoding.ids.indices.filter { encoding.ids[$0] == maskID }
        guard !positions.isEmpty else {
            throw ModelError("the masked-lm task needs a \(tokenizer.maskToken ?? "mask") token in the text",
                             hint: "write \(tokenizer.maskToken ?? "the mask token") where the model should predict a word")
        }
        return positions
    }

    /// The `k` most probable tokens at each position of `[positions, vocab]` logits, and the
    /// probabilities of the watched tokens. The softmax is in double precision; the best `k` are
    /// selected in one pass over the vocabulary (highest first, equal ones by id), never by sorting it.
    func topK(_ logits: Tensor, positions: [Int], k: Int, watching watched: [String] = [],
              tokenizer: (any Tokenizer)? = nil) -> [TopKPrediction] {
        let tokenizer = tokenizer ?? self.tokenizer
        let vocabulary = logits.shape[1]
        let watchedIDs = watched.compactMap { token in Self.tokenID(token, tokenizer).map { (token, $0) } }
        return logits.withUnsafeBufferPointer { all in
            positions.enumerated().map { row, position in
                let scores = UnsafeBufferPointer(rebasing: all[row * vocabulary ..< (row + 1) * vocabulary])
                let maximum = Double(scores.max() ?? 0)
                var total = 0.0
                for score in scores { total += Foundation.exp(Double(score) - maximum) }
                func probability(_ id: Int) -> Double { Foundation.exp(Double(scores[id]) - maximum) / total }
                // The best k ids, best first; a higher logit is a higher probability.
                var best: [Int] = []
                best.reserveCapacity(k + 1)
                for id in 0 ..< vocabulary where best.count < k || scores[id] > scores[best[best.count - 1]] {
                    var slot = best.count
                    while slot > 0, scores[id] > scores[best[slot - 1]] { slot -= 1 }
                    best.insert(id, at: slot)
                    if best.count > k { best.removeLast() }
                }
                let watchedCandidates = watchedIDs.map { Candidate(token: $0.0, id: $0.1, probability: probability($0.1)) }
                return TopKPrediction(position: position, candidates: best.map {
                    Candidate(token: tokenizer.token(for: $0) ?? "<\($0)>", id: $0, probability: probability($0))
                }, watched: watchedCandidates.isEmpty ? nil : watchedCandidates)
            }
        }
    }

    /// The id of a watched token: its vocabulary spelling, or else text the tokenizer makes exactly
    /// one (non-special) token of.
    static func tokenID(_ token: String, _ tokenizer: any Tokenizer) -> Int? {
        if let id = tokenizer.id(for: token) { return id }
        guard let pieces = try? tokenizer.encodeRendered(token, maxLength: nil, truncate: false).tokens.filter({ !$0.special }),
              pieces.count == 1 else { return nil }
        return pieces[0].id
    }

    /// Softmax in double precision.
    static func softmax(_ logits: [Float]) -> [Double] {
        let maximum = Double(logits.max() ?? 0)
        let exps = logits.map { Foundation.exp(Double($0) - maximum) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }
}
