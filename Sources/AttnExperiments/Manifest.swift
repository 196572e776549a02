import AttnCore
import AttnDiff
import Foundation

/// `runs/<experiment>/<run-id>/manifest.json`: what was run, on which weights, and what came of it
/// in summary: each expectation's failures per model and per perturbation with the worst ones, the
/// variants that changed most, scans and attributions. The variants themselves are in
/// `variants.jsonl` and every expectation result in `results.jsonl` (one a line; `RunFolder`
/// reads them), so that a run of any size has a manifest of a few kilobytes. Everything but
/// `timing` is the same for the same experiment and weights, sharded or not.
public struct Manifest: Codable, Sendable, Equatable {
    /// Version 2: variants and results in their own files.
    public static let formatVersion = 2

    public struct ExperimentInfo: Codable, Sendable, Equatable {
        public var name: String
        public var description: String?
        public var file: String
        public var hash: String
        /// Inputs run (after `sample:`), and the rows `--skip-bad-rows` left out (the first 20).
        public var inputs: Int?
        public var skippedRows: Int?
        public var skipped: [InputSet.BadRow]?

        enum CodingKeys: String, CodingKey {
            case name, description, file, hash, inputs, skipped
            case skippedRows = "skipped_rows"
        }
    }

    public struct ModelInfo: Codable, Sendable, Equatable {
        public var name: String
        public var id: String
        public var architecture: String
        public var task: String
        public var layers: Int
        public var heads: Int
        public var weightsHash: String
        public var tokenizerHash: String

        enum CodingKeys: String, CodingKey {
            case name, id, architecture, task, layers, heads
            case weightsHash = "weights_hash", tokenizerHash = "tokenizer_hash"
        }
    }

    /// One line of `variants.jsonl`.
    public struct VariantRecord: ModelVariant, Codable, Sendable, Equatable {
        public var model: String
        public var variant: Variant
        /// The trace file, relative to the run folder; nil when the run keeps no traces
        /// (`capture: {attention: none}`: `attnlab trace --from-run` writes it).
        public var trace: String?
        public var tokens: Int
        public var outputs: TraceOutputs
        /// The label the outputs amount to (thresholded similarity, top class, top token at the mask).
        public var label: String?
        /// What changed against the variant it is compared with; nil for a base.
        public var change: ChangeSummary?
        /// Per-head summaries, when the trace keeps less than every head.
        public var heads: [HeadSummaries]?
        /// Views and figures written for it.
        public var files: [ArtifactLink]?

        public init(model: String, variant: Variant, trace: String?, tokens: Int, outputs: TraceOutputs, label: String?,
                    change: ChangeSummary? = nil, heads: [HeadSummaries]? = nil, files: [ArtifactLink]? = nil) {
            self.model = model
            self.variant = variant
            self.trace = trace
            self.tokens = tokens
            self.outputs = outputs
            self.label = label
            self.change = change
            self.heads = heads
            self.files = files
        }
    }

    /// One line of `results.jsonl`: one expectation on one variant.
    public struct ExpectationResult: Codable, Sendable, Equatable {
        /// The expectation's place in the experiment file's `expect:` list, from 0.
        public var index: Int
        public var line: Int
        public var model: String
        public var variant: String
        /// The variant's perturbation as written (`synonyms`), `base`, or `scan ID`: what failure rates are counted by.
        public var perturbation: String
        /// What was expected, in words.
        public var expectation: String
        public var passed: Bool
        /// What was measured, in words (`0.351 in layer 5, head 4`).
        public var actual: String
        /// How far from passing (failures only; see `Verdict`).
        public var margin: Double?
    }

    /// The failures of one model, or one perturbation, under one expectation.
    public struct RateCount: Codable, Sendable, Equatable {
        public var name: String
        public var checked: Int
        public var failed: Int

        public var rate: Double { checked == 0 ? 0 : Double(failed) / Double(checked) }
    }

    /// One expectation over every variant it names.
    public struct ExpectationSummary: Codable, Sendable, Equatable {
        public var index: Int
        public var line: Int
        public var expectation: String
        /// The variants it names (`*/syn-*`).
        public var variant: String
        public var model: String?
        /// The failures allowed per model (nil: none).
        public var allowed: FailureAllowance?
        public var checked: Int
        public var failed: Int
        /// Every model's failures are within `allowed` (and it checked something).
        public var passed: Bool
        public var byModel: [RateCount]
        /// Most failures first.
        public var byPerturbation: [RateCount]
        /// The failures that missed most, worst first (at most 10).
        public var worst: [ExpectationResult]
        /// Every result, when it checked at most 5 variants.
        public var results: [ExpectationResult]?
        /// Why nothing was checked.
        public var problem: String?

        public var rate: Double { checked == 0 ? 0 : Double(failed) / Double(checked) }

        enum CodingKeys: String, CodingKey {
            case index, line, expectation, variant, model, allowed, checked, failed, passed, worst, results, problem
            case byModel = "by_model", byPerturbation = "by_perturbation"
        }
    }

    /// A variant that changed much against its base.
    public struct ComparisonReference: Codable, Sendable, Equatable {
        public var model: String
        public var variant: String
        public var base: String
        /// The largest Jensen–Shannon divergence of a head.
        public var divergence: Double
    }

    /// A variant (or a scan, an attribution) that could not be run: the rest of the run went on.
    public struct Failure: Codable, Sendable, Equatable {
        public var model: String
        /// `input/variant`, or what else failed (`scan heads`, `attribution of eminem/terrific`).
        public var subject: String
        /// The error, as one line.
        public var message: String

        public init(model: String, subject: String, message: String) {
            self.model = model
            self.subject = subject
            self.message = message
        }
    }

    public struct Timing: Codable, Sendable, Equatable {
        public var runID: String
        public var started: String
        public var threads: Int
        public var seconds: Double
        public var variantsPerSecond: Double
        /// A merged run: each shard's seconds.
        public var shards: [Double]?
        /// Processor time (user and system, all threads) spent tracing the groups, for rates per
        /// core on a machine others share.
        public var cpuSeconds: Double?
        /// Of `seconds`, those spent before the first variant: loading and checking the models.
        public var loadSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case started, threads, seconds, shards
            case runID = "run_id", variantsPerSecond = "variants_per_second", cpuSeconds = "cpu_seconds", loadSeconds = "load_seconds"
        }
    }

    /// A shard of a run: which share of the groups (model × input) it ran.
    public struct ShardInfo: Codable, Sendable, Equatable {
        /// From 1.
        public var index: Int
        public var count: Int
        /// Its groups: `first ..< end` of `total`.
        public var first: Int
        public var end: Int
        public var total: Int
    }

    /// A scan the experiment asked for, on one model.
    public struct ScanRecord: Codable, Sendable, Equatable {
        public var id: String
        public var model: String
        public var result: ScanResult
    }

    /// One variant's words ranked by one attribution method.
    public struct AttributionRecord: Codable, Sendable, Equatable {
        public var model: String
        /// `input/variant`.
        public var variant: String
        public var method: AttributionMethod
        /// What occlusion measured (nil for rollout).
        public var metric: String?
        /// The metric of the variant itself (occlusion), from which each word's effect is taken.
        public var baseline: Double?
        public var words: [String]
        /// Per word: occlusion, the metric's drop when the word is removed (positive: the word
        /// raised it); rollout, the attention that flows to it.
        public var scores: [Double]

        /// Words by score, highest first (equal ones in reading order).
        public func ranked() -> [(word: String, score: Double)] {
            zip(words, scores).enumerated().sorted { a, b in
                a.element.1 != b.element.1 ? a.element.1 > b.element.1 : a.offset < b.offset
            }.map { ($0.element.0, $0.element.1) }
        }
    }

    public var format: Int = formatVersion
    public var attnlabVersion: String
    public var experiment: ExperimentInfo
    public var models: [ModelInfo]
    /// What each trace file keeps.
    public var storage: TraceStorage
    /// Variant records in `variants.jsonl`, and expectation results in `results.jsonl`.
    public var variantCount: Int
    public var resultCount: Int
    public var expectations: [ExpectationSummary]
    /// The variants that changed most (the report draws them), most first.
    public var mostChanged: [ComparisonReference]
    public var scans: [ScanRecord] = []
    public var attributions: [AttributionRecord] = []
    /// What could not be run (nil when everything ran); `passed` is then false.
    public var failures: [Failure]? = nil
    public var passed: Bool
    /// Set on a shard's manifest; a merged run has none.
    public var shard: ShardInfo?
    public var timing: Timing

    enum CodingKeys: String, CodingKey {
        case format, experiment, models, storage, expectations, scans, attributions, failures, passed, shard, timing
        case attnlabVersion = "attnlab_version", variantCount = "variant_count", resultCount = "result_count", mostChanged = "most_changed"
    }

    public init(attnlabVersion: String, experiment: ExperimentInfo, models: [ModelInfo], storage: TraceStorage, variantCount: Int,
                resultCount: Int, expectations: [ExpectationSummary], mostChanged: [ComparisonReference], scans: [ScanRecord] = [],
                attributions: [AttributionRecord] = [], passed: Bool, shard: ShardInfo? = nil, timing: Timing) {
        self.attnlabVersion = attnlabVersion
        self.experiment = experiment
        self.models = models
        self.storage = storage
        self.variantCount = variantCount
        self.resultCount = resultCount
        self.expectations = expectations
        self.mostChanged = mostChanged
        self.scans = scans
        self.attributions = attributions
        self.passed = passed
        self.shard = shard
        self.timing = timing
    }

    /// Pretty, key-sorted JSON.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(self) + Data("\n".utf8)
    }

    public static func read(_ url: URL) throws -> Manifest {
        let data: Data
        do {
            data = try RegularFile.read(url, limit: 64 << 20, what: "manifest")
        } catch let error as CoreError {
            throw ExperimentError("no run manifest here: \(error.message)", location: url.path,
                                  hint: "give a run folder (runs/<experiment>/<run-id>) or a trace file")
        }
        struct Version: Decodable { var format: Int? }
        if let version = try? JSONDecoder().decode(Version.self, from: data), (version.format ?? 1) != formatVersion {
            throw ExperimentError("the run was written by another version of attnlab (run format \(version.format ?? 1), this one reads \(formatVersion))",
                                  location: url.path, hint: "run the experiment again")
        }
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw ExperimentError("not a run manifest: \(TraceFile.describe(error))", location: url.path)
        }
    }
}
