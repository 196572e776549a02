import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import Foundation

// The JSON the app and the server exchange. Requests are drafts of an experiment's parts
// (`ExperimentDraft`), so that what the page shows is what a saved file runs.

/// What the page asks to see: a model on an input, optionally with one perturbation (the variant
/// shown beside the base) and one intervention (applied to both), and the expectations pinned.
struct AnalyzeRequest: Decodable {
    var model: ExperimentDraft.Model
    var input: ExperimentDraft.Input
    /// Chat messages: when set, sentence A is the model's chat template rendered with them.
    var messages: [ChatMessage]?
    var perturbation: ExperimentDraft.Perturbation?
    var intervention: ExperimentDraft.InterventionEntry?
    var expectations: [ExperimentDraft.Expectation]?
}

/// A model as the page needs to know it.
struct ModelInfo: Encodable {
    var id: String
    var architecture: String
    var layers: Int
    var heads: Int
    var maxPositions: Int
    /// The output heads the checkpoint has (masked-lm, classification, causal-lm, seq2seq).
    var outputHeads: [String]
    /// The task of a single text, and of a pair.
    var taskSingle: String
    var taskPair: String
    var maskToken: String?
    var labels: [String]?
    /// True when the model has a chat template (the page then offers messages).
    var chat: Bool
    var encoderDecoder: Bool
}

/// One token, as the page draws it (text only ever set as text).
struct TokenView: Encodable {
    var text: String
    var display: String
    var segment: Int
    var special: Bool
    var word: Int?
}

/// One word of an input: what a click perturbs.
struct WordView: Encodable {
    var text: String
    var segment: Int
    var special: Bool
    var tokens: [Int]
}

/// One traced variant.
struct VariantView: Encodable {
    /// The variant's name (`sick`, `terrific`, `terrific+no-4.11`) and `input/name`.
    var name: String
    var path: String
    /// base, variant, base+intervention or variant+intervention.
    var role: String
    /// The trace's id, for views, scans and downloads.
    var trace: String
    var perturbation: String?
    var interventions: [String]
    var a: String
    var b: String?
    var decoder: String?
    var tokens: [TokenView]
    var decoderTokens: [TokenView]?
    var words: [WordView]
    var outputs: TraceOutputs
    var label: String?
    var task: String
}

/// Two traces compared: the most-changed heads, every head's divergence (for the grid), and the
/// words whose attention moved most.
struct DiffView: Encodable {
    var from: String
    var to: String
    var heads: [HeadDelta]
    /// `[layers][heads]` Jensen–Shannon divergence, bits.
    var grid: [[Double]]
    var words: [WordDelta]
    var changed: [[String?]]
}

struct AnalyzeResponse: Encodable {
    var model: ModelInfo
    var task: String
    /// The input as traced (sentence A rendered from the messages, for a chat).
    var input: ExperimentDraft.Input
    var variants: [VariantView]
    var diff: DiffView?
    var interventionDiff: DiffView?
    var expectations: [Manifest.ExpectationResult]
    var milliseconds: Double
}

/// A patching (or ablation) scan between two texts of the same model.
struct ScanRequest: Decodable {
    var model: ExperimentDraft.Model
    var target: ExperimentDraft.Input
    var source: ExperimentDraft.Input?
    /// The names shown for target and source (their variant names).
    var targetName: String
    var sourceName: String?
    var site: SiteKind?
    var mode: ScanResult.Mode?
    /// `similarity`, `p:TOKEN`, `logit-diff:A,B` (default: similarity for the similarity task).
    var metric: String?
    var layers: [Int]?
}

struct ScanResponse: Encodable {
    var scan: ScanResult
    var top: [ScanResult.Cell]
    /// Traces of the target and source, to open a cell's heads.
    var targetTrace: String
    var sourceTrace: String?
    var milliseconds: Double
}

/// Save as experiment.
struct SaveRequest: Decodable {
    var draft: ExperimentDraft
    var overwrite: Bool?
}

struct SaveResponse: Encodable {
    var path: String
    var yaml: String
}

/// A run folder under runs/.
struct RunEntry: Encodable {
    var experiment: String
    var run: String
    var passed: Bool?
    var variants: Int?
    var expectations: Int?
    var failed: Int?
    var started: String?
    /// Paths below the files prefix, when present.
    var report: String?
    var manifest: String?
}

/// What the page learns once it is in: the models, the address prefix of project files, limits.
struct StateResponse: Encodable {
    var models: [String]
    var loaded: [String]
    /// Prefix of the project's run files (`/files/KEY/`): reports link their figures relatively.
    var files: String
    var limits: Limits
    var version: String
    var project: String

    struct Limits: Encodable {
        var textCharacters: Int
        var bodyBytes: Int
        var messages: Int
    }
}

struct ErrorResponse: Encodable {
    var error: String
}
