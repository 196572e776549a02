import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import AttnViews
import Foundation

/// What the app's routes do, each by calling the library function the matching command calls:
/// `LoadedModel.trace` (`attnlab trace`), `InterventionRunner` (`trace --ablate`), perturbations
/// as `attnlab run` plans them, `TraceDiff` (`attnlab diff`), `ScanRunner` (`attnlab scan`),
/// `ViewRenderer` (`attnlab view`), `ExpectationEvaluator` and `ExperimentParser` (`attnlab run`).
/// These functions run on a compute worker; `flag` says when the page no longer wants the result.
struct Workbench: Sendable {
    let traces: TraceStore
    let limits: ServerSettings.Limits
    /// What the app captures: every view, the neuron view included, can be opened on any trace.
    static let capture: CaptureOptions = [.qkv]

    // MARK: analyze

    func analyze(_ request: AnalyzeRequest, model: LoadedModel, chat: ChatTemplate?, flag: CancelFlag) throws -> AnalyzeResponse {
        let started = DispatchTime.now()
        try check(request.input)
        var input = request.input
        if let messages = request.messages {
            guard messages.count <= limits.messages else { throw ServeError.badRequest("at most \(limits.messages) messages") }
            for message in messages { try checkLength(message.content, "a message") }
            guard let chat else {
                throw ServeError.badRequest("this model has no chat template", hint: "type the text instead of messages")
            }
            input.a = try chat.render(messages)
            try checkLength(input.a, "the rendered chat")
        }
        let inputSpec = input.spec
        let modelSpec = request.model.spec
        let expectations = try (request.expectations ?? []).enumerated().map { try $1.spec(line: $0 + 1) }
        // The variants, as `attnlab run` plans them: the base, the perturbation's variant, and each
        // of those under the intervention (`VARIANT+ID`).
        var variants: [(Variant, role: String)] = [(Variant.base(of: inputSpec), "base")]
        if let perturbation = request.perturbation {
            let spec = try perturbation.spec()
            guard spec.id != inputSpec.baseName else {
                throw ServeError.badRequest("the perturbation's id \"\(spec.id)\" is the base variant's name")
            }
            guard let variant = spec.apply(to: inputSpec, maskToken: model.tokenizer.maskToken) else {
                throw ServeError.badRequest(Self.notApplied(spec, input: inputSpec, model: model))
            }
            variants.append((variant, "variant"))
        }
        let base = TraceRequest(a: inputSpec.a, b: inputSpec.b, decoderText: inputSpec.decoder, task: modelSpec.task)
        let task = modelSpec.task ?? model.defaultTask(for: base)
        func traceRequest(_ variant: Variant) -> TraceRequest {
            var request = TraceRequest(a: variant.a, b: variant.b, decoderText: variant.decoder, task: task,
                                       capture: Self.capture, topK: modelSpec.topK)
            request.watchedTokens = Self.watchedTokens(expectations)
            return request
        }
        var traced: [(Variant, role: String, id: String, trace: Trace)] = []
        for (variant, role) in variants {
            let (id, trace) = try self.trace(traceRequest(variant), model: model, interventions: [], meanReference: nil, flag: flag)
            traced.append((variant, role, id, trace))
        }
        if let entry = request.intervention {
            let name = entry.name
            guard ProjectFolder.isExperimentName(name) else { throw ServeError.badRequest("the intervention's id \"\(name)\" cannot name a variant") }
            // Mean ablations average over the experiment's base inputs, as a run does.
            let reference = [traceRequest(variants[0].0)]
            for (variant, role) in variants where entry.applyTo.map({ $0.contains(variant.name) }) ?? true {
                let named = variant.intervened(entry.spec)
                let (id, trace) = try self.trace(traceRequest(variant), model: model, interventions: [entry.intervention],
                                                 meanReference: reference, flag: flag)
                traced.append((named, role + "+intervention", id, trace))
            }
        }
        let subjects = traced.map {
            ExpectationEvaluator.Subject(model: modelSpec.name, variant: $0.0, trace: $0.trace,
                                         label: Executor.label(of: $0.trace, model: modelSpec))
        }
        let views = zip(traced, subjects).map { item, subject in
            Self.view(item.0, role: item.role, id: item.id, trace: item.trace, label: subject.label)
        }
        let diff = traced.count > 1 && traced[1].role == "variant" ? Self.diff(traced[0].trace, traced[1].trace, from: traced[0].0.name, to: traced[1].0.name) : nil
        // The intervention's effect on the variant shown (the perturbed one when there is one).
        var interventionDiff: DiffView?
        if let intervened = traced.last(where: { $0.role.hasSuffix("+intervention") }),
           let plain = traced.first(where: { $0.role + "+intervention" == intervened.role }) {
            interventionDiff = Self.diff(plain.trace, intervened.trace, from: plain.0.name, to: intervened.0.name)
        }
        let results = ExpectationEvaluator.evaluate(expectations, subjects: subjects, inputs: [inputSpec])
        return AnalyzeResponse(model: Self.info(model, chat: chat != nil), task: task.rawValue, input: input, variants: views,
                               diff: diff, interventionDiff: interventionDiff, expectations: results,
                               milliseconds: Self.milliseconds(since: started))
    }

    /// The trace of one request, from the store when the same model, request and interventions were
    /// traced before; otherwise traced, checking `flag` before each forward pass.
    func trace(_ request: TraceRequest, model: LoadedModel, interventions: [Intervention], meanReference: [TraceRequest]?,
               flag: CancelFlag) throws -> (String, Trace) {
        let key = Self.key(request, model: model, interventions: interventions, meanReference: meanReference)
        if let found = traces.find(key: key) { return found }
        try flag.check()
        var planner: PassPlanner?
        if !interventions.isEmpty {
            planner = try InterventionRunner.planner(for: request, interventions: interventions, model: model, meanReference: meanReference)
        }
        // The same trace `InterventionRunner.trace` gives; the planner only adds the check between passes.
        let trace = try model.trace(request, planner: { pass in
            try flag.check()
            return try planner?(pass)
        }, interventions: interventions)
        return (traces.add(trace, key: key), trace)
    }

    static func key(_ request: TraceRequest, model: LoadedModel, interventions: [Intervention], meanReference: [TraceRequest]?) -> String {
        struct Key: Encodable {
            var model: String, weights: String, a: String, b: String?, decoder: String?, task: String?, topK: Int
            var watched: [String], capture: [String], interventions: [Intervention], reference: [[String?]]
        }
        let key = Key(model: model.folder.url.path, weights: model.weightsHash, a: request.a, b: request.b, decoder: request.decoderText,
                      task: request.task?.rawValue, topK: request.topK, watched: request.watchedTokens, capture: request.capture.names,
                      interventions: interventions, reference: (meanReference ?? []).map { [$0.a, $0.b, $0.decoderText] })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: (try? encoder.encode(key)) ?? Data(), as: UTF8.self)
    }

    /// Tokens whose probability an expectation reads, kept whatever their rank, in the order
    /// `attnlab run` keeps them (sorted, once each).
    static func watchedTokens(_ expectations: [ExpectationSpec]) -> [String] {
        Array(Set(expectations.flatMap { expectation -> [String] in
            switch expectation.check {
            case .above(let name, _), .below(let name, _), .equals(let name, _, _), .invariant(let name, _), .direction(let name, _, _):
                if case .probability(let token) = name { return [token] }
                return []
            default:
                return []
            }
        })).sorted()
    }

    static func notApplied(_ spec: PerturbationSpec, input: InputSpec, model: LoadedModel) -> String {
        let place = spec.target == .both ? "the input" : "sentence \(spec.target.rawValue.uppercased())"
        switch spec.kind {
        case .replace(let word, _), .delete(let word), .insert(_, let word, _):
            return "no word \"\(word)\" in \(place)"
        case .mask(let word):
            return model.tokenizer.maskToken == nil ? "this model's tokenizer has no mask token" : "no word \"\(word)\" in \(place)"
        case .swap:
            return "swapping needs two sentences"
        }
    }

    // MARK: views of results

    static func view(_ variant: Variant, role: String, id: String, trace: Trace, label: String?) -> VariantView {
        let tokens = trace.tokens.map { TokenView(text: $0.text, display: $0.display, segment: $0.segment, special: $0.special, word: $0.word) }
        let words = TraceWords.group(trace.tokens, inputs: trace.inputs).map {
            WordView(text: $0.text, segment: $0.segment, special: $0.special, tokens: $0.tokens)
        }
        return VariantView(name: variant.name, path: variant.path, role: role, trace: id, perturbation: variant.perturbation,
                           interventions: trace.interventions.map(\.description), a: variant.a, b: variant.b, decoder: variant.decoder,
                           tokens: tokens,
                           decoderTokens: trace.decoderTokens?.map { TokenView(text: $0.text, display: $0.display, segment: $0.segment, special: $0.special, word: $0.word) },
                           words: words, outputs: trace.outputs, label: label, task: trace.provenance.task)
    }

    /// `attnlab diff` of two traces; nil when they cannot be compared word by word (no encoder
    /// stack, or different shapes).
    static func diff(_ a: Trace, _ b: Trace, from: String, to: String) -> DiffView? {
        guard let diff = try? TraceDiff.compare(a, b), let stack = a.stacks[.encoder] else { return nil }
        var grid = [[Double]](repeating: [Double](repeating: 0, count: stack.headCount), count: stack.layerCount)
        for head in diff.heads { grid[head.layer][head.head] = head.jsDivergence }
        return DiffView(from: from, to: to, heads: Array(diff.heads.prefix(10)), grid: grid, words: Array(diff.words.prefix(8)),
                        changed: diff.changedWords.map { [$0.a, $0.b] })
    }

    static func info(_ model: LoadedModel, chat: Bool) -> ModelInfo {
        let summary = model.model.summary
        let single = model.defaultTask(for: TraceRequest(a: model.tokenizer.maskToken ?? "x"))
        let pair = model.defaultTask(for: TraceRequest(a: "x", b: "y"))
        return ModelInfo(id: model.folder.id, architecture: model.modelType, layers: summary.layers, heads: summary.heads,
                         maxPositions: summary.maxPositions, outputHeads: model.model.taskHeads.map(\.rawValue).sorted(),
                         taskSingle: single.rawValue, taskPair: pair.rawValue, maskToken: model.tokenizer.maskToken,
                         labels: model.model.labels, chat: chat, encoderDecoder: model.model.taskHeads.contains(.seq2seq))
    }

    // MARK: views, scans

    /// `attnlab view`: one view of a stored trace as its self-contained page, or only its data
    /// (`payload`), for a page already showing that view.
    func view(trace id: String, kind: ViewKind, options: ViewOptions, payload: Bool = false, flag: CancelFlag) throws -> Data {
        guard let trace = traces.trace(id) else {
            throw ServeError(.notFound, "that trace is no longer kept", hint: "change the text to trace it again")
        }
        try flag.check()
        do {
            return payload ? try ViewRenderer.payload(trace, view: kind, options: options) : try ViewRenderer.render(trace, view: kind, options: options)
        } catch let error as CoreError {
            throw ServeError.badRequest(error.description)
        }
    }

    /// `attnlab scan`: patch (or ablate) every cell from the source into the target.
    func scan(_ request: ScanRequest, model: LoadedModel, flag: CancelFlag) throws -> ScanResponse {
        let started = DispatchTime.now()
        try check(request.target)
        if let source = request.source { try check(source) }
        let modelSpec = request.model.spec
        var target = TraceRequest(a: request.target.a, b: request.target.b, decoderText: request.target.decoder, task: modelSpec.task,
                                  capture: Self.capture, topK: modelSpec.topK)
        target.task = target.task ?? model.defaultTask(for: target)
        let source = request.source.map { input -> TraceRequest in
            var source = target
            (source.a, source.b, source.decoderText) = (input.a, input.b, input.decoder)
            return source
        }
        let mode = request.mode ?? .patch
        let metric = try request.metric.map(OutputMetric.init(parsing:)) ?? (target.task == .similarity ? .similarity : nil)
        guard let metric else {
            throw ServeError.badRequest("say what to measure for the \(target.task!.rawValue) task", hint: "p:TOKEN or logit-diff:A,B")
        }
        let spec = ScanSpec(site: request.site ?? .head, mode: mode, metric: metric, layers: request.layers, threads: 1)
        let (targetID, _) = try trace(target, model: model, interventions: [], meanReference: nil, flag: flag)
        let sourceID = try source.map { try trace($0, model: model, interventions: [], meanReference: nil, flag: flag).0 }
        try flag.check()
        let result = try ScanRunner.run(spec, model: model, target: target, source: mode == .patch ? source : nil,
                                        names: (request.targetName, mode == .patch ? request.sourceName : nil))
        return ScanResponse(scan: result, top: result.top(10), targetTrace: targetID, sourceTrace: sourceID,
                            milliseconds: Self.milliseconds(since: started))
    }

    // MARK: limits

    func check(_ input: ExperimentDraft.Input) throws {
        try checkLength(input.a, "sentence A")
        if let b = input.b { try checkLength(b, "sentence B") }
        if let decoder = input.decoder { try checkLength(decoder, "the decoder text") }
    }

    func checkLength(_ text: String, _ what: String) throws {
        guard text.unicodeScalars.count <= limits.textCharacters else {
            throw ServeError(.contentTooLarge, "\(what) is longer than \(limits.textCharacters) characters")
        }
    }

    static func milliseconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
    }
}
