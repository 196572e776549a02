import AttnCore
import AttnModels
import Foundation

/// What an experiment file says that only the loaded models can check: layers and heads in range,
/// stacks and sites the architecture has, words the inputs contain, metrics the task can give.
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
        if wordy || !scanPaths.isEmpty {
            try plan.forEachGroup { group in
                variantsByModel[group.model] += group.variants.filter { variant in
                    (wordy && variant.interventionID != nil) || (scanPaths.contains(variant.path) && variant.intervention == nil)
                }
            }
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
                for variant in applied where !names.isEmpty {
                    let request = Executor.request(variant, spec, capture: [], watched: [])
                    guard let passes = try? model.passes(for: request) else { continue }
                    for name in names where !passes.contains(where: { !TraceWords.positions(of: name, in: InterventionRunner.words($0)).isEmpty }) {
                        problem(intervention.position, "no word \"\(name)\" in \(variant.path) for model \(spec.name); limit the intervention with apply_to")
                    }
                }
            }
            let summary = model.model.summary
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
        guard problems.isEmpty else { throw ExperimentError(file: experiment.file, problems: problems) }
    }
}
