import AttnCore
import AttnModels
import Foundation

/// One model × input of a run with its variants: the base, then each perturbation that applies,
/// then each intervention applied to each of those it names. It is the unit a worker traces (a
/// variant's base and its patch sources are in the same group), and the unit shards share.
public struct PlannedGroup: Sendable {
    /// Its place in the run: groups are numbered model by model, input by input.
    public var index: Int
    public var model: Int
    public var input: InputSpec
    public var variants: [Variant]
}

/// One model × input × variant to trace.
public struct PlannedVariant: Sendable {
    public var model: Int
    public var variant: Variant
}

/// The groups of a run, made as the inputs stream by: never all in memory.
public struct RunPlan: Sendable {
    public let experiment: Experiment
    /// Each model's mask token (`[MASK]`, `<mask>`), for mask perturbations.
    public let maskTokens: [String?]
    private let index: PerturbationIndex
    /// Renders a chat input's messages with a model's template (nil: the plan of the parser's name
    /// checks, which reads the messages as they are written).
    private let renderChat: (@Sendable (Int, [ChatMessage]) throws -> String)?

    public init(_ experiment: Experiment, maskTokens: [String?],
                renderChat: (@Sendable (_ model: Int, _ messages: [ChatMessage]) throws -> String)? = nil) {
        self.experiment = experiment
        self.maskTokens = maskTokens
        self.renderChat = renderChat
        index = PerturbationIndex(experiment.perturbations)
    }

    /// The input as a model reads it: a chat input's messages rendered into the prompt, whose
    /// variants are then edits of that prompt.
    public func rendered(_ input: InputSpec, model: Int) throws -> InputSpec {
        guard let messages = input.messages, let renderChat else { return input }
        var rendered = input
        do {
            rendered.a = try renderChat(model, messages)
        } catch {
            throw ExperimentError("model \(experiment.models[model].name), input \(input.id)", cause: error)
        }
        return rendered
    }

    /// Groups in the run: one per model × input.
    public var groupCount: Int { maskTokens.count * experiment.inputs.count }

    /// The variants of one input for one model.
    public func variants(of input: InputSpec, model: Int) -> [Variant] {
        var variants = [Variant.base(of: input)]
        for perturbation in index.candidates(for: input) {
            if let variant = perturbation.apply(to: input, maskToken: maskTokens[model]) { variants.append(variant) }
        }
        let unchanged = variants
        for intervention in experiment.interventions {
            for variant in unchanged where intervention.applyTo?.contains(variant.name) ?? true {
                variants.append(variant.intervened(intervention))
            }
        }
        return variants
    }

    /// Calls `body` with every group whose index is in `range` (all by default), in order.
    public func forEachGroup(in range: Range<Int>? = nil, _ body: (PlannedGroup) throws -> Void) throws {
        let inputs = experiment.inputs.count
        let range = range ?? 0 ..< groupCount
        for model in maskTokens.indices {
            let first = model * inputs
            guard range.lowerBound < first + inputs, range.upperBound > first else { continue }
            try experiment.inputs.forEach { index, original in
                let group = first + index
                guard range.contains(group) else { return }
                let input = try rendered(original, model: model)
                try body(PlannedGroup(index: group, model: model, input: input, variants: variants(of: input, model: model)))
            }
        }
    }

    /// Every planned variant, for small experiments and tests.
    public func all() throws -> [PlannedVariant] {
        var planned: [PlannedVariant] = []
        try forEachGroup { group in planned += group.variants.map { PlannedVariant(model: group.model, variant: $0) } }
        return planned
    }
}

/// Finds the perturbations that may apply to an input without trying each: a lexicon of thousands
/// of words makes thousands of perturbations, and an input holds a handful of their words.
struct PerturbationIndex: Sendable {
    private let perturbations: [PerturbationSpec]
    /// By the lowercased first word of the phrase a perturbation looks for: its positions.
    private let byWord: [String: [Int]]
    /// Perturbations that apply whatever the words (`swap`).
    private let always: [Int]

    init(_ perturbations: [PerturbationSpec]) {
        self.perturbations = perturbations
        var byWord: [String: [Int]] = [:]
        var always: [Int] = []
        for (position, perturbation) in perturbations.enumerated() {
            if let word = Self.firstWord(of: perturbation) {
                byWord[word, default: []].append(position)
            } else {
                always.append(position)
            }
        }
        self.byWord = byWord
        self.always = always
    }

    /// The perturbations, in the experiment's order, that may apply to `input`.
    func candidates(for input: InputSpec) -> [PerturbationSpec] {
        if byWord.isEmpty { return always.map { perturbations[$0] } }
        var positions = always
        var seen: Set<String> = []
        for text in [input.a, input.b].compactMap({ $0 }) {
            for word in Self.words(text) where seen.insert(word).inserted {
                positions += byWord[word] ?? []
            }
        }
        return positions.sorted().map { perturbations[$0] }
    }

    static func firstWord(of perturbation: PerturbationSpec) -> String? {
        let phrase: String
        switch perturbation.kind {
        case .replace(let from, _): phrase = from
        case .delete(let word), .mask(let word): phrase = word
        case .insert(_, let anchor, _): phrase = anchor
        case .swap: return nil
        }
        // A phrase that starts with a non-word character matches where the word scan cannot see.
        guard let first = phrase.unicodeScalars.first, WholeWord.isWordScalar(first) else { return nil }
        return words(phrase).first
    }

    /// The lowercased runs of word characters of `text`, as `WholeWord` sees them.
    static func words(_ text: String) -> [String] {
        var result: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if WholeWord.isWordScalar(scalar) {
                current.append(WholeWord.fold(scalar))
            } else if !current.isEmpty {
                result.append(String(current))
                current = String.UnicodeScalarView()
            }
        }
        if !current.isEmpty { result.append(String(current)) }
        return result
    }
}
