import AttnCore
import AttnDiff
import AttnModels
import Foundation

/// What an experiment file says that only the loaded models can check: layers and heads in range,
/// stacks and sites the architecture has, words the inputs contain, metrics the task can give, a
/// decoder text only for encoder-decoders, a mask token for mask perturbations.
/// Checked before anything runs, and reported as the parser reports, with line and column.
enum ExperimentChecker {
    static func check(_ experiment: Experiment, models: [LoadedModel], plan: RunPlan) throws {
        var problems: [ExperimentError.Problem] = []
        func problem(_ position: FilePosition, _ message: String) {
            problems.append(.init(line: position.line, column: position.column, key: position.key, message: message))
        }
        // Only interventions with words and scans need the variants; they are streamed once.
        var variantsByModel: [[Variant]] = Array(repeating: [], count: experiment.models.count)
        let scanPaths = Set(experiment.scans.flatMap { [$0.target] + ($0.source.map { [$0] } ?? []) })
        let wordy = experiment.interventions.contains { ($0.intervention.from ?? []) + ($0.intervention.to ?? []) + ($0.intervention.words ?? []) != [] }
        // Expectations are checked against every variant when the inputs are all in the file (few);
        // a suite's variants, from files and templates, are too many to hold, and only their layers
        // and heads are checked here.
        let allVariants = experiment.inputs.isInline
        // The data file rows of the inputs those variants come from, to name them in messages.
        var origins: [String: String] = [:]
        if wordy || !scanPaths.isEmpty || allVariants {
            try plan.forEachGroup { group in
                let kept = group.variants.filter { variant in
                    allVariants || (wordy && variant.interventionID != nil) || (scanPaths.contains(variant.path) && variant.intervention == nil)
                }
                variantsByModel[group.model] += kept
                if !kept.isEmpty, let origin = group.input.origin { origins[group.input.id] = origin }
            }
        }
        func named(_ variant: Variant) -> String {
            origins[variant.input].map { "\(variant.path) (\($0))" } ?? variant.path
        }
        for (m, spec) in experiment.models.enumerated() {
            let model = models[m]
            let variants = variantsByModel[m]
            for intervention in experiment.interventions {
                let applied = variants.filter { $0.interventionID == intervention.id }
                // Layers, heads, stacks and sites; a patch's source by name (it is resolved per input).
                let sources = intervention.intervention.source.map { [$0: TraceRequest(a: "")] } ?? [:]
                do {
                    try InterventionRunner.validate([intervention.intervention], model: model, sources: sources)
                } catch {
                    problem(intervention.position, "model \(spec.name): \((error as? ExperimentError)?.message ?? "\(error)")")
                    continue
                }
                // Words must be in every variant the intervention applies to.
                let names = (intervention.intervention.from ?? []) + (intervention.intervention.to ?? []) + (intervention.intervention.words ?? [])
                // A suite's many variants: a few named per missing word, the rest counted.
                var missing: [String: (named: [String], more: Int)] = [:]
                for variant in applied where !names.isEmpty {
                    let request = Executor.request(variant, spec, capture: [], watched: [])
                    guard let passes = try? model.passes(for: request) else { continue }
                    for name in names where !passes.contains(where: { !TraceWords.positions(of: name, in: InterventionRunner.words($0)).isEmpty }) {
                        var entry = missing[name] ?? ([], 0)
                        if entry.named.count < rowsNamed { entry.named.append(named(variant)) } else { entry.more += 1 }
                        missing[name] = entry
                    }
                }
                for name in names {
                    guard let entry = missing[name] else { continue }
                    problem(intervention.position, "no word \"\(name)\" in \(entry.named.joined(separator: ", "))"
                            + (entry.more > 0 ? " and \(entry.more) more variants" : "") + " for model \(spec.name); limit the intervention with apply_to")
                }
            }
            let summary = model.model.summary
            try checkInputs(experiment, model: model, spec: spec, problem: problem)
            checkExpectations(experiment, model: model, spec: spec, variants: variants, variantsKnown: allVariants, problem: problem)
            for scan in experiment.scans where scan.model == nil || scan.model == spec.name {
                for layer in scan.layers ?? [] where layer >= summary.layers {
                    problem(scan.position, "layer \(layer) is out of range: model \(spec.name) has layers 0–\(summary.layers - 1)")
                }
                let stacks: [StackKind] = model.model.taskHeads.contains(.seq2seq) ? [.encoder, .decoder, .cross] : [.encoder]
                if !stacks.contains(scan.stack) { problem(scan.position, "model \(spec.name) has no \(scan.stack.rawValue) stack") }
                if !SiteKind.available(in: scan.stack).contains(scan.site) {
                    problem(scan.position, "the \(scan.stack.rawValue) stack has no \(scan.site.rawValue) site")
                }
                for path in [scan.target] + (scan.source.map { [$0] } ?? []) where !variants.contains(where: { $0.path == path }) {
                    problem(scan.position, "model \(spec.name) has no variant \(path): the perturbation does not apply to the input")
                }
                let task = spec.task ?? model.defaultTask(for: TraceRequest(a: "", b: experiment.inputs.first?.b))
                if let metric = scan.metric {
                    do { try metric.check(task: task, labels: spec.labels ?? model.model.labels) } catch {
                        problem(scan.position, "model \(spec.name): \((error as? ExperimentError)?.message ?? "\(error)")")
                    }
                } else if task != .similarity {
                    problem(scan.position, "say what the scan measures for the \(task.rawValue) task (metric: p:LABEL or logit-diff:A,B)")
                }
            }
            for attribution in experiment.attributions where attribution.model == nil || attribution.model == spec.name {
                let task = spec.task ?? model.defaultTask(for: TraceRequest(a: "", b: experiment.inputs.first?.b))
                if let metric = attribution.metric {
                    do { try metric.check(task: task, labels: spec.labels ?? model.model.labels) } catch {
                        problem(attribution.position, "model \(spec.name): \((error as? ExperimentError)?.message ?? "\(error)")")
                    }
                }
                if attribution.methods.contains(.mask), model.tokenizer.maskToken == nil {
                    problem(attribution.position, "model \(spec.name) has no mask token for the mask method; use occlusion or rollout")
                }
            }
        }
        // A mask perturbation makes no variant with a model that has no mask token.
        for perturbation in experiment.perturbations {
            guard case .mask = perturbation.kind, let position = perturbation.position,
                  !models.contains(where: { $0.tokenizer.maskToken != nil }) else { continue }
            problem(position, "no model of the experiment has a mask token (\(experiment.models.map(\.name).joined(separator: ", "))), so mask: makes no variant; use replace: or delete:, or a masked-LM model")
        }
        problems = problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) }
        var seen: Set<String> = []
        problems = problems.filter { seen.insert($0.text).inserted }
        guard problems.isEmpty else { throw ExperimentError(file: experiment.file, problems: problems) }
    }

    /// A decoder text is for an encoder-decoder, and an encoder-decoder needs one.
    /// Streamed (a suite's inputs are never all in memory); a data file's rows are named by row and
    /// line, at most `rowsNamed` of them, the rest counted.
    static func checkInputs(_ experiment: Experiment, model: LoadedModel, spec: ModelSpec, problem: (FilePosition, String) -> Void) throws {
        let encoderDecoder = model.model.taskHeads.contains(.seq2seq)
        var fromRows: [String: (position: FilePosition, named: [String], more: Int)] = [:]   // by message
        try experiment.inputs.forEach { _, input in
            let message: String
            if input.decoder != nil, !encoderDecoder {
                message = "model \(spec.name) (\(model.modelType)) has no decoder: "
                    + (input.origin == nil ? "decoder: is only for encoder-decoder models (bart, marian, t5); leave it out"
                        : "a decoder column is only for encoder-decoder models (bart, marian, t5); leave it empty")
            } else if input.decoder == nil, encoderDecoder {
                message = "model \(spec.name) (\(model.modelType)) is an encoder-decoder: give "
                    + (input.origin == nil ? "input \(input.id) the decoder's text with decoder:" : "every row the decoder's text in a decoder column")
                    + " (the translation, for example)"
            } else {
                return
            }
            guard let position = (input.origin == nil ? input.decoderPosition : nil) ?? input.position else { return }
            guard let origin = input.origin else { return problem(position, message) }
            var rows = fromRows[message] ?? (position, [], 0)
            if rows.named.count < rowsNamed { rows.named.append("\(input.id) (\(origin))") } else { rows.more += 1 }
            fromRows[message] = rows
        }
        for (message, rows) in fromRows {
            problem(rows.position, message + "; rows: " + rows.named.joined(separator: ", ") + (rows.more > 0 ? " and \(rows.more) more" : ""))
        }
    }

    /// The rows of a data file a problem names, at most.
    static let rowsNamed = 5

    /// Layers and heads in range, words in every variant an attention expectation reads, pairs for
    /// mass expectations, and the variants an expectation names made with this model too.
    static func checkExpectations(_ experiment: Experiment, model: LoadedModel, spec: ModelSpec, variants: [Variant],
                                  variantsKnown: Bool, problem: (FilePosition, String) -> Void) {
        let summary = model.model.summary
        var tokens: [String: (tokens: [TraceToken], inputs: TraceInputs)?] = [:]
        func encoded(_ variant: Variant) -> (tokens: [TraceToken], inputs: TraceInputs)? {
            if let known = tokens[variant.path] { return known }
            let result = (try? model.tokenizer.encode(variant.a, pair: variant.b)).map { ($0.tokens, TraceInputs(a: variant.a, b: variant.b)) }
            tokens[variant.path] = result
            return result
        }
        for expectation in experiment.expectations where expectation.model == nil || expectation.model == spec.name {
            guard let position = expectation.position else { continue }
            let parts = expectation.variant.split(separator: "/").map(String.init)
            guard parts.count == 2 else { continue }
            let matching = variants.filter { ExpectationSpec.matches(parts[0], $0.input) && ExpectationSpec.matches(parts[1], $0.name) }
            switch expectation.check {
            case .scanTop, .scanCell, .attributionRank:
                continue
            default:
                break
            }
            if variantsKnown, matching.isEmpty, !parts.contains(where: { $0.contains("*") }) {
                let masked = experiment.perturbations.contains { if case .mask = $0.kind { $0.id == parts[1] } else { false } }
                problem(position, "model \(spec.name) makes no variant \(expectation.variant)"
                        + (masked && model.tokenizer.maskToken == nil ? " (it has no mask token for the mask perturbation)" : "")
                        + "; limit the expectation with model:")
                continue
            }
            let scope: HeadScope
            switch expectation.check {
            case .attention(let check): scope = check.heads
            case .mass(let check):
                scope = check.heads
                for variant in matching where variant.b == nil {
                    problem(position, "\(variant.path) is not a pair of sentences, so it has no attention mass between A and B")
                }
            default: continue
            }
            if let layer = scope.layer, layer >= summary.layers {
                problem(position, "layer \(layer) is out of range: model \(spec.name) has layers 0–\(summary.layers - 1)")
            }
            if let layers = scope.layers, layers.upperBound >= summary.layers {
                problem(position, "layers \(layers.lowerBound)-\(layers.upperBound) are out of range: model \(spec.name) has layers 0–\(summary.layers - 1)")
            }
            if let head = scope.head, head >= summary.heads {
                problem(position, "head \(head) is out of range: model \(spec.name) has heads 0–\(summary.heads - 1)")
            }
            guard case .attention(let check) = expectation.check else { continue }
            for name in [check.from, check.to] {
                var lacking: [String] = []
                var words: [String] = []
                for variant in matching {
                    guard let own = encoded(variant) else { continue }   // an input the tokenizer refuses is reported when it runs
                    let base = variants.base(of: variant).flatMap(encoded)
                    if ExpectationEvaluator.words(named: name, tokens: own.tokens, inputs: own.inputs, base: base).isEmpty {
                        lacking.append(variant.path)
                        if words.isEmpty { words = WordAlignment.words(own.tokens, inputs: own.inputs).map(\.text) }
                    }
                }
                guard !lacking.isEmpty else { continue }
                problem(position, "no word \"\(name)\" in \(lacking.joined(separator: ", ")) for model \(spec.name) (words: \(words.joined(separator: " "))); "
                        + (parts.contains("*") ? "name the variants that have it" : "name a word of the input (A:word or B:word for one sentence)"))
            }
        }
    }
}

extension Array where Element == Variant {
    /// What a variant's words are named against: its parent for an intervention, else the input's base.
    func base(of variant: Variant) -> Variant? {
        if variant.intervention != nil {
            return first { $0.input == variant.input && $0.intervention == nil && $0.name == variant.parentName }
        }
        return variant.isBase ? nil : first { $0.input == variant.input && $0.isBase }
    }
}
