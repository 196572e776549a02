import AttnCore
import AttnDiff
import AttnModels
import Foundation

/// An experiment file, parsed and validated: which models, which inputs, which perturbations,
/// what to expect, what to capture and render.
public struct Experiment: Sendable {
    /// `name`: used in folder names (`runs/<name>/`, `Snapshots/<name>/`).
    public var name: String
    public var description: String?
    public var models: [ModelSpec]
    /// The inputs: written in the file, read from CSV or JSONL files, or made by templates; streamed.
    public var inputs: InputSet
    public var perturbations: [PerturbationSpec]
    public var expectations: [ExpectationSpec]
    public var capture: CaptureOptions
    public var views: [String]
    public var figures: [String]
    /// Interventions: each makes a variant of every variant it applies to.
    public var interventions: [InterventionSpec] = []
    /// Scans: patch or ablate every cell, measured on an output.
    public var scans: [ScanSpecification] = []
    /// Input attributions: occlusion and attention rollout.
    public var attributions: [AttributionSpec] = []
    /// The file it was read from, and the SHA-256 of its bytes (with the files it reads: inputs
    /// and lexicons, the SHA-256 of all their hashes).
    public var file: String
    public var hash: String
    /// The lexicons perturbations and templates draw from, by name.
    public var lexicons: [String: Lexicon] = [:]
    /// How much a trace keeps (`capture:`).
    public var storage: TraceStorage = .init()
    /// What `snapshot record` keeps: a snapshot per variant with its attention, or a suite's
    /// aggregates and outputs.
    public var snapshotKind: SnapshotKind = .variants

    public init(name: String, description: String? = nil, models: [ModelSpec], inputs: InputSet, perturbations: [PerturbationSpec] = [],
                expectations: [ExpectationSpec] = [], capture: CaptureOptions = [], views: [String] = [], figures: [String] = [],
                interventions: [InterventionSpec] = [], scans: [ScanSpecification] = [], attributions: [AttributionSpec] = [],
                file: String, hash: String, lexicons: [String: Lexicon] = [:]) {
        self.name = name
        self.description = description
        self.models = models
        self.inputs = inputs
        self.perturbations = perturbations
        self.expectations = expectations
        self.capture = capture
        self.views = views
        self.figures = figures
        self.interventions = interventions
        self.scans = scans
        self.attributions = attributions
        self.file = file
        self.hash = hash
        self.lexicons = lexicons
    }
}

/// What `snapshot record` keeps of an experiment.
public enum SnapshotKind: String, Sendable, CaseIterable {
    /// One snapshot per variant: outputs, tokens, per-head summaries and the attention in float16.
    case variants
    /// A suite's aggregates (failure rates) and every variant's outputs, one line each.
    case suite
}

/// Where in the experiment file something was written, for problems found after parsing (a layer
/// the model does not have, a word the input lacks).
public struct FilePosition: Sendable, Equatable {
    public var line: Int
    public var column: Int
    /// The key path (`interventions[0].ablate`).
    public var key: String
}

/// An intervention of an experiment file: applied to every variant it names (all by default), each
/// application a variant of its own named `VARIANT+ID`.
public struct InterventionSpec: Sendable, Equatable {
    public var id: String
    public var intervention: Intervention
    /// The variant names (`terrific`, or the input's base name) it applies to; nil for all.
    public var applyTo: [String]?
    public var position: FilePosition
}

/// A scan of an experiment file: `target` and `source` name variants (`input/variant`) of one input.
public struct ScanSpecification: Sendable, Equatable {
    public var id: String
    public var target: String
    public var source: String?
    public var site: SiteKind
    public var stack: StackKind
    public var mode: ScanResult.Mode
    /// nil: the task's main output (similarity).
    public var metric: OutputMetric?
    public var layers: [Int]?
    /// Restricts it to one model (its name); nil for all.
    public var model: String?
    public var position: FilePosition
}

/// How attribution measures a word.
public enum AttributionMethod: String, Sendable, CaseIterable, Codable {
    /// The metric's change when the word is deleted.
    case occlusion
    /// The metric's change when the word is replaced by the mask token (models with one).
    case mask
    /// Attention rollout (Abnar & Zuidema): the attention flow from the first token (or, for causal
    /// models, the last) to each word through every layer, residual connections included.
    case rollout
}

/// Attribution of an experiment file: which variants (`input/variant`, either may be `*`), how.
public struct AttributionSpec: Sendable, Equatable {
    public var variants: String
    public var methods: [AttributionMethod]
    public var metric: OutputMetric?
    public var model: String?
    public var position: FilePosition
}

/// A model and the task to run it for.
public struct ModelSpec: Sendable {
    /// What the model is resolved from (folder, id under Models/, Hugging Face id).
    public var id: String
    /// A short name for paths and tables (default: the id's last component).
    public var name: String
    public var task: ModelTask?
    /// Similarity at or above it counts as `labels[1]`, below as `labels[0]`.
    public var threshold: Double?
    /// Label names: for similarity, the two sides of the threshold; for classification, overrides `id2label`.
    public var labels: [String]?
    public var topK: Int
}

/// One input: a text, or a pair, and optionally a decoder text.
public struct InputSpec: Sendable, Equatable {
    public var id: String
    public var a: String
    public var b: String?
    public var decoder: String?
    /// The name of the unperturbed variant (default `base`).
    public var baseName: String
    /// `chat: true`: the conversation each model's chat template renders (with the generation
    /// prompt) into the text that is traced and perturbed; nil for plain text.
    public var messages: [ChatMessage]? = nil
    /// Where the input was written (its entry, or the `file:` line it was read from), and its
    /// `decoder:` (for problems only the model can find); nil when not read from a file.
    public var position: FilePosition? = nil
    public var decoderPosition: FilePosition? = nil
    /// The data file's row that made the input (`pairs.csv row 12, line 13`), for messages; nil
    /// for an input written in the experiment file or made by a template.
    public var origin: String? = nil
}

/// Which sentence a perturbation edits.
public enum SegmentTarget: String, Sendable, CaseIterable {
    case a, b, both
}

/// One perturbation; lists of replacements expand into one variant each.
public struct PerturbationSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        /// Whole-word, case-preserving replacement of words or phrases.
        case replace(from: String, to: String)
        /// Removes a word or phrase.
        case delete(String)
        /// Inserts text after (or before) a word.
        case insert(text: String, anchor: String, after: Bool)
        /// Replaces a word with the model's mask token.
        case mask(String)
        /// Exchanges sentences A and B.
        case swap
    }

    /// The variant name (`terrific`, or `adjectives-great` for an expanded list).
    public var id: String
    public var kind: Kind
    public var target: SegmentTarget
    /// The perturbation's id as written (`adjectives`), shared by the variants a list expands
    /// into; for a mapping lexicon (`replace: "@synonyms"`), the id and the word replaced
    /// (`syn-clean`, for syn-clean-spotless and syn-clean-tidy). Failure rates are reported per family.
    public var family: String

    public init(id: String, kind: Kind, target: SegmentTarget, family: String? = nil, position: FilePosition? = nil) {
        self.id = id
        self.kind = kind
        self.target = target
        self.family = family ?? id
        self.position = position
    }
    /// Where it was written; nil when not read from a file.
    public var position: FilePosition? = nil
}

/// What to compare: a model output.
public enum OutputName: Sendable, Equatable {
    case similarity
    /// The probability of a class label (classification), of a token at the first mask (masked-lm),
    /// or of the next token after the last position (causal-lm).
    case probability(String)
    /// ln p(a) − ln p(b) of two labels or tokens: the difference of their logits.
    case logitDifference(String, String)

    /// `similarity`, `logit-diff:A,B`, or a label or token (also written `p:X`).
    public init(parsing text: String) {
        switch try? OutputMetric(parsing: text) {
        case .similarity: self = .similarity
        case .logitDifference(let a, let b): self = .logitDifference(a, b)
        case .probability(let name): self = .probability(name)
        case nil: self = .probability(text)
        }
    }

    public var description: String { metric.description }

    /// The same output as a metric, which reads it from a trace's outputs.
    var metric: OutputMetric {
        switch self {
        case .similarity: .similarity
        case .probability(let name): .probability(name)
        case .logitDifference(let a, let b): .logitDifference(a, b)
        }
    }
}

/// One expectation: which variants it applies to, and what must hold.
public struct ExpectationSpec: Sendable {
    public enum Check: Sendable, Equatable {
        case above(OutputName, Double)
        case below(OutputName, Double)
        case equals(OutputName, Double, tolerance: Double)
        case label(String)
        /// The output stays within `tolerance` of the base variant's.
        case invariant(OutputName, tolerance: Double)
        /// The output moves up (or down) from the base variant's by at least `by`.
        case direction(OutputName, up: Bool, by: Double)
        /// Attention from word `from` to word `to`.
        case attention(AttentionCheck)
        /// Attention mass from one sentence's tokens to the other's.
        case mass(MassCheck)
        /// The `count` strongest cells of a scan include these (`5.4`, or `3:B:sick`).
        case scanTop(scan: String, count: Int, includes: [String])
        /// A scan cell's effect (normalised unless `raw`) is above or below a value.
        case scanCell(scan: String, cell: String, above: Double?, below: Double?, raw: Bool)
        /// A word's rank by an attribution method (1 = most important) is at most `maxRank`.
        case attributionRank(method: AttributionMethod, word: String, maxRank: Int)
    }

    /// `input/variant`; `*` in either part matches any text (`*/syn-*`).
    public var variant: String
    /// Restricts it to one model (its name); nil for all.
    public var model: String?
    public var check: Check
    /// Line in the experiment file, for messages.
    public var line: Int
    /// The failures allowed among the variants it checks, per model (`rate: {max_failures: 5%}`);
    /// nil: none.
    public var allowance: FailureAllowance?

    /// Where the check (`attention:`, `mass:`, …) was written, for what only the model can check
    /// (layers, heads, words); nil when not read from a file.
    public var position: FilePosition? = nil

    public init(variant: String, model: String? = nil, check: Check, line: Int, allowance: FailureAllowance? = nil, position: FilePosition? = nil) {
        self.variant = variant
        self.model = model
        self.check = check
        self.line = line
        self.allowance = allowance
        self.position = position
    }

    /// True when `pattern` (`*` matches any text, including none) matches `name`.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        if pattern == "*" { return true }
        guard pattern.contains("*") else { return pattern == name }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(name)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for (index, part) in parts.enumerated().dropFirst() {
            if index == parts.count - 1 { return rest.hasSuffix(part) }
            guard let range = rest.range(of: part) else { return false }
            rest = rest[range.upperBound...]
        }
        return true
    }
}

/// How many of the variants an expectation checks may fail: a count or a share.
public enum FailureAllowance: Sendable, Equatable, Codable, CustomStringConvertible {
    case count(Int)
    case fraction(Double)

    /// Whether `failed` failures of `checked` checks are within it.
    public func allows(failed: Int, of checked: Int) -> Bool {
        switch self {
        case .count(let count): return failed <= count
        case .fraction(let fraction): return checked == 0 || Double(failed) <= fraction * Double(checked) + 1e-9
        }
    }

    /// `5%`, or `3`.
    public var description: String {
        switch self {
        case .count(let count): return "\(count)"
        case .fraction(let fraction):
            let percent = fraction * 100
            return percent == percent.rounded() ? "\(Int(percent))%" : String(format: "%g%%", percent)
        }
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text.hasSuffix("%"), let percent = Double(text.dropLast()) { self = .fraction(percent / 100); return }
        guard let count = Int(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a failure allowance: \(text)"))
        }
        self = .count(count)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Where to read attention: one head, any head, or the mean over a layer range.
public struct HeadScope: Sendable, Equatable {
    public var layer: Int?
    public var head: Int?
    /// Mean over these layers (and over `head`, or all heads).
    public var layers: ClosedRange<Int>?

    public init(layer: Int? = nil, head: Int? = nil, layers: ClosedRange<Int>? = nil) {
        self.layer = layer
        self.head = head
        self.layers = layers
    }

    public var description: String {
        if let layers { return "mean of layers \(layers.lowerBound)-\(layers.upperBound)" + (head.map { ", head \($0)" } ?? "") }
        if let layer, let head { return "layer \(layer), head \(head)" }
        if let layer { return "any head of layer \(layer)" }
        if let head { return "head \(head) of any layer" }
        return "any head"
    }
}

public struct AttentionCheck: Sendable, Equatable {
    public var from: String
    public var to: String
    public var min: Double?
    public var max: Double?
    public var heads: HeadScope
}

public struct MassCheck: Sendable, Equatable {
    /// 0 for sentence A, 1 for B.
    public var from: Int
    public var to: Int
    public var min: Double?
    public var max: Double?
    public var heads: HeadScope
}
