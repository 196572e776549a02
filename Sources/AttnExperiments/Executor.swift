import AttnCore
import AttnModels
import Foundation

/// A deterministic share of a run: shard `index` of `count` (from 1) runs the groups
/// (model × input) `(index − 1)·G/count ..< index·G/count` of the G groups.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    /// `i/n`, with 1 ≤ i ≤ n.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let index = parts[0], let count = parts[1], count >= 1 else {
            throw ExperimentError("\"\(text)\" is not a shard", hint: "write it as INDEX/COUNT, for example 2/4 (shards count from 1)")
        }
        guard (1 ... count).contains(index) else {
            throw ExperimentError("shard \(index) of \(count) is out of range", hint: "shards of \(count) are 1/\(count) to \(count)/\(count)")
        }
        self.init(index: index, count: count)
    }

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Its groups of `total`.
    public func range(of total: Int) -> Range<Int> {
        (index - 1) * total / count ..< index * total / count
    }

    /// `2-of-4`, the end of its folder's name.
    public var slug: String { "\(index)-of-\(count)" }

    public var description: String { "\(index)/\(count)" }
}

/// How to run an experiment.
public struct RunOptions: Sendable {
    /// Groups (model × input) traced at once; each forward pass uses one thread, so results do not depend on it.
    public var threads: Int
    /// Where runs are written (`runs/` by default): `<runs>/<experiment>/<run-id>/`.
    public var runsFolder: URL
    public var locator: ModelLocator
    /// Called after each group (model × input) with (groups done, groups in the run, what); one call at a time.
    public var progress: (@Sendable (Int, Int, String) -> Void)?
    /// The run's folder name; default: the UTC time.
    public var runID: String?
    /// Run only this share of the groups, into `<run-id>.shard-I-of-N/`.
    public var shard: Shard?
    /// Writes each variant's views and figures while its trace is in memory (into the staging folder).
    public var artifacts: (@Sendable (VariantArtifacts) throws -> [ArtifactLink])?
    /// Writes each scan's view while its target and source traces are in memory.
    public var scanArtifacts: (@Sendable (ScanArtifacts) throws -> Void)?
    /// Writes the rest of the run (the report) into the staging folder, `result.folder`, before the
    /// run is renamed into place; when it throws, nothing is left.
    public var finish: (@Sendable (RunResult) throws -> Void)?

    public init(threads: Int = 1, runsFolder: URL = URL(fileURLWithPath: "runs"), locator: ModelLocator = .standard(),
                progress: (@Sendable (Int, Int, String) -> Void)? = nil, runID: String? = nil, shard: Shard? = nil,
                artifacts: (@Sendable (VariantArtifacts) throws -> [ArtifactLink])? = nil,
                scanArtifacts: (@Sendable (ScanArtifacts) throws -> Void)? = nil,
                finish: (@Sendable (RunResult) throws -> Void)? = nil) {
        self.threads = threads
        self.runsFolder = runsFolder
        self.locator = locator
        self.progress = progress
        self.runID = runID
        self.shard = shard
        self.artifacts = artifacts
        self.scanArtifacts = scanArtifacts
        self.finish = finish
    }
}

/// A finished run: its folder and its manifest (the records and traces are in the folder).
public struct RunResult: Sendable {
    public var folder: URL
    public var manifest: Manifest

    public var run: RunFolder { RunFolder(url: folder, manifest: manifest) }
}

/// Plans, runs and stores an experiment: loads each model once; makes the groups (model × input
/// and its variants) as the inputs stream by; traces them on the available threads; writes each
/// trace as it finishes and each group's records in order; and builds the manifest from the
/// summaries. Memory does not grow with the number of variants. Everything (traces, records,
/// manifest, and what `RunOptions.finish` adds) is written under a temporary name, and the folder
/// is renamed into place last, so that no run is ever seen half-written.
public enum Executor {
    /// The variants of every input for every model (small experiments and tests; a run streams them).
    public static func plan(_ experiment: Experiment, maskTokens: [String?]) throws -> [PlannedVariant] {
        try RunPlan(experiment, maskTokens: maskTokens).all()
    }

    /// The same, a chat input first rendered by `renderChat(model, messages)`: its variants are
    /// edits of the prompt that model reads.
    public static func plan(_ experiment: Experiment, maskTokens: [String?],
                            renderChat: @escaping @Sendable (Int, [ChatMessage]) throws -> String) throws -> [PlannedVariant] {
        try RunPlan(experiment, maskTokens: maskTokens, renderChat: renderChat).all()
    }

    /// Base inputs mean ablations average over.
    static let meanReferenceInputs = 64

    /// The request that traces a variant with a model of the experiment.
    static func request(_ variant: Variant, _ spec: ModelSpec, capture: CaptureOptions, watched: [String]) -> TraceRequest {
        var request = TraceRequest(a: variant.a, b: variant.b, decoderText: variant.decoder, task: spec.task, capture: capture, topK: spec.topK)
        request.watchedTokens = watched
        request.chat = variant.chat ?? false
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
        let plan = RunPlan(experiment, maskTokens: models.map { $0.tokenizer.maskToken }, renderChat: { try models[$0].renderChat($1) })
        // What only the models can tell (layers, heads, words) is checked before anything runs.
        try ExperimentChecker.check(experiment, models: models, plan: plan)
        let loadSeconds = Date().timeIntervalSince(started)
        let range = options.shard.map { $0.range(of: plan.groupCount) } ?? 0 ..< plan.groupCount

        // Tokens whose probability an expectation or a metric reads (`output: she`) are kept whatever their rank.
        let watched = Array(Set(experiment.expectations.flatMap { expectation -> [String] in
            switch expectation.check {
            case .above(let name, _), .below(let name, _), .equals(let name, _, _), .invariant(let name, _), .direction(let name, _, _):
                return name.metric.watchedTokens
            default:
                return []
            }
        } + experiment.scans.flatMap { $0.metric?.watchedTokens ?? [] } + experiment.attributions.flatMap { $0.metric?.watchedTokens ?? [] })).sorted()

        let experimentFolder = options.runsFolder.appendingPathComponent(try PathComponent(experiment.name, what: "experiment name").name)
        let runID = try PathComponent(options.runID ?? uniqueRunID(in: experimentFolder, at: started), what: "run id").name
        let folder = experimentFolder.appendingPathComponent(options.shard.map { "\(runID).shard-\($0.slug)" } ?? runID)
        let staging = experimentFolder.appendingPathComponent(".\(folder.lastPathComponent).partial-\(getpid())")
        let fm = FileManager.default
        let createdFolder = !fm.fileExists(atPath: experimentFolder.path)
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            let writer = try RunWriter(folder: staging, expectations: experiment.expectations.map(RunTally.Expectation.init),
                                       models: experiment.models.map(\.name))
            let context = GroupContext(experiment: experiment, models: models, watched: watched,
                                       meanReference: try models.indices.map { m in
                                           try experiment.inputs.prefix(meanReferenceInputs).map { Variant.base(of: try plan.rendered($0, model: m)) }
                                       },
                                       folder: staging, scanThreads: options.threads, artifacts: options.artifacts,
                                       scanArtifacts: options.scanArtifacts)

            // Each forward pass runs on one thread; the threads share the groups.
            BLAS.setThreads(1)
            let workers = max(1, min(options.threads, range.count))
            let stream = GroupStream<PlannedGroup, GroupOutcome>(first: range.lowerBound, window: 4 * workers)
            let counter = WorkCounter()
            let progress = options.progress
            let groups = range.count
            let cpuBefore = processorSeconds()
            try stream.run(workers: workers, produce: { emit in
                try plan.forEachGroup(in: range) { try emit($0.index, $0) }
            }, work: { group in
                try GroupRunner.run(group, context: context)
            }, deliver: { outcome in
                try writer.append(outcome)
                let done = counter.finish()
                if let record = outcome.records.first {
                    progress?(done, groups, "\(record.model) \(record.variant.input) (\(outcome.records.count) variant\(outcome.records.count == 1 ? "" : "s"))")
                }
            })
            try writer.close()
            let cpu = processorSeconds() - cpuBefore

            let seconds = Date().timeIntervalSince(started)
            let formatter = ISO8601DateFormatter()
            let tally = writer.tally
            let expectations = tally.summaries()
            var manifest = Manifest(
                attnlabVersion: AttnLab.version,
                experiment: experimentInfo(experiment),
                models: zip(experiment.models, models).map { spec, loaded in
                    .init(name: spec.name, id: spec.id, architecture: loaded.modelType,
                          task: (spec.task ?? loaded.defaultTask(for: TraceRequest(a: "", b: experiment.inputs.first?.b))).rawValue,
                          layers: loaded.model.summary.layers, heads: loaded.model.summary.heads,
                          weightsHash: loaded.weightsHash, tokenizerHash: loaded.tokenizerHash)
                },
                storage: experiment.storage, variantCount: tally.variants, resultCount: tally.results,
                expectations: expectations, mostChanged: tally.mostChanged, scans: writer.scans, attributions: writer.attributions,
                passed: expectations.allSatisfy(\.passed) && writer.failures.isEmpty,
                shard: options.shard.map { .init(index: $0.index, count: $0.count, first: range.lowerBound, end: range.upperBound, total: plan.groupCount) },
                timing: .init(runID: runID, started: formatter.string(from: started), threads: workers, seconds: seconds,
                              variantsPerSecond: Double(tally.variants) / max(seconds, 1e-9), cpuSeconds: cpu,
                              loadSeconds: loadSeconds))
            manifest.failures = writer.failures.isEmpty ? nil : writer.failures
            try AtomicFile.write(try manifest.encoded(), to: staging.appendingPathComponent(RunFiles.manifest))
            try options.finish?(RunResult(folder: staging, manifest: manifest))
            if fm.fileExists(atPath: folder.path) { try fm.removeItem(at: folder) }
            try fm.moveItem(at: staging, to: folder)
            return RunResult(folder: folder, manifest: manifest)
        } catch {
            try? fm.removeItem(at: staging)
            // Nothing of a failed run is left, not even the experiment's folder it made.
            if createdFolder, (try? fm.contentsOfDirectory(atPath: experimentFolder.path))?.isEmpty == true {
                try? fm.removeItem(at: experimentFolder)
            }
            if error is ExperimentError { throw error }
            throw ExperimentError("cannot write the run", location: folder.path, cause: error)
        }
    }

    /// The manifest's account of the experiment: its file, hash and inputs.
    static func experimentInfo(_ experiment: Experiment) -> Manifest.ExperimentInfo {
        let skipped = experiment.inputs.skippedRows
        return .init(name: experiment.name, description: experiment.description, file: experiment.file, hash: experiment.hash,
                     inputs: experiment.inputs.count, skippedRows: skipped.isEmpty ? nil : skipped.count,
                     skipped: skipped.isEmpty ? nil : Array(skipped.prefix(20)))
    }

    /// The label a variant's outputs amount to: the side of the similarity threshold, the most
    /// probable class, the most probable token at the first mask (masked-lm) or after the last
    /// position (causal-lm, seq2seq).
    static func label(_ trace: Trace, _ spec: ModelSpec) -> String? {
        if let similarity = trace.outputs.similarity, let threshold = spec.threshold {
            let labels = spec.labels ?? ["not-paraphrase", "paraphrase"]
            return similarity >= threshold ? labels[1] : labels[0]
        }
        var outputs = trace.outputs
        if let labels = spec.labels { outputs.labels = labels }  // the experiment's names for the classes
        let predicted = trace.provenance.task == ModelTask.maskedLM.rawValue ? trace.outputs.topk?.first : trace.outputs.topk?.last
        return outputs.label ?? predicted?.candidates.first?.token
    }

    /// User and system time of the process so far.
    static func processorSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
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

/// Counts finished work.
final class WorkCounter: @unchecked Sendable {
    private var finished = 0
    private let lock = NSLock()
    func finish() -> Int { lock.withLock { finished += 1; return finished } }
}
