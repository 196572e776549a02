import AttnCore
import AttnModels
import Foundation

/// How to run an experiment.
public struct RunOptions: Sendable {
    /// Variants traced at once (each forward pass then uses one thread, so results do not depend on it).
    public var threads: Int
    /// Where runs are written (`runs/` by default): `<runs>/<experiment>/<run-id>/`.
    public var runsFolder: URL
    public var locator: ModelLocator
    /// Called after each variant with (done, total, what); from worker threads, one call at a time.
    public var progress: (@Sendable (Int, Int, String) -> Void)?
    /// The run's folder name; default: the UTC time.
    public var runID: String?
    /// Writes the rest of the run (views, figures, the report) into the staging folder,
    /// `result.folder`, before the run is renamed into place; when it throws, nothing is left.
    public var finish: (@Sendable (RunResult) throws -> Void)?

    public init(threads: Int = 1, runsFolder: URL = URL(fileURLWithPath: "runs"), locator: ModelLocator = .standard(),
                progress: (@Sendable (Int, Int, String) -> Void)? = nil, runID: String? = nil,
                finish: (@Sendable (RunResult) throws -> Void)? = nil) {
        self.threads = threads
        self.runsFolder = runsFolder
        self.locator = locator
        self.progress = progress
        self.runID = runID
        self.finish = finish
    }
}

/// A finished run: its folder, its manifest and its traces (in memory, for reports).
public struct RunResult: Sendable {
    public var folder: URL
    public var manifest: Manifest
    public var subjects: [ExpectationEvaluator.Subject]
}

/// One model × input × variant to trace.
public struct PlannedVariant: Sendable {
    public var model: Int
    public var variant: Variant
}

/// Plans, runs and stores an experiment: loads each model once, traces every model × input ×
/// variant on the available threads, evaluates the expectations, and writes the run folder.
/// Everything (traces, manifest, and what `RunOptions.finish` adds: views, figures, report) is
/// written under a temporary name, and the folder is renamed into place last, so that no run is
/// ever seen half-written, whether the writing fails or the process is killed.
public enum Executor {
    /// The variants of every input for one model: the base, then each perturbation that applies,
    /// then each intervention applied to each of those it names.
    public static func plan(_ experiment: Experiment, maskTokens: [String?]) -> [PlannedVariant] {
        var planned: [PlannedVariant] = []
        for (m, mask) in maskTokens.enumerated() {
            for input in experiment.inputs {
                var variants = [Variant.base(of: input)]
                for perturbation in experiment.perturbations {
                    if let variant = perturbation.apply(to: input, maskToken: mask) { variants.append(variant) }
                }
                let unchanged = variants
                for intervention in experiment.interventions {
                    for variant in unchanged where intervention.applyTo?.contains(variant.name) ?? true {
                        variants.append(variant.intervened(intervention))
                    }
                }
                planned += variants.map { PlannedVariant(model: m, variant: $0) }
            }
        }
        return planned
    }

    /// The request that traces a variant with a model of the experiment.
    static func request(_ variant: Variant, _ spec: ModelSpec, capture: CaptureOptions, watched: [String]) -> TraceRequest {
        var request = TraceRequest(a: variant.a, b: variant.b, decoderText: variant.decoder, task: spec.task, capture: capture, topK: spec.topK)
        request.watchedTokens = watched
        return request
    }

    public static func run(_ experiment: Experiment, options: RunOptions) throws -> RunResult {
        let started = Date()
        let models: [LoadedModel] = try experiment.models.map { spec in
            do {
                return try LoadedModel(spec.id, locator: options.locator)
            } catch {
                throw ExperimentError("model \(spec.name) (\(spec.id))", cause: error)
            }
        }
        let planned = plan(experiment, maskTokens: models.map { $0.tokenizer.maskToken })
        // What only the models can tell (layers, heads, words) is checked before anything runs.
        try ExperimentChecker.check(experiment, models: models, planned: planned)

        // Tokens whose probability an expectation or a metric reads (`output: she`) are kept whatever their rank.
        let watched = Array(Set(experiment.expectations.flatMap { expectation -> [String] in
            switch expectation.check {
            case .above(let name, _), .below(let name, _), .equals(let name, _, _), .invariant(let name, _), .direction(let name, _, _):
                if case .probability(let token) = name { return [token] }
                return []
            default:
                return []
            }
        } + experiment.scans.flatMap { $0.metric?.watchedTokens ?? [] } + experiment.attributions.flatMap { $0.metric?.watchedTokens ?? [] })).sorted()
        // Mean ablations average over every base input of the experiment.
        let meanReference = experiment.inputs.map { Variant.base(of: $0) }

        // Trace every variant, in batches of consecutive variants of one model fixed by the plan
        // (each batch one forward pass over all its variants' passes, every weight read once for
        // them). Each batch runs on one thread; the threads share the batches, so the results do
        // not depend on the thread count. A batch that fails is traced again one variant at a
        // time, so that the error names its variant.
        let workers = max(1, min(options.threads, planned.count))
        let results = ResultSlots<Result<Trace, Error>>(count: planned.count)
        let batches = Self.batches(planned)
        let counter = WorkCounter()
        // One variant alone; an intervened one with what its intervention reads.
        func traceOne(_ index: Int, _ request: TraceRequest) throws -> Trace {
            let job = planned[index], spec = experiment.models[job.model]
            guard let intervention = job.variant.intervention else { return try models[job.model].trace(request) }
            // A patch reads from another variant of the same input.
            var sources: InterventionRunner.Sources = [:]
            if let source = intervention.source,
               let variant = planned.first(where: { $0.model == job.model && $0.variant.input == job.variant.input
                   && $0.variant.name == source && $0.variant.intervention == nil }) {
                sources[source] = Self.request(variant.variant, spec, capture: [], watched: watched)
            }
            return try InterventionRunner.trace(request, interventions: [intervention], model: models[job.model], sources: sources,
                                                meanReference: meanReference.map { Self.request($0, spec, capture: [], watched: []) })
        }
        DispatchQueue.concurrentPerform(iterations: min(workers, batches.count)) { _ in
            while let index = counter.next(below: batches.count) {
                let batch = batches[index]
                let (model, spec) = (models[planned[batch[0]].model], experiment.models[planned[batch[0]].model])
                let requests = batch.map { Self.request(planned[$0].variant, spec, capture: experiment.capture, watched: watched) }
                if batch.count > 1, let traces = try? model.trace(batch: requests) {
                    for (i, trace) in zip(batch, traces) { results[i] = .success(trace) }
                } else {
                    for (i, request) in zip(batch, requests) { results[i] = Result { try traceOne(i, request) } }
                }
                for i in batch {
                    let done = counter.finish()
                    options.progress?(done, planned.count, "\(spec.name) \(planned[i].variant.path)")
                }
            }
        }
        // A variant that fails (an input too long, say) is reported; the others still count.
        var subjects: [ExpectationEvaluator.Subject] = []
        var failures: [Manifest.Failure] = []
        for (index, job) in planned.enumerated() {
            let spec = experiment.models[job.model]
            switch results[index]! {
            case .failure(let error):
                failures.append(.init(model: spec.name, subject: job.variant.path, message: "\(error)"))
            case .success(let trace):
                do {
                    try trace.checkFinite()
                } catch {
                    failures.append(.init(model: spec.name, subject: job.variant.path, message: "\(error)"))
                    continue
                }
                subjects.append(.init(model: spec.name, variant: job.variant, trace: trace, label: label(trace, spec)))
            }
        }
        let scans = runScans(experiment, models: models, planned: planned, watched: watched, threads: options.threads, failures: &failures)
        let attributions = runAttributions(experiment, models: models, subjects: subjects, watched: watched, failures: &failures)
        let expectations = ExpectationEvaluator.evaluate(experiment.expectations, subjects: subjects, inputs: experiment.inputs,
                                                         scans: scans, attributions: attributions, failures: failures)

        // Write the whole run under a temporary name, then rename it into place.
        let seconds = Date().timeIntervalSince(started)
        let experimentFolder = options.runsFolder.appendingPathComponent(try PathComponent(experiment.name, what: "experiment name").name)
        let runID = try PathComponent(options.runID ?? uniqueRunID(in: experimentFolder, at: started), what: "run id").name
        let folder = experimentFolder.appendingPathComponent(runID)
        let staging = experimentFolder.appendingPathComponent(".\(runID).partial-\(getpid())")
        let fm = FileManager.default
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            var records: [Manifest.VariantRecord] = []
            for subject in subjects {
                let relative = try RunPaths.trace(model: subject.model, variant: subject.variant)
                try TraceFile.write(subject.trace, to: staging.appendingPathComponent(relative))
                records.append(.init(model: subject.model, variant: subject.variant, trace: relative,
                                     tokens: subject.trace.tokens.count, outputs: subject.trace.outputs, label: subject.label))
            }
            let formatter = ISO8601DateFormatter()
            var manifest = Manifest(
                attnlabVersion: AttnLab.version,
                experiment: .init(name: experiment.name, description: experiment.description, file: experiment.file, hash: experiment.hash),
                models: zip(experiment.models, models).map { spec, loaded in
                    .init(name: spec.name, id: spec.id, architecture: loaded.modelType,
                          task: (spec.task ?? loaded.defaultTask(for: TraceRequest(a: "", b: experiment.inputs.first?.b))).rawValue,
                          layers: loaded.model.summary.layers, heads: loaded.model.summary.heads,
                          weightsHash: loaded.weightsHash, tokenizerHash: loaded.tokenizerHash)
                },
                variants: records, expectations: expectations, scans: scans, attributions: attributions,
                passed: expectations.allSatisfy(\.passed) && failures.isEmpty,
                timing: .init(runID: runID, started: formatter.string(from: started), threads: workers, seconds: seconds,
                              variantsPerSecond: Double(planned.count) / max(seconds, 1e-9)))
            manifest.failures = failures.isEmpty ? nil : failures
            try AtomicFile.write(try manifest.encoded(), to: staging.appendingPathComponent("manifest.json"))
            try options.finish?(RunResult(folder: staging, manifest: manifest, subjects: subjects))
            if fm.fileExists(atPath: folder.path) { try fm.removeItem(at: folder) }
            try fm.moveItem(at: staging, to: folder)
            return RunResult(folder: folder, manifest: manifest, subjects: subjects)
        } catch {
            try? fm.removeItem(at: staging)
            throw ExperimentError("cannot write the run", location: folder.path, cause: error)
        }
    }

    /// Variants traced in one forward pass: consecutive ones of the same model, at most this many.
    static let batchSize = 16

    /// The plan cut into batches (indices into it): consecutive variants of one model, at most
    /// `batchSize` each; an intervened variant is a batch of its own. Fixed by the plan alone,
    /// never by the threads.
    static func batches(_ planned: [PlannedVariant]) -> [[Int]] {
        var batches: [[Int]] = []
        for (index, job) in planned.enumerated() {
            if job.variant.intervention == nil, let last = batches.last, last.count < batchSize,
               planned[last[0]].model == job.model, planned[last[0]].variant.intervention == nil {
                batches[batches.count - 1].append(index)
            } else {
                batches.append([index])
            }
        }
        return batches
    }

    /// The experiment's scans, on every model they name (all by default).
    static func runScans(_ experiment: Experiment, models: [LoadedModel], planned: [PlannedVariant], watched: [String],
                         threads: Int, failures: inout [Manifest.Failure]) -> [Manifest.ScanRecord] {
        var records: [Manifest.ScanRecord] = []
        for scan in experiment.scans {
            for (m, spec) in experiment.models.enumerated() where scan.model == nil || scan.model == spec.name {
                func request(_ path: String?) -> TraceRequest? {
                    guard let path, let job = planned.first(where: { $0.model == m && $0.variant.path == path }) else { return nil }
                    return Self.request(job.variant, spec, capture: [], watched: watched)
                }
                // The checker has made sure of both before anything ran.
                guard let target = request(scan.target) else { continue }
                let task = target.task ?? models[m].defaultTask(for: target)
                guard let metric = scan.metric ?? (task == .similarity ? .similarity : nil) else { continue }
                let specification = ScanSpec(site: scan.site, stack: scan.stack, mode: scan.mode, metric: metric, layers: scan.layers,
                                             threads: threads)
                do {
                    let result = try ScanRunner.run(specification, model: models[m], target: target, source: request(scan.source),
                                                    names: (scan.target, scan.source))
                    records.append(.init(id: scan.id, model: spec.name, result: result))
                } catch {
                    failures.append(.init(model: spec.name, subject: "scan \(scan.id)", message: "\(error)"))
                }
            }
        }
        return records
    }

    /// The attributions of every traced variant an attribution names.
    static func runAttributions(_ experiment: Experiment, models: [LoadedModel], subjects: [ExpectationEvaluator.Subject],
                                watched: [String], failures: inout [Manifest.Failure]) -> [Manifest.AttributionRecord] {
        var records: [Manifest.AttributionRecord] = []
        for attribution in experiment.attributions {
            let parts = attribution.variants.split(separator: "/").map(String.init)
            for subject in subjects where subject.variant.intervention == nil
                && (attribution.model == nil || attribution.model == subject.model)
                && (parts[0] == "*" || parts[0] == subject.variant.input) && (parts[1] == "*" || parts[1] == subject.variant.name) {
                guard let m = experiment.models.firstIndex(where: { $0.name == subject.model }) else { continue }
                let spec = experiment.models[m]
                let request = Self.request(subject.variant, spec, capture: [], watched: watched)
                do {
                    records += try Attribution.run(attribution.methods, metric: attribution.metric, model: models[m], request: request,
                                                   trace: subject.trace).map {
                        Manifest.AttributionRecord(model: subject.model, variant: subject.variant.path, method: $0.method,
                                                   metric: $0.metric, baseline: $0.baseline, words: $0.words, scores: $0.scores)
                    }
                } catch {
                    failures.append(.init(model: subject.model, subject: "attribution of \(subject.variant.path)", message: "\(error)"))
                }
            }
        }
        return records
    }

    /// The label a variant's outputs amount to: the side of the similarity threshold, the most
    /// probable class, or the most probable token at the first mask.
    static func label(_ trace: Trace, _ spec: ModelSpec) -> String? {
        if let similarity = trace.outputs.similarity, let threshold = spec.threshold {
            let labels = spec.labels ?? ["not-paraphrase", "paraphrase"]
            return similarity >= threshold ? labels[1] : labels[0]
        }
        var outputs = trace.outputs
        if let labels = spec.labels { outputs.labels = labels }  // the experiment's names for the classes
        return outputs.label ?? trace.outputs.topk?.first?.candidates.first?.token
    }

    static func uniqueRunID(in folder: URL, at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let stem = formatter.string(from: date)
        var id = stem, suffix = 2
        while FileManager.default.fileExists(atPath: folder.appendingPathComponent(id).path) {
            id = "\(stem)-\(suffix)"
            suffix += 1
        }
        return id
    }
}

/// Slots that worker threads fill at distinct indices.
final class ResultSlots<T>: @unchecked Sendable {
    private var values: [T?]
    private let lock = NSLock()
    init(count: Int) { values = Array(repeating: nil, count: count) }
    subscript(index: Int) -> T? {
        get { lock.withLock { values[index] } }
        set { lock.withLock { values[index] = newValue } }
    }
}

/// Hands out work indices and counts finished ones.
final class WorkCounter: @unchecked Sendable {
    private var nextIndex = 0, finished = 0
    private let lock = NSLock()
    func next(below limit: Int) -> Int? {
        lock.withLock {
            guard nextIndex < limit else { return nil }
            defer { nextIndex += 1 }
            return nextIndex
        }
    }
    func finish() -> Int { lock.withLock { finished += 1; return finished } }
}
