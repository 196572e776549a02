import AttnCore
import AttnModels
import Foundation

/// An experiment as a front end assembles it (the app of `attnlab serve`): the same parts as an
/// experiment file, as plain `Codable` values. `yaml()` writes it in the experiment-file syntax;
/// `ExperimentParser` reads that back, so what a person saves is what `attnlab run` runs.
public struct ExperimentDraft: Codable, Sendable, Equatable {
    public struct Model: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        public var task: ModelTask?
        public var threshold: Double?
        public var labels: [String]?
        public var topK: Int?

        public init(id: String, name: String? = nil, task: ModelTask? = nil, threshold: Double? = nil,
                    labels: [String]? = nil, topK: Int? = nil) {
            self.id = id
            self.name = name
            self.task = task
            self.threshold = threshold
            self.labels = labels
            self.topK = topK
        }

        /// The model as an experiment runs it (`name` defaults to the id's last part, as in a file).
        public var spec: ModelSpec {
            ModelSpec(id: id, name: name ?? String(id.split(separator: "/").last ?? Substring(id)), task: task,
                      threshold: threshold, labels: labels, topK: topK ?? 5)
        }
    }

    public struct Input: Codable, Sendable, Equatable {
        public var id: String
        public var a: String
        public var b: String?
        public var decoder: String?
        /// The name of the unperturbed variant (nil: `base`).
        public var base: String?

        public init(id: String, a: String, b: String? = nil, decoder: String? = nil, base: String? = nil) {
            self.id = id
            self.a = a
            self.b = b
            self.decoder = decoder
            self.base = base
        }

        public var spec: InputSpec {
            InputSpec(id: id, a: a, b: b, decoder: decoder, baseName: base ?? "base")
        }
    }

    /// One perturbation: `kind` is replace, delete, insert, mask or swap; `word` the word or phrase
    /// acted on (insert: the anchor); `with` the replacement; `text` the inserted text.
    public struct Perturbation: Codable, Sendable, Equatable {
        public var id: String
        public var kind: String
        public var word: String?
        public var with: String?
        public var text: String?
        /// insert: after the anchor (default: before).
        public var after: Bool?
        /// a, b or both (nil: both).
        public var `in`: String?

        public init(id: String, kind: String, word: String? = nil, with: String? = nil, text: String? = nil,
                    after: Bool? = nil, in target: String? = nil) {
            self.id = id
            self.kind = kind
            self.word = word
            self.with = with
            self.text = text
            self.after = after
            self.in = target
        }

        /// The perturbation as the planner applies it; an error says what is missing.
        public func spec() throws -> PerturbationSpec {
            // As the parser checks an id: a file name, without the '+' of intervened variants.
            guard PathComponent.problem(with: id) == nil, !id.contains("+") else {
                throw ExperimentError("perturbation id \"\(id)\" cannot name a variant", hint: "use letters, digits, '-', '_' and '.'")
            }
            guard let target = SegmentTarget(rawValue: self.in ?? "both") else {
                throw ExperimentError("perturbation \(id): in must be a, b or both, not \"\(self.in ?? "")\"")
            }
            func required(_ value: String?, _ what: String) throws -> String {
                guard let value, !value.isEmpty else { throw ExperimentError("perturbation \(id): give the \(what)") }
                return value
            }
            switch kind {
            case "replace": return PerturbationSpec(id: id, kind: .replace(from: try required(word, "word to replace"), to: try required(with, "replacement")), target: target)
            case "delete": return PerturbationSpec(id: id, kind: .delete(try required(word, "word to delete")), target: target)
            case "mask": return PerturbationSpec(id: id, kind: .mask(try required(word, "word to mask")), target: target)
            case "insert":
                return PerturbationSpec(id: id, kind: .insert(text: try required(text, "text to insert"), anchor: try required(word, "word to insert at"),
                                                              after: after ?? false), target: target)
            case "swap": return PerturbationSpec(id: id, kind: .swap, target: .both)
            default: throw ExperimentError("perturbation \(id): unknown kind \"\(kind)\"", hint: "use replace, delete, insert, mask or swap")
            }
        }
    }

    /// An intervention that makes a variant of every variant (or of those `applyTo` names) of every
    /// input, named `VARIANT+ID`.
    public struct InterventionEntry: Codable, Sendable, Equatable {
        /// nil: the intervention's slug (`ablate-4.11`).
        public var id: String?
        public var intervention: Intervention
        /// Variant names (the base's or perturbation ids) it applies to; nil: all.
        public var applyTo: [String]?

        public init(id: String? = nil, intervention: Intervention, applyTo: [String]? = nil) {
            self.id = id
            self.intervention = intervention
            self.applyTo = applyTo
        }

        /// The name it gives variants: `id`, or the intervention's slug.
        public var name: String { id ?? intervention.slug }

        /// The intervention as the planner applies it (`Variant.intervened`).
        public var spec: InterventionSpec {
            InterventionSpec(id: name, intervention: intervention, applyTo: applyTo, position: FilePosition(line: 0, column: 0, key: "interventions"))
        }

        enum CodingKeys: String, CodingKey {
            case id, intervention
            case applyTo = "apply_to"
        }
    }

    /// One expectation: `check` is label, above, below, equals, invariant, direction or attention.
    public struct Expectation: Codable, Sendable, Equatable {
        public var variant: String
        public var model: String?
        public var check: String
        /// The output read (similarity, a class label or a token); invariant and direction need it too.
        public var output: String?
        /// label: the label; direction: up or down.
        public var label: String?
        public var direction: String?
        /// above, below, equals: the bound; direction: the least change (by).
        public var value: Double?
        public var tolerance: Double?
        /// attention: from word to word, a bound (min or max), and the head (nil: any).
        public var from: String?
        public var to: String?
        public var min: Double?
        public var max: Double?
        public var layer: Int?
        public var head: Int?

        public init(variant: String, model: String? = nil, check: String, output: String? = nil, label: String? = nil,
                    direction: String? = nil, value: Double? = nil, tolerance: Double? = nil, from: String? = nil,
                    to: String? = nil, min: Double? = nil, max: Double? = nil, layer: Int? = nil, head: Int? = nil) {
            self.variant = variant
            self.model = model
            self.check = check
            self.output = output
            self.label = label
            self.direction = direction
            self.value = value
            self.tolerance = tolerance
            self.from = from
            self.to = to
            self.min = min
            self.max = max
            self.layer = layer
            self.head = head
        }

        /// The expectation as the evaluator checks it.
        public func spec(line: Int = 0) throws -> ExpectationSpec {
            func name() throws -> OutputName {
                guard let output, !output.isEmpty else { throw ExperimentError("expectation on \(variant): name the output (similarity, or a label)") }
                return output == "similarity" ? .similarity : .probability(output)
            }
            func number() throws -> Double {
                guard let value, value.isFinite else { throw ExperimentError("expectation on \(variant): give the value") }
                return value
            }
            guard variant.split(separator: "/", omittingEmptySubsequences: false).count == 2 else {
                throw ExperimentError("expectation variant \"\(variant)\": name it input/variant")
            }
            let result: ExpectationSpec.Check
            switch check {
            case "label":
                guard let label, !label.isEmpty else { throw ExperimentError("expectation on \(variant): give the label") }
                result = .label(label)
            case "above": result = .above(try name(), try number())
            case "below": result = .below(try name(), try number())
            case "equals": result = .equals(try name(), try number(), tolerance: tolerance ?? 1e-6)
            case "invariant":
                guard let tolerance, tolerance.isFinite else { throw ExperimentError("expectation on \(variant): say how far the output may move (tolerance)") }
                result = .invariant(try name(), tolerance: tolerance)
            case "direction":
                guard let direction, ["up", "down"].contains(direction) else { throw ExperimentError("expectation on \(variant): direction is up or down") }
                result = .direction(try name(), up: direction == "up", by: value ?? 0)
            case "attention":
                guard let from, let to, !from.isEmpty, !to.isEmpty, min != nil || max != nil else {
                    throw ExperimentError("expectation on \(variant): an attention check needs from, to and min or max")
                }
                result = .attention(AttentionCheck(from: from, to: to, min: min, max: max, heads: HeadScope(layer: layer, head: head)))
            default:
                throw ExperimentError("expectation on \(variant): unknown check \"\(check)\"", hint: "use label, above, below, equals, invariant, direction or attention")
            }
            return ExpectationSpec(variant: variant, model: model, check: result, line: line)
        }
    }

    public var name: String
    public var description: String?
    public var models: [Model]
    public var inputs: [Input]
    public var perturbations: [Perturbation]
    public var interventions: [InterventionEntry]
    public var expectations: [Expectation]
    /// Beyond attention: qkv, hidden.
    public var capture: [String]
    public var views: [String]

    public init(name: String, description: String? = nil, models: [Model], inputs: [Input], perturbations: [Perturbation] = [],
                interventions: [InterventionEntry] = [], expectations: [Expectation] = [], capture: [String] = [], views: [String] = []) {
        self.name = name
        self.description = description
        self.models = models
        self.inputs = inputs
        self.perturbations = perturbations
        self.interventions = interventions
        self.expectations = expectations
        self.capture = capture
        self.views = views
    }

    // MARK: - Writing

    /// The experiment file: keys in the order the README shows them, every text double-quoted
    /// (so no word of a sentence can be read as YAML), numbers in their shortest exact form.
    public func yaml() throws -> String {
        var lines: [String] = ["# Saved by attnlab serve. `attnlab run` on this file reproduces what the app showed."]
        lines.append("name: \(Self.quoted(name))")
        if let description, !description.isEmpty { lines.append("description: \(Self.quoted(description))") }
        lines.append("models:")
        for model in models {
            lines.append("  - id: \(Self.quoted(model.id))")
            if let name = model.name { lines.append("    name: \(Self.quoted(name))") }
            if let task = model.task { lines.append("    task: \(task.rawValue)") }
            if let threshold = model.threshold { lines.append("    threshold: \(Self.number(threshold))") }
            if let labels = model.labels { lines.append("    labels: \(Self.list(labels.map(Self.quoted)))") }
            if let topK = model.topK { lines.append("    top_k: \(topK)") }
        }
        lines.append("inputs:")
        for input in inputs {
            lines.append("  - id: \(Self.quoted(input.id))")
            if let base = input.base { lines.append("    base: \(Self.quoted(base))") }
            lines.append("    a: \(Self.quoted(input.a))")
            if let b = input.b { lines.append("    b: \(Self.quoted(b))") }
            if let decoder = input.decoder { lines.append("    decoder: \(Self.quoted(decoder))") }
        }
        if !perturbations.isEmpty {
            lines.append("perturbations:")
            for perturbation in perturbations {
                let spec = try perturbation.spec()
                lines.append("  - id: \(Self.quoted(spec.id))")
                switch spec.kind {
                case .replace(let from, let to): lines.append("    replace: { \(Self.quoted(from)): \(Self.quoted(to)) }")
                case .delete(let word): lines.append("    delete: \(Self.quoted(word))")
                case .mask(let word): lines.append("    mask: \(Self.quoted(word))")
                case .insert(let text, let anchor, let after):
                    lines.append("    insert: { text: \(Self.quoted(text)), \(after ? "after" : "before"): \(Self.quoted(anchor)) }")
                case .swap: lines.append("    swap: true")
                }
                if spec.target != .both { lines.append("    in: \(spec.target.rawValue)") }
            }
        }
        if !interventions.isEmpty {
            lines.append("interventions:")
            for entry in interventions { lines += try Self.lines(entry) }
        }
        if !expectations.isEmpty {
            lines.append("expect:")
            for expectation in expectations { lines += try Self.lines(expectation) }
        }
        let captured = ["attention"] + ["qkv", "hidden"].filter(capture.contains)
        lines.append("capture: \(Self.list(captured))")
        if !views.isEmpty { lines.append("views: \(Self.list(views))") }
        return lines.joined(separator: "\n") + "\n"
    }

    static func lines(_ entry: InterventionEntry) throws -> [String] {
        let intervention = entry.intervention
        var lines = ["  - id: \(quoted(entry.name))"]
        let heads = list(intervention.heads.map(\.description))
        switch intervention.kind {
        case .ablate:
            lines.append("    ablate: \(heads)")
            if let mode = intervention.mode, mode != .zero { lines.append("    mode: \(mode.rawValue)") }
        case .knockout:
            var fields = ["from: \(words(intervention.from ?? []))", "to: \(words(intervention.to ?? []))"]
            if let layers = intervention.layers { fields.append("layers: \(list(layers.map(String.init)))") }
            if !intervention.heads.isEmpty { fields.append("heads: \(heads)") }
            lines.append("    knockout: { \(fields.joined(separator: ", ")) }")
        case .scale:
            lines.append("    scale: { heads: \(heads), factor: \(number(intervention.factor ?? 1)) }")
        case .patch:
            throw ExperimentError("intervention \(entry.name): a patch is not written to experiment files",
                                  hint: "save ablations, knockouts and scalings; run patching scans with attnlab scan")
        }
        if intervention.stack != .encoder { lines.append("    stack: \(intervention.stack.rawValue)") }
        if let applyTo = entry.applyTo { lines.append("    apply_to: \(list(applyTo.map(quoted)))") }
        return lines
    }

    static func lines(_ expectation: Expectation) throws -> [String] {
        let spec = try expectation.spec()
        var fields = ["variant: \(quoted(spec.variant))"]
        if let model = spec.model { fields.append("model: \(quoted(model))") }
        func output(_ name: OutputName) -> String {
            switch name {
            case .similarity: "similarity"
            case .probability(let label): quoted(label)
            case .logitDifference(let a, let b): quoted("logit-diff:\(a),\(b)")
            }
        }
        switch spec.check {
        case .label(let label): fields.append("label: \(quoted(label))")
        case .above(let name, let value): fields += ["output: \(output(name))", "above: \(number(value))"]
        case .below(let name, let value): fields += ["output: \(output(name))", "below: \(number(value))"]
        case .equals(let name, let value, let tolerance):
            fields += ["output: \(output(name))", "equals: \(number(value))", "tolerance: \(number(tolerance))"]
        case .invariant(let name, let tolerance): fields += ["invariant: \(output(name))", "tolerance: \(number(tolerance))"]
        case .direction(let name, let up, let by):
            fields += ["output: \(output(name))", "direction: \(up ? "up" : "down")"] + (by > 0 ? ["by: \(number(by))"] : [])
        case .attention(let check):
            var inner = ["from: \(quoted(check.from))", "to: \(quoted(check.to))"]
            if let min = check.min { inner.append("min: \(number(min))") }
            if let max = check.max { inner.append("max: \(number(max))") }
            if let layer = check.heads.layer { inner.append("layer: \(layer)") }
            if let head = check.heads.head { inner.append("head: \(head)") }
            fields.append("attention: { \(inner.joined(separator: ", ")) }")
        case .mass, .scanTop, .scanCell, .attributionRank:
            throw ExperimentError("expectation on \(spec.variant): the app writes label, output and attention checks only")
        }
        return ["  - { \(fields.joined(separator: ", ")) }"]
    }

    /// A word, or a list of words.
    static func words(_ items: [String]) -> String {
        items.count == 1 ? quoted(items[0]) : list(items.map(quoted))
    }

    static func list(_ items: [String]) -> String { "[\(items.joined(separator: ", "))]" }

    /// The shortest text that reads back as the same Double.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    /// A YAML double-quoted scalar: backslash and quote escaped, and every character YAML would
    /// not keep as it is (control characters, line and paragraph separators, the byte-order mark)
    /// written as an escape.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0x7F || (0x80 ... 0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0xFEFF || (0xFFFE ... 0xFFFF).contains(v) {
                    out += v <= 0xFF ? String(format: "\\x%02X", v) : String(format: "\\u%04X", v)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension Executor {
    /// The label a variant's outputs amount to under `spec` (the run's own rule, for front ends
    /// that show labels before anything is run).
    public static func label(of trace: Trace, model spec: ModelSpec) -> String? {
        label(trace, spec)
    }
}
