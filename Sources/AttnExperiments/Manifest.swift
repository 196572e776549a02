import AttnCore
import AttnDiff
import Foundation

/// `runs/<experiment>/<run-id>/manifest.json`: what was run, on which weights, with which outputs and
/// expectation results. Everything but `timing` is the same for the same experiment and weights.
public struct Manifest: Codable, Sendable, Equatable {
    public struct ExperimentInfo: Codable, Sendable, Equatable {
        public var name: String
        public var description: String?
        public var file: String
        public var hash: String
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

    public struct VariantRecord: ModelVariant, Codable, Sendable, Equatable {
        public var model: String
        public var variant: Variant
        /// The trace file, relative to the run folder.
        public var trace: String
        public var tokens: Int
        public var outputs: TraceOutputs
        /// The label the outputs amount to (thresholded similarity, top class, top token at the mask).
        public var label: String?
    }

    public struct ExpectationResult: Codable, Sendable, Equatable {
        public var line: Int
        public var model: String
        public var variant: String
        /// What was expected, in words.
        public var expectation: String
        public var passed: Bool
        /// What was measured, in words (`0.351 in layer 5, head 4`).
        public var actual: String
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

        enum CodingKeys: String, CodingKey {
            case started, threads, seconds
            case runID = "run_id", variantsPerSecond = "variants_per_second"
        }
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

    public var attnlabVersion: String
    public var experiment: ExperimentInfo
    public var models: [ModelInfo]
    public var variants: [VariantRecord]
    public var expectations: [ExpectationResult]
    public var scans: [ScanRecord] = []
    public var attributions: [AttributionRecord] = []
    /// What could not be run (nil when everything ran); `passed` is then false.
    public var failures: [Failure]? = nil
    public var passed: Bool
    public var timing: Timing

    enum CodingKeys: String, CodingKey {
        case experiment, models, variants, expectations, scans, attributions, failures, passed, timing
        case attnlabVersion = "attnlab_version"
    }

    public init(attnlabVersion: String, experiment: ExperimentInfo, models: [ModelInfo], variants: [VariantRecord],
                expectations: [ExpectationResult], scans: [ScanRecord] = [], attributions: [AttributionRecord] = [],
                passed: Bool, timing: Timing) {
        self.attnlabVersion = attnlabVersion
        self.experiment = experiment
        self.models = models
        self.variants = variants
        self.expectations = expectations
        self.scans = scans
        self.attributions = attributions
        self.passed = passed
        self.timing = timing
    }

    /// Runs written before scans and attributions existed read with none.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attnlabVersion = try c.decode(String.self, forKey: .attnlabVersion)
        experiment = try c.decode(ExperimentInfo.self, forKey: .experiment)
        models = try c.decode([ModelInfo].self, forKey: .models)
        variants = try c.decode([VariantRecord].self, forKey: .variants)
        expectations = try c.decode([ExpectationResult].self, forKey: .expectations)
        scans = try c.decodeIfPresent([ScanRecord].self, forKey: .scans) ?? []
        attributions = try c.decodeIfPresent([AttributionRecord].self, forKey: .attributions) ?? []
        failures = try c.decodeIfPresent([Failure].self, forKey: .failures)
        passed = try c.decode(Bool.self, forKey: .passed)
        timing = try c.decode(Timing.self, forKey: .timing)
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
            data = try RegularFile.read(url, limit: 1 << 30, what: "manifest")
        } catch let error as CoreError {
            throw ExperimentError("no run manifest here: \(error.message)", location: url.path,
                                  hint: "give a run folder (runs/<experiment>/<run-id>) or a trace file")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw ExperimentError("not a run manifest: \(TraceFile.describe(error))", location: url.path)
        }
        // Its names become paths (`attnlab view RUN --out DIR`) and its trace paths are read:
        // each must be one a run writes.
        for record in manifest.variants {
            do {
                let expected = try RunPaths.trace(model: record.model, variant: record.variant)
                guard record.trace == expected else {
                    throw CoreError("its trace is \(JSONText.quote(record.trace)), not \(expected)")
                }
            } catch let error as CoreError {
                throw ExperimentError("variant \(JSONText.quote(record.variant.path)) of model \(JSONText.quote(record.model)): \(error.message)",
                                      location: url.path, hint: "the manifest is damaged or was not written by attnlab run")
            }
        }
        return manifest
    }
}
