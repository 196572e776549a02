import AttnCore
import AttnDiff
import AttnModels
import Foundation

/// What one group (model × input) of a run produced: its variants' records, its expectation
/// results, and the scans and attributions it ran. Small: the traces are on disk or dropped.
struct GroupOutcome: Sendable {
    var index: Int
    var records: [Manifest.VariantRecord] = []
    var results: [Manifest.ExpectationResult] = []
    var scans: [Manifest.ScanRecord] = []
    var attributions: [Manifest.AttributionRecord] = []
    /// Variants, scans and attributions that could not be run (the rest of the group still ran).
    var failures: [Manifest.Failure] = []
}

/// Everything a worker needs to run groups, shared by all of them.
struct GroupContext: @unchecked Sendable {
    var experiment: Experiment
    var models: [LoadedModel]
    /// Tokens whose probability an expectation or a metric reads, kept whatever their rank.
    var watched: [String]
    /// Per model, the base inputs mean ablations average over (as that model reads them: a chat
    /// input rendered with its template).
    var meanReference: [[Variant]]
    /// The run folder being written (the staging folder).
    var folder: URL
    /// Threads of a scan.
    var scanThreads: Int
    var artifacts: (@Sendable (VariantArtifacts) throws -> [ArtifactLink])?
    var scanArtifacts: (@Sendable (ScanArtifacts) throws -> Void)?
}

/// Runs one group: traces each variant (a patch reads its source from the same group), checks the
/// expectations that name it against its base, compares it with its base, writes its trace as
/// `capture:` asks, runs the scans and attributions that target it. Only the traces later variants
/// are compared with stay in memory.
enum GroupRunner {
    /// Variants traced in one forward pass.
    static let batchSize = 16

    static func run(_ group: PlannedGroup, context: GroupContext) throws -> GroupOutcome {
        let experiment = context.experiment
        let spec = experiment.models[group.model]
        let model = context.models[group.model]
        let storage = experiment.storage
        var outcome = GroupOutcome(index: group.index)
        // Variants that later ones are compared with or patched from stay in memory until the end.
        var referenced: Set<String> = [group.variants.first?.name ?? ""]
        for variant in group.variants {
            if variant.intervention != nil { referenced.insert(variant.parentName) }
            if let source = variant.intervention?.source { referenced.insert(source) }
        }
        // A scan's view draws its target's and source's heads: they stay too.
        if context.scanArtifacts != nil {
            for scan in experiment.scans where scan.model == nil || scan.model == spec.name {
                for path in [scan.target] + (scan.source.map { [$0] } ?? []) {
                    if let found = group.variants.first(where: { $0.path == path && $0.intervention == nil }) { referenced.insert(found.name) }
                }
            }
        }
        var kept: [String: ExpectationEvaluator.Subject] = [:]
        // Per variant: the heads its checks and changes read, the record, and (for kept ones) the trace to write last.
        var neededHeads: [String: Set<HeadRef>] = [:]
        var records: [Manifest.VariantRecord?] = Array(repeating: nil, count: group.variants.count)
        var resultsByExpectation: [[Manifest.ExpectationResult]] = Array(repeating: [], count: experiment.expectations.count)
        var deferred: [(index: Int, subject: ExpectationEvaluator.Subject)] = []

        // Variants without an intervention are traced in batches of up to `batchSize` (one forward
        // pass over all their passes, every weight read once for them), each batch when its first
        // variant comes up, so that at most one batch of traces waits in memory. The batches are
        // fixed by the plan, not by the threads or the shard. A batch that fails is traced again one
        // variant at a time, so that the variant at fault is reported on its own.
        let plain = group.variants.indices.filter { group.variants[$0].intervention == nil }
        let batchOf: [Int: [Int]] = Dictionary(uniqueKeysWithValues: stride(from: 0, to: plain.count, by: Self.batchSize).flatMap { start in
            let batch = Array(plain[start ..< min(start + Self.batchSize, plain.count)])
            return batch.map { ($0, batch) }
        })
        var batched: [Int: Trace] = [:]
        var tried: Set<Int> = []

        for (position, variant) in group.variants.enumerated() {
            if let batch = batchOf[position], batch.count > 1, !tried.contains(batch[0]) {
                tried.insert(batch[0])
                let requests = batch.map { Executor.request(group.variants[$0], spec, capture: experiment.capture, watched: context.watched) }
                if let traces = try? model.trace(batch: requests), traces.allSatisfy({ (try? $0.checkFinite()) != nil }) {
                    for (index, trace) in zip(batch, traces) { batched[index] = trace }
                }
            }
            let trace: Trace
            do {
                trace = try batched.removeValue(forKey: position) ?? traceVariant(variant, group: group, context: context)
            } catch {
                // A variant that cannot be run (an input too long, say) is reported, and fails the
                // expectations that name it; the other variants still run.
                let message = "\(error)"
                outcome.failures.append(.init(model: spec.name, subject: variant.path, message: message))
                for (index, expectation) in experiment.expectations.enumerated() {
                    switch expectation.check {
                    case .scanTop, .scanCell: continue
                    case .attributionRank: guard expectation.variant == variant.path else { continue }
                    default: guard ExpectationEvaluator.names(expectation, model: spec.name, variant: variant) else { continue }
                    }
                    guard expectation.model == nil || expectation.model == spec.name else { continue }
                    resultsByExpectation[index].append(Manifest.ExpectationResult(
                        index: index, line: expectation.line, model: spec.name, variant: variant.path, perturbation: variant.rateFamily,
                        expectation: ExpectationEvaluator.describe(expectation.check), passed: false,
                        actual: "the variant could not be run: \(message)", margin: nil))
                }
                continue
            }
            let subject = ExpectationEvaluator.Subject(model: spec.name, variant: variant, trace: trace,
                                                       label: Executor.label(trace, spec), threshold: spec.threshold)
            let base = variant.isBase ? nil : compared(with: variant, in: kept)

            // Expectations on this variant.
            for (index, expectation) in experiment.expectations.enumerated() {
                switch expectation.check {
                case .scanTop, .scanCell, .attributionRank: continue
                default: break
                }
                guard ExpectationEvaluator.names(expectation, model: spec.name, variant: variant) else { continue }
                let verdict = ExpectationEvaluator.check(expectation.check, subject, base: base ?? (variant.isBase ? subject : nil))
                if let head = verdict.head { neededHeads[variant.name, default: []].insert(head) }
                resultsByExpectation[index].append(result(index, expectation, subject, verdict))
            }

            // What changed against the base.
            var change: ChangeSummary?
            var diff: TraceDiff?
            if let base {
                do {
                    diff = try TraceDiff.compare(base.trace, trace)
                } catch {
                    throw ExperimentError("comparing \(variant.path) with \(base.variant.path) on model \(spec.name)", cause: error)
                }
                change = diff.map { ChangeSummary(base: base.variant.path, diff: $0, heads: ChangeSummary.headsKept(storage)) }
                let top = Set((change?.heads ?? []).prefix(storage.mostChanged).map { HeadRef(layer: $0.layer, head: $0.head) })
                neededHeads[variant.name, default: []].formUnion(top)
                neededHeads[base.variant.name, default: []].formUnion(top)
            }

            // Attributions of this variant, and the expectations on them.
            let attributions: [Manifest.AttributionRecord]
            do {
                attributions = try attribute(subject, group: group, context: context)
            } catch {
                outcome.failures.append(.init(model: spec.name, subject: "attribution of \(variant.path)", message: "\(error)"))
                attributions = []
            }
            outcome.attributions += attributions
            for (index, expectation) in experiment.expectations.enumerated() {
                guard case .attributionRank(let method, let word, let maxRank) = expectation.check,
                      expectation.variant == variant.path, expectation.model == nil || expectation.model == spec.name else { continue }
                let records = attributions.filter { $0.method == method }
                if records.isEmpty {
                    resultsByExpectation[index].append(result(index, expectation, subject, Verdict(false,
                        "no \(method.rawValue) attribution of \(expectation.variant) (add it under attribution:)")))
                }
                for record in records {
                    resultsByExpectation[index].append(result(index, expectation, subject,
                                                              ExpectationEvaluator.checkAttribution(word, maxRank: maxRank, record)))
                }
            }

            let links = try context.artifacts?(VariantArtifacts(folder: context.folder, subject: subject, base: base, diff: diff)) ?? []
            records[position] = Manifest.VariantRecord(model: spec.name, variant: variant, trace: nil, tokens: trace.tokens.count,
                                                       outputs: trace.outputs, label: subject.label, change: change,
                                                       heads: storage.attention == .all ? nil : HeadSummaries.of(trace),
                                                       files: links.isEmpty ? nil : links)
            if referenced.contains(variant.name) {
                kept[variant.name] = subject
                deferred.append((position, subject))
            } else {
                records[position]?.trace = try store(subject, heads: neededHeads[variant.name] ?? [], context: context)
            }
        }
        // The traces others were compared with: now every head their variants need is known.
        for (position, subject) in deferred {
            records[position]?.trace = try store(subject, heads: neededHeads[subject.variant.name] ?? [], context: context)
        }

        // Scans whose target is a variant of this group.
        for (scanIndex, scan) in experiment.scans.enumerated() where scan.model == nil || scan.model == spec.name {
            guard let target = group.variants.first(where: { $0.path == scan.target && $0.intervention == nil }) else { continue }
            let record: Manifest.ScanRecord
            do {
                record = try runScan(scan, target: target, group: group, context: context)
            } catch {
                // The scan's expectations fail with its error; the rest of the run goes on.
                outcome.failures.append(.init(model: spec.name, subject: "scan \(scan.id)", message: "\(error)"))
                for (index, expectation) in experiment.expectations.enumerated() {
                    switch expectation.check {
                    case .scanTop(let name, _, _), .scanCell(let name, _, _, _, _):
                        guard name == scan.id, expectation.model == nil || expectation.model == spec.name else { continue }
                        resultsByExpectation[index].append(Manifest.ExpectationResult(
                            index: index, line: expectation.line, model: spec.name, variant: expectation.variant,
                            perturbation: "scan \(scan.id)", expectation: ExpectationEvaluator.describe(expectation.check),
                            passed: false, actual: "scan \(scan.id) did not run: \(error)", margin: nil))
                    default: continue
                    }
                }
                continue
            }
            outcome.scans.append(record)
            if let write = context.scanArtifacts, let targetSubject = kept[target.name] {
                let source = scan.source.flatMap { path in kept.values.first { $0.variant.path == path && $0.variant.intervention == nil } }
                try write(ScanArtifacts(folder: context.folder, record: record, target: targetSubject.trace, source: source?.trace))
            }
            for (index, expectation) in experiment.expectations.enumerated() {
                switch expectation.check {
                case .scanTop(let name, _, _), .scanCell(let name, _, _, _, _):
                    guard name == scan.id, expectation.model == nil || expectation.model == spec.name else { continue }
                    let verdict = ExpectationEvaluator.checkScan(expectation.check, record)
                    resultsByExpectation[index].append(Manifest.ExpectationResult(
                        index: index, line: expectation.line, model: spec.name, variant: expectation.variant,
                        perturbation: "scan \(experiment.scans[scanIndex].id)", expectation: ExpectationEvaluator.describe(expectation.check),
                        passed: verdict.passed, actual: verdict.actual, margin: verdict.margin))
                default: continue
                }
            }
        }
        outcome.records = records.compactMap { $0 }
        outcome.results = resultsByExpectation.flatMap { $0 }
        return outcome
    }

    static func result(_ index: Int, _ expectation: ExpectationSpec, _ subject: ExpectationEvaluator.Subject,
                       _ verdict: Verdict) -> Manifest.ExpectationResult {
        Manifest.ExpectationResult(index: index, line: expectation.line, model: subject.model, variant: subject.variant.path,
                                   perturbation: subject.variant.rateFamily, expectation: ExpectationEvaluator.describe(expectation.check),
                                   passed: verdict.passed, actual: verdict.actual, margin: verdict.margin)
    }

    /// The variant `variant` is compared with: the one its intervention changes, or the base.
    static func compared(with variant: Variant, in kept: [String: ExpectationEvaluator.Subject]) -> ExpectationEvaluator.Subject? {
        if variant.intervention != nil { return kept[variant.parentName] }
        return kept.values.first { $0.variant.isBase }
    }

    /// The trace of one variant: with its intervention (a patch's source is a variant of the same group).
    static func traceVariant(_ variant: Variant, group: PlannedGroup, context: GroupContext) throws -> Trace {
        let spec = context.experiment.models[group.model]
        let model = context.models[group.model]
        let request = Executor.request(variant, spec, capture: context.experiment.capture, watched: context.watched)
        guard let intervention = variant.intervention else {
            let trace = try model.trace(request)
            try trace.checkFinite()
            return trace
        }
        var sources: InterventionRunner.Sources = [:]
        if let source = intervention.source,
           let found = group.variants.first(where: { $0.name == source && $0.intervention == nil }) {
            sources[source] = Executor.request(found, spec, capture: [], watched: context.watched)
        }
        let trace = try InterventionRunner.trace(request, interventions: [intervention], model: model, sources: sources,
                                                 meanReference: context.meanReference[group.model].map { Executor.request($0, spec, capture: [], watched: []) })
        try trace.checkFinite()
        return trace
    }

    /// Writes the trace as the experiment's `capture:` asks; returns its path in the run, or nil
    /// when the run keeps no trace files.
    static func store(_ subject: ExpectationEvaluator.Subject, heads needed: Set<HeadRef>, context: GroupContext) throws -> String? {
        let storage = context.experiment.storage
        guard storage.attention != .none else { return nil }
        var trace = subject.trace
        switch storage.precision {
        case .float32: break
        case .float16: trace.provenance.attentionStorage = "float16"
        case .uint8: trace.provenance.attentionStorage = "uint8-sqrt"
        }
        if storage.attention == .needed {
            for (kind, var stack) in trace.stacks {
                var heads = needed.union(storage.heads)
                for layer in storage.layers { for head in 0 ..< stack.headCount { heads.insert(HeadRef(layer: layer, head: head)) } }
                stack.storedHeads = heads.filter { $0.layer < stack.layerCount && $0.head < stack.headCount }.sorted()
                trace.stacks[kind] = stack
            }
        }
        let relative = try RunPaths.trace(model: subject.model, variant: subject.variant)
        try TraceFile.write(trace, to: context.folder.appendingPathComponent(relative))
        return relative
    }

    /// The attributions the experiment asks for of this variant.
    static func attribute(_ subject: ExpectationEvaluator.Subject, group: PlannedGroup, context: GroupContext) throws -> [Manifest.AttributionRecord] {
        let experiment = context.experiment
        let spec = experiment.models[group.model]
        guard subject.variant.intervention == nil else { return [] }
        var records: [Manifest.AttributionRecord] = []
        for attribution in experiment.attributions where attribution.model == nil || attribution.model == spec.name {
            let parts = attribution.variants.split(separator: "/").map(String.init)
            guard ExpectationSpec.matches(parts[0], subject.variant.input), ExpectationSpec.matches(parts[1], subject.variant.name) else { continue }
            let request = Executor.request(subject.variant, spec, capture: [], watched: context.watched)
            do {
                records += try Attribution.run(attribution.methods, metric: attribution.metric, model: context.models[group.model],
                                               request: request, trace: subject.trace).map {
                    Manifest.AttributionRecord(model: subject.model, variant: subject.variant.path, method: $0.method,
                                               metric: $0.metric, baseline: $0.baseline, words: $0.words, scores: $0.scores)
                }
            } catch {
                throw ExperimentError("attribution of \(subject.variant.path) on model \(subject.model)",
                                      location: "\(experiment.file):\(attribution.position.line):\(attribution.position.column)", cause: error)
            }
        }
        return records
    }

    static func runScan(_ scan: ScanSpecification, target: Variant, group: PlannedGroup, context: GroupContext) throws -> Manifest.ScanRecord {
        let experiment = context.experiment
        let spec = experiment.models[group.model]
        let model = context.models[group.model]
        let position = "\(experiment.file):\(scan.position.line):\(scan.position.column)"
        let targetRequest = Executor.request(target, spec, capture: [], watched: context.watched)
        let source = scan.source.flatMap { path in group.variants.first { $0.path == path && $0.intervention == nil } }
        if scan.source != nil, source == nil {
            throw ExperimentError("scan \(scan.id): model \(spec.name) has no variant \(scan.source ?? "") (did the perturbation apply?)", location: position)
        }
        let task = targetRequest.task ?? model.defaultTask(for: targetRequest)
        guard let metric = scan.metric ?? (task == .similarity ? .similarity : nil) else {
            throw ExperimentError("scan \(scan.id): say what to measure for the \(task.rawValue) task (metric: p:LABEL or logit-diff:A,B)",
                                  location: position)
        }
        let specification = ScanSpec(site: scan.site, stack: scan.stack, mode: scan.mode, metric: metric, layers: scan.layers,
                                     threads: context.scanThreads)
        do {
            let result = try ScanRunner.run(specification, model: model, target: targetRequest,
                                            source: source.map { Executor.request($0, spec, capture: [], watched: context.watched) },
                                            names: (scan.target, scan.source))
            return Manifest.ScanRecord(id: scan.id, model: spec.name, result: result)
        } catch {
            throw ExperimentError("scan \(scan.id) on model \(spec.name)", location: position, cause: error)
        }
    }
}
