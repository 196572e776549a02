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

        // Trace every variant. Each forward pass runs on one thread; the threads share the variants.
        BLAS.setThreads(1)
        let workers = max(1, min(options.threads, planned.count))
        let results = ResultSlots<Result<Trace, Error>>(count: planned.count)
        let counter = WorkCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let index = counter.next(below: planned.count) {
                let job = planned[index], spec = experiment.models[job.model]
                let request = Self.request(job.variant, spec, capture: experiment.capture, watched: watched)
                results[index] = Result {
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
                let done = counter.finish()
                options.progress?(done, planned.count, "\(spec.name) \(job.variant.path)")
            }
        }
        var subjects: [ExpectationEvaluator.Subject] = []
        for (index, job) in planned.enumerated() {
            let spec = experiment.models[job.model]
            switch results[index]! {
            case .failure(let error):
                throw ExperimentError("model \(spec.name), variant \(job.variant.path)", cause: error)
            case .success(let trace):
                do {
                    try trace.checkFinite()
                } catch {
                    throw ExperimentError("model \(spec.name), variant \(job.variant.path)", cause: error)
                }
                subjects.append(.init(model: spec.name, variant: job.variant, trace: trace, label: label(trace, spec)))
            }
        }
        let scans = try runScans(experiment, models: models, planned: planned, watched: watched, threads: options.threads)
        let attributions = try runAttributions(experiment, models: models, subjects: subjects, watched: watched)
        let expectations = ExpectationEvaluator.evaluate(experiment.expectations, subjects: subjects, inputs: experiment.inputs,
                                                         scans: scans, attributions: attributions)

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
            let manifest = Manifest(
                attnlabVersion: AttnLab.version,
                experiment: .init(name: experiment.name, description: experiment.description, file: experiment.file, hash: experiment.hash),
                models: zip(experiment.models, models).map { spec, loaded in
                    .init(name: spec.name, id: spec.id, architecture: loaded.modelType,
                          task: (spec.task ?? loaded.defaultTask(for: TraceRequest(a: "", b: experiment.inputs.first?.b))).rawValue,
                          layers: loaded.model.summary.layers, heads: loaded.model.summary.heads,
                          weightsHash: loaded.weightsHash, tokenizerHash: loaded.tokenizerHash)
                },
                variants: records, expectations: expectations, scans: scans, attributions: attributions,
                passed: expectations.allSatisfy(\.passed),
                timing: .init(runID: runID, started: formatter.string(from: started), threads: workers, seconds: seconds,
                              variantsPerSecond: Double(planned.count) / max(seconds, 1e-9)))
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

    /// The experiment's scans, on every model they name (all by default).
    static func runScans(_ experiment: Experiment, models: [LoadedModel], planned: [PlannedVariant], watched: [String],
                         threads: Int) throws -> [Manifest.ScanRecord] {
        var records: [Manifest.ScanRecord] = []
        for scan in experiment.scans {
            for (m, spec) in experiment.models.enumerated() where scan.model == nil || scan.model == spec.name {
                func request(_ path: String?) -> TraceRequest? {
                    guard let path, let job = planned.first(where: { $0.model == m && $0.variant.path == path }) else { return nil }
                    return Self.request(job.variant, spec, capture: [], watched: watched)
                }
                guard let target = request(scan.target) else {
                    throw ExperimentError("scan \(scan.id): model \(spec.name) has no variant \(scan.target) (did the perturbation apply?)",
                                          location: "\(experiment.file):\(scan.position.line):\(scan.position.column)")
                }
                let task = target.task ?? models[m].defaultTask(for: target)
                guard let metric = scan.metric ?? (task == .similarity ? .similarity : nil) else {
                    throw ExperimentError("scan \(scan.id): say what to measure for the \(task.rawValue) task (metric: p:LABEL or logit-diff:A,B)",
                                          location: "\(experiment.file):\(scan.position.line):\(scan.position.column)")
                }
                let specification = ScanSpec(site: scan.site, stack: scan.stack, mode: scan.mode, metric: metric, layers: scan.layers,
                                             threads: threads)
                do {
                    let result = try ScanRunner.run(specification, model: models[m], target: target, source: request(scan.source),
                                                    names: (scan.target, scan.source))
                    records.append(.init(id: scan.id, model: spec.name, result: result))
                } catch {
                    throw ExperimentError("scan \(scan.id) on model \(spec.name)", location: "\(experiment.file):\(scan.position.line):\(scan.position.column)",
                                          cause: error)
                }
            }
        }
        return records
    }

    /// The attributions of every traced variant an attribution names.
    static func runAttributions(_ experiment: Experiment, models: [LoadedModel], subjects: [ExpectationEvaluator.Subject],
                                watched: [String]) throws -> [Manifest.AttributionRecord] {
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
                    throw ExperimentError("attribution of \(subject.variant.path) on model \(subject.model)",
                                          location: "\(experiment.file):\(attribution.position.line):\(attribution.position.column)", cause: error)
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
