import AttnCore
import AttnDiff
import AttnModels
import Foundation

/// Runs a request under interventions: checks every reference against the model, resolves words
/// to the token positions of each forward pass (the joint pass, and each sentence alone for the
/// similarity task), records what patches copy and what mean ablations average, and traces.
///
/// One function for the command line, experiment files and the server: they differ only in how
/// they build the `Intervention` values.
public enum InterventionRunner {
    /// Where a patch reads from: the request of its source variant, by the name the intervention uses.
    public typealias Sources = [String: TraceRequest]

    /// Checks layers, heads, sites and kinds against the model; every problem in one error.
    public static func validate(_ interventions: [Intervention], model: LoadedModel, sources: Sources = [:]) throws {
        var problems: [String] = []
        let summary = model.model.summary
        let stacks: Set<StackKind> = model.model.taskHeads.contains(.seq2seq) ? [.encoder, .decoder, .cross] : [.encoder]
        for intervention in interventions {
            let what = intervention.description
            guard stacks.contains(intervention.stack) else {
                problems.append("\(what): this \(model.modelType) model has no \(intervention.stack.rawValue) stack (it has \(stacks.sorted().map(\.rawValue).joined(separator: ", ")))")
                continue
            }
            let layers = summary.layers, heads = summary.heads
            for head in intervention.heads {
                if head.layer >= layers { problems.append("\(what): layer \(head.layer) is out of range (the model has layers 0–\(layers - 1))") }
                if head.head >= heads { problems.append("\(what): head \(head.head) is out of range (the model has heads 0–\(heads - 1))") }
            }
            for layer in intervention.layers ?? [] where layer < 0 || layer >= layers {
                problems.append("\(what): layer \(layer) is out of range (the model has layers 0–\(layers - 1))")
            }
            switch intervention.kind {
            case .ablate, .scale:
                if intervention.heads.isEmpty { problems.append("\(what): name the heads, as LAYER.HEAD (5.4)") }
                if intervention.kind == .scale, !(intervention.factor?.isFinite ?? false) { problems.append("\(what): the factor must be a number") }
            case .knockout:
                if (intervention.from ?? []).isEmpty || (intervention.to ?? []).isEmpty {
                    problems.append("\(what): name the words the edges run from and to")
                }
            case .patch:
                let site = intervention.site ?? .head
                if !SiteKind.available(in: intervention.stack).contains(site) {
                    problems.append("\(what): the \(intervention.stack.rawValue) stack has no \(site.rawValue) site")
                }
                guard let source = intervention.source, !source.isEmpty else {
                    problems.append("\(what): name the variant the values come from")
                    continue
                }
                if sources[source] == nil { problems.append("\(what): no variant \"\(source)\" to patch from") }
            }
        }
        guard problems.isEmpty else {
            throw ExperimentError(problems.joined(separator: "; "), hint: "layers and heads count from 0")
        }
    }

    /// The trace of `request` under `interventions`. Mean ablations average each head's output
    /// over the tokens of `meanReference` (default: the request's own joint pass).
    public static func trace(_ request: TraceRequest, interventions: [Intervention], model: LoadedModel,
                             sources: Sources = [:], meanReference: [TraceRequest]? = nil) throws -> Trace {
        guard !interventions.isEmpty else { return try model.trace(request) }
        let planner = try planner(for: request, interventions: interventions, model: model, sources: sources,
                                  meanReference: meanReference)
        return try model.trace(request, planner: planner, interventions: interventions)
    }

    /// The planner that gives each pass of `request` its edits.
    public static func planner(for request: TraceRequest, interventions: [Intervention], model: LoadedModel,
                               sources: Sources = [:], meanReference: [TraceRequest]? = nil) throws -> PassPlanner {
        try validate(interventions, model: model, sources: sources)
        let means = try headMeans(interventions, model: model, reference: meanReference ?? [request])
        let patches = try patchSources(interventions, model: model, sources: sources)
        let targetPasses = try model.passes(for: request)
        // A word an intervention names must be somewhere in the input.
        for intervention in interventions where intervention.kind == .knockout || intervention.words != nil {
            for name in (intervention.from ?? []) + (intervention.to ?? []) + (intervention.words ?? []) {
                let found = targetPasses.contains { !TraceWords.positions(of: name, in: words($0)).isEmpty }
                if !found {
                    let available = words(targetPasses[0]).map(\.text).joined(separator: " ")
                    throw ExperimentError("\(intervention.description): no word \"\(name)\" in the input", hint: "its words: \(available)")
                }
            }
        }
        return { pass in
            let edits = try interventions.flatMap { try Self.edits($0, pass: pass, model: model, means: means, patches: patches) }
            return edits.isEmpty ? nil : SitePlan(edits: edits)
        }
    }

    /// The words of a pass's tokens.
    static func words(_ pass: PassInput) -> [TraceWord] {
        TraceWords.group(pass.encoding.tokens, inputs: pass.inputs)
    }

    /// One intervention's edits in one pass.
    static func edits(_ intervention: Intervention, pass: PassInput, model: LoadedModel,
                      means: [HeadRef: [Float]], patches: [String: RecordedPasses]) throws -> [SiteEdit] {
        let stack = intervention.stack
        switch intervention.kind {
        case .ablate:
            return intervention.heads.map { head in
                let change: SiteEdit.HeadChange = intervention.mode == .mean ? .constant(means[head] ?? []) : .zero
                return .headOutput(stack: stack, layer: head.layer, head: head.head, change: change)
            }
        case .scale:
            return intervention.heads.map {
                .headOutput(stack: stack, layer: $0.layer, head: $0.head, change: .scale(Float(intervention.factor ?? 1)))
            }
        case .knockout:
            let words = Self.words(pass)
            let queries = (intervention.from ?? []).flatMap { TraceWords.positions(of: $0, in: words) }
            let keys = (intervention.to ?? []).flatMap { TraceWords.positions(of: $0, in: words) }
            guard !queries.isEmpty, !keys.isEmpty else { return [] }
            return cells(intervention, model: model).map { layer, heads in
                .cutEdges(stack: stack, layer: layer, heads: heads, queries: queries, keys: keys)
            }
        case .patch:
            let site = intervention.site ?? .head
            guard let recorded = patches[intervention.source ?? ""], let source = recorded.passes[pass.role] else { return [] }
            let rows = try rowMapping(target: pass, source: source.input, words: intervention.words, intervention: intervention)
            return cells(intervention, model: model).compactMap { layer, heads in
                let place = Site(stack, layer, site)
                guard let values = source.plan.recording(place) else { return nil }
                return .copy(site: place, heads: site.isPerHead ? heads : nil, rows: rows, from: values)
            }
        }
    }

    /// The layers an intervention acts in, each with its heads (nil: every head).
    static func cells(_ intervention: Intervention, model: LoadedModel) -> [(Int, Set<Int>?)] {
        if !intervention.heads.isEmpty {
            return Dictionary(grouping: intervention.heads, by: \.layer).sorted { $0.key < $1.key }.map { ($0.key, Set($0.value.map(\.head))) }
        }
        return (intervention.layers ?? Array(0 ..< model.model.summary.layers)).map { ($0, nil) }
    }

    /// Which source token each patched target token reads. Same tokens: each its own position
    /// (nil). Otherwise, or for named words, tokens are paired through the words: the words of
    /// both inputs are aligned, and aligned words with as many tokens pair them in order. A target
    /// token to patch without a counterpart is an error.
    static func rowMapping(target: PassInput, source: PassInput, words named: [String]?, intervention: Intervention) throws -> [RowMapping]? {
        let targetTokens = target.encoding.tokens, sourceTokens = source.encoding.tokens
        if named == nil, targetTokens.count == sourceTokens.count { return nil }
        let alignment = WordAlignment(tokensA: sourceTokens, inputsA: source.inputs, tokensB: targetTokens, inputsB: target.inputs)
        var mapping: [Int: Int] = [:]
        for pair in alignment.pairs {
            guard let a = pair.a, let b = pair.b else { continue }
            let (from, to) = (alignment.wordsA[a].tokens, alignment.wordsB[b].tokens)
            if from.count == to.count { for (s, t) in zip(from, to) { mapping[t] = s } }
        }
        let wanted: [Int]
        if let named {
            let targetWords = TraceWords.group(targetTokens, inputs: target.inputs)
            wanted = named.flatMap { TraceWords.positions(of: $0, in: targetWords) }
        } else {
            wanted = Array(targetTokens.indices)
        }
        if let missing = wanted.first(where: { mapping[$0] == nil }) {
            let token = targetTokens[missing].display
            throw ExperimentError("\(intervention.description): token \(missing) (\"\(token)\") has no counterpart in \(intervention.source ?? "the source")",
                                  hint: "the two inputs split this word into different tokens; patch named words (words:) that both have")
        }
        return wanted.map { RowMapping(target: $0, source: mapping[$0]!) }
    }

    /// The passes of a patch's source variant, run with the sites it copies recorded.
    struct RecordedPasses {
        var passes: [PassRole: (input: PassInput, plan: SitePlan)]
    }

    static func patchSources(_ interventions: [Intervention], model: LoadedModel, sources: Sources) throws -> [String: RecordedPasses] {
        var recorded: [String: RecordedPasses] = [:]
        let patches = interventions.filter { $0.kind == .patch }
        for name in Set(patches.compactMap(\.source)).sorted() {
            guard let request = sources[name] else { continue }
            var sites = Set<Site>()
            for patch in patches where patch.source == name {
                for (layer, _) in cells(patch, model: model) { sites.insert(Site(patch.stack, layer, patch.site ?? .head)) }
            }
            var passes: [PassRole: (input: PassInput, plan: SitePlan)] = [:]
            for pass in try model.passes(for: request) {
                let plan = SitePlan(record: sites)
                _ = try model.run(pass, threads: request.threads, planner: { _ in plan })
                passes[pass.role] = (pass, plan)
            }
            recorded[name] = RecordedPasses(passes: passes)
        }
        return recorded
    }

    /// Each mean-ablated head's mean output over every token of the reference requests' joint passes.
    static func headMeans(_ interventions: [Intervention], model: LoadedModel, reference: [TraceRequest]) throws -> [HeadRef: [Float]] {
        let heads = interventions.filter { $0.kind == .ablate && $0.mode == .mean }
        guard !heads.isEmpty else { return [:] }
        let stack = heads[0].stack
        let sites = Set(heads.flatMap { $0.heads.map { Site(stack, $0.layer, .head) } })
        var sums: [HeadRef: [Double]] = [:]
        var rows = 0
        for request in reference {
            let pass = try model.passes(for: request)[0]
            let plan = SitePlan(record: sites)
            _ = try model.run(pass, threads: request.threads, planner: { _ in plan })
            rows += pass.encoding.count
            for intervention in heads {
                for head in intervention.heads {
                    guard let recording = plan.recording(Site(stack, head.layer, .head)), let width = recording.headWidth else { continue }
                    var sum = sums[head] ?? [Double](repeating: 0, count: width)
                    for r in 0 ..< recording.rows {
                        for i in 0 ..< width { sum[i] += Double(recording.values[r * recording.columns + head.head * width + i]) }
                    }
                    sums[head] = sum
                }
            }
        }
        return sums.mapValues { $0.map { Float($0 / Double(max(rows, 1))) } }
    }
}
