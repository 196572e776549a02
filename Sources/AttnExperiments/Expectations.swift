import AttnCore
import AttnDiff
import AttnModels
import Foundation

/// What one expectation found on one variant: whether it held, what was measured in words, by how
/// much it missed (for ranking failures, worst first), and the head it was read in.
public struct Verdict: Sendable, Equatable {
    public var passed: Bool
    public var actual: String
    /// How far from passing, in the measure's own unit (similarity, probability, attention weight,
    /// rank); nil when it passed or when nothing could be measured.
    public var margin: Double?
    /// The head the value was read in (attention and mass checks), for compact traces.
    public var head: HeadRef?

    public init(_ passed: Bool, _ actual: String, margin: Double? = nil, head: HeadRef? = nil) {
        self.passed = passed
        self.actual = actual
        self.margin = passed ? nil : margin
        self.head = head
    }
}

/// Evaluates expectations on traced variants.
public enum ExpectationEvaluator {
    /// One traced variant, as the evaluator sees it.
    public struct Subject: ModelVariant, Sendable {
        public var model: String
        public var variant: Variant
        public var trace: Trace
        public var label: String?
        /// The model's similarity threshold, for how far a label missed.
        public var threshold: Double?
        public init(model: String, variant: Variant, trace: Trace, label: String?, threshold: Double? = nil) {
            self.model = model
            self.variant = variant
            self.trace = trace
            self.label = label
            self.threshold = threshold
        }
    }

    /// True when the expectation names the variant (`input/variant`, `*` matching any text) of the model.
    public static func names(_ expectation: ExpectationSpec, model: String, variant: Variant) -> Bool {
        guard expectation.model == nil || expectation.model == model else { return false }
        let parts = expectation.variant.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let (inputPattern, variantPattern) = (parts.first ?? "*", parts.count > 1 ? parts[1] : "*")
        return ExpectationSpec.matches(inputPattern, variant.input) && ExpectationSpec.matches(variantPattern, variant.name)
    }

    /// Checks expectations on variants traced in memory (the app's analyses; a run checks them group
    /// by group): each subject an expectation names, against its base. An expectation that names
    /// none fails, saying so. Scans and attributions are a run's, so their expectations are left out.
    public static func evaluate(_ expectations: [ExpectationSpec], subjects: [Subject], inputs: [InputSpec]) -> [Manifest.ExpectationResult] {
        var results: [Manifest.ExpectationResult] = []
        for (index, expectation) in expectations.enumerated() {
            switch expectation.check {
            case .scanTop, .scanCell, .attributionRank: continue
            default: break
            }
            let matching = subjects.filter { names(expectation, model: $0.model, variant: $0.variant) }
            if matching.isEmpty {
                results.append(.init(index: index, line: expectation.line, model: expectation.model ?? "*", variant: expectation.variant,
                                     perturbation: "base", expectation: describe(expectation.check), passed: false,
                                     actual: "no variant is named \(expectation.variant) (did the perturbation apply to the input?)"))
            }
            for subject in matching {
                let base = subject.variant.isBase ? subject : subjects.base(of: subject)
                let verdict = check(expectation.check, subject, base: base)
                results.append(.init(index: index, line: expectation.line, model: subject.model, variant: subject.variant.path,
                                     perturbation: subject.variant.rateFamily, expectation: describe(expectation.check),
                                     passed: verdict.passed, actual: verdict.actual, margin: verdict.margin))
            }
        }
        return results
    }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }

    /// True when `input/variant` (either part may be `*`) names the variant path `path`.
    static func matches(_ pattern: String, _ path: String) -> Bool {
        let want = pattern.split(separator: "/", omittingEmptySubsequences: false), have = path.split(separator: "/", omittingEmptySubsequences: false)
        guard want.count == 2, have.count == 2 else { return false }
        return (want[0] == "*" || want[0] == have[0]) && (want[1] == "*" || want[1] == have[1])
    }

    /// An output of a trace by name: similarity, a class's probability, a token's probability (at the
    /// first mask for masked-lm, after the last position for causal-lm and seq2seq), or the logit
    /// difference of two of them.
    static func output(_ name: OutputName, _ trace: Trace) -> Double? {
        try? name.metric.value(trace.outputs, task: ModelTask(rawValue: trace.provenance.task) ?? .attention)
    }

    static func check(_ check: ExpectationSpec.Check, _ subject: Subject, base: Subject?) -> Verdict {
        let trace = subject.trace
        func missing(_ name: OutputName) -> Verdict {
            Verdict(false, "the trace has no output \(name.description) (task \(trace.provenance.task))")
        }
        switch check {
        case .above(let name, let bound):
            guard let value = output(name, trace) else { return missing(name) }
            return Verdict(value > bound, "\(name.description) = \(format(value))", margin: bound - value)
        case .below(let name, let bound):
            guard let value = output(name, trace) else { return missing(name) }
            return Verdict(value < bound, "\(name.description) = \(format(value))", margin: value - bound)
        case .equals(let name, let target, let tolerance):
            guard let value = output(name, trace) else { return missing(name) }
            return Verdict(abs(value - target) <= tolerance, "\(name.description) = \(format(value))", margin: abs(value - target) - tolerance)
        case .label(let expected):
            guard let label = subject.label else { return Verdict(false, "the outputs give no label (task \(trace.provenance.task))") }
            return Verdict(label == expected, "label \(label)" + (trace.outputs.similarity.map { " (similarity \(format($0)))" } ?? ""),
                           margin: labelMargin(expected, subject))
        case .invariant(let name, let tolerance):
            guard let base else { return Verdict(false, "no base variant to compare with") }
            guard let value = output(name, trace), let reference = output(name, base.trace) else { return missing(name) }
            return Verdict(abs(value - reference) <= tolerance,
                           "\(name.description) \(format(reference)) → \(format(value)) (moved \(format(value - reference)))",
                           margin: abs(value - reference) - tolerance)
        case .direction(let name, let up, let by):
            guard let base else { return Verdict(false, "no base variant to compare with") }
            guard let value = output(name, trace), let reference = output(name, base.trace) else { return missing(name) }
            let change = value - reference
            return Verdict(up ? change >= by && change > 0 : change <= -by && change < 0,
                           "\(name.description) \(format(reference)) → \(format(value)) (\(change >= 0 ? "+" : "")\(format(change)))",
                           margin: up ? by - change : by + change)
        case .attention(let attention):
            return checkAttention(attention, trace, base: base?.trace)
        case .mass(let mass):
            return checkMass(mass, trace)
        case .scanTop, .scanCell, .attributionRank:
            return Verdict(false, "checked on the run's scans and attributions")
        }
    }

    /// How far a label missed: the similarity's distance from the threshold, or how much more
    /// probable the winning class (or token) is than the expected one.
    static func labelMargin(_ expected: String, _ subject: Subject) -> Double? {
        let outputs = subject.trace.outputs
        if let similarity = outputs.similarity, let threshold = subject.threshold { return abs(similarity - threshold) }
        if let probabilities = outputs.probabilities, let best = probabilities.max() {
            return best - (output(.probability(expected), subject.trace) ?? 0)
        }
        if let top = outputs.topk?.first?.candidates.first?.probability {
            return top - (output(.probability(expected), subject.trace) ?? 0)
        }
        return nil
    }

    /// The words of a variant that `name` names: its own words by text (`A:`/`B:` picks the
    /// sentence; special tokens exactly), or else the words of the base that a perturbation
    /// replaced, found through the word alignment (`france` names `italy` in the variant that
    /// replaced it). The run's checks and the checks made before anything runs both use it.
    public static func words(named name: String, tokens: [TraceToken], inputs: TraceInputs,
                             base: (tokens: [TraceToken], inputs: TraceInputs)? = nil) -> [TraceWord] {
        let words = WordAlignment.words(tokens, inputs: inputs)
        let direct = words.filter { $0.isNamed(name) }
        guard direct.isEmpty, let base else { return direct }
        let alignment = WordAlignment(tokensA: base.tokens, inputsA: base.inputs, tokensB: tokens, inputsB: inputs)
        return alignment.pairs.compactMap { pair in
            guard let a = pair.a, let b = pair.b, alignment.wordsA[a].isNamed(name) else { return nil }
            return alignment.wordsB[b]
        }
    }

    /// Attention from word X to word Y: for each head, the mean over X's tokens (as queries) of the
    /// sum over Y's tokens (as keys); when a word occurs more than once, the strongest pair counts.
    /// Special tokens are words too when named exactly (`[MASK]`, `[SEP]`); `A:`/`B:` names a word
    /// of one sentence (`B:sick`). Words are found as `words(named:)` finds them.
    static func checkAttention(_ check: AttentionCheck, _ trace: Trace, base: Trace? = nil) -> Verdict {
        guard let stack = trace.stacks[.encoder] else { return Verdict(false, "the trace has no encoder attention") }
        let words = WordAlignment.words(trace.tokens, inputs: trace.inputs)
        func named(_ name: String) -> [WordAlignment.Word] {
            Self.words(named: name, tokens: trace.tokens, inputs: trace.inputs, base: base.map { ($0.tokens, $0.inputs) })
        }
        let fromWords = named(check.from), toWords = named(check.to)
        guard !fromWords.isEmpty else { return Verdict(false, "no word \"\(check.from)\" in the input (words: \(words.map(\.text).joined(separator: " ")))") }
        guard !toWords.isEmpty else { return Verdict(false, "no word \"\(check.to)\" in the input (words: \(words.map(\.text).joined(separator: " ")))") }
        let (layers, heads, n) = (stack.layerCount, stack.headCount, trace.tokens.count)
        func weight(_ l: Int, _ h: Int) -> Float {
            var best: Float = 0
            for from in fromWords {
                for to in toWords {
                    var total: Float = 0
                    for q in from.tokens { for k in to.tokens { total += stack.attention.scalars[((l * heads + h) * n + q) * n + k] } }
                    best = max(best, total / Float(from.tokens.count))
                }
            }
            return best
        }
        return judge(selection: check.heads, layers: layers, heads: heads, minimum: check.min, maximum: check.max,
                     what: "attention \"\(check.from)\" → \"\(check.to)\"", value: weight)
    }

    static func checkMass(_ check: MassCheck, _ trace: Trace) -> Verdict {
        guard trace.isPair else { return Verdict(false, "the input is not a pair of sentences") }
        let mass = CrossSentenceAttention.mass(trace, from: check.from, to: check.to)
        guard let first = mass.first else { return Verdict(false, "the trace has no encoder attention") }
        let names = ["A", "B"]
        return judge(selection: check.heads, layers: mass.count, heads: first.count, minimum: check.min, maximum: check.max,
                     what: "attention mass \(names[check.from]) → \(names[check.to])", value: { mass[$0][$1] })
    }

    /// Applies min/max to the selected heads: one head; the mean of a layer range; or any head
    /// (min: the strongest head must reach it; max: no head may pass it).
    static func judge(selection: HeadScope, layers: Int, heads: Int, minimum: Double?, maximum: Double?,
                      what: String, value: (Int, Int) -> Float) -> Verdict {
        if let layer = selection.layer, layer >= layers { return Verdict(false, "layer \(layer) does not exist (the model has \(layers))") }
        if let head = selection.head, head >= heads { return Verdict(false, "head \(head) does not exist (the model has \(heads))") }
        if let range = selection.layers, range.upperBound >= layers { return Verdict(false, "layers \(range) do not exist (the model has \(layers))") }
        // How far v is from [minimum, maximum]; ≤ 0 inside.
        func miss(_ v: Double) -> Double { max(minimum.map { $0 - v } ?? -.infinity, maximum.map { v - $0 } ?? -.infinity) }
        if let range = selection.layers {
            let headRange = selection.head.map { [$0] } ?? Array(0 ..< heads)
            var total: Double = 0
            for l in range { for h in headRange { total += Double(value(l, h)) } }
            let mean = total / Double(range.count * headRange.count)
            return Verdict(miss(mean) <= 0, "\(what) = \(format(mean)) (\(selection.description))", margin: miss(mean))
        }
        var candidates: [(Int, Int, Double)] = []
        for l in selection.layer.map({ [$0] }) ?? Array(0 ..< layers) {
            for h in selection.head.map({ [$0] }) ?? Array(0 ..< heads) { candidates.append((l, h, Double(value(l, h)))) }
        }
        guard let strongest = candidates.max(by: { $0.2 < $1.2 }) else { return Verdict(false, "no head selected") }
        // With a minimum, the strongest head must reach it; with a maximum, no head may pass it.
        let passed = (minimum.map { strongest.2 >= $0 } ?? true) && (maximum.map { strongest.2 <= $0 } ?? true)
        return Verdict(passed, "\(what) = \(format(strongest.2)) at layer \(strongest.0), head \(strongest.1)"
                       + (candidates.count > 1 ? " (strongest of \(candidates.count) heads)" : ""),
                       margin: miss(strongest.2), head: HeadRef(layer: strongest.0, head: strongest.1))
    }

    /// The expectation in words.
    public static func describe(_ check: ExpectationSpec.Check) -> String {
        func bounds(_ minimum: Double?, _ maximum: Double?) -> String {
            [minimum.map { "≥ \($0)" }, maximum.map { "≤ \($0)" }].compactMap { $0 }.joined(separator: " and ")
        }
        switch check {
        case .above(let name, let v): return "\(name.description) > \(v)"
        case .below(let name, let v): return "\(name.description) < \(v)"
        case .equals(let name, let v, let tolerance): return "\(name.description) = \(v) ± \(tolerance)"
        case .label(let label): return "label is \(label)"
        case .invariant(let name, let tolerance): return "\(name.description) stays within \(tolerance) of the base"
        case .direction(let name, let up, let by): return "\(name.description) goes \(up ? "up" : "down") from the base" + (by > 0 ? " by at least \(by)" : "")
        case .attention(let a): return "attention \"\(a.from)\" → \"\(a.to)\" \(bounds(a.min, a.max)) in \(a.heads.description)"
        case .mass(let m): return "attention mass \(m.from == 0 ? "A" : "B") → \(m.to == 0 ? "A" : "B") \(bounds(m.min, m.max)) in \(m.heads.description)"
        case .scanTop(let scan, let count, let includes):
            return "the \(count) strongest cells of scan \(scan) include \(includes.joined(separator: ", "))"
        case .scanCell(let scan, let cell, let above, let below, let raw):
            return "scan \(scan) cell \(cell): \(raw ? "effect" : "normalised effect") \(bounds(above, below))"
        case .attributionRank(let method, let word, let maxRank):
            return "\"\(word)\" ranks \(maxRank == 1 ? "first" : "in the top \(maxRank)") by \(method.rawValue)"
        }
    }

    /// A scan check on the scans the run made of the same model.
    static func checkScan(_ check: ExpectationSpec.Check, _ record: Manifest.ScanRecord) -> Verdict {
        let result = record.result
        switch check {
        case .scanTop(_, let count, let includes):
            let top = result.top(count).map { result.name(of: $0) }
            let missing = includes.filter { !top.contains($0) }
            let shown = result.top(count).map { "\(result.name(of: $0)) \(format($0.normalized ?? $0.effect))" }.joined(separator: ", ")
            return Verdict(missing.isEmpty, "strongest \(count): \(shown)" + (missing.isEmpty ? "" : "; \(missing.joined(separator: ", ")) not among them"),
                           margin: Double(missing.count))
        case .scanCell(_, let cell, let above, let below, let raw):
            guard let found = result.ranked().first(where: { result.name(of: $0) == cell }) else {
                return Verdict(false, "the scan has no cell \(cell) (cells are LAYER.HEAD, or LAYER:WORD)")
            }
            guard let value = raw ? found.effect : found.normalized else { return Verdict(false, "cell \(cell) has no normalised effect (source and target agree)") }
            let rank = (result.ranked().firstIndex(where: { result.name(of: $0) == cell }) ?? 0) + 1
            let passed = (above.map { value > $0 } ?? true) && (below.map { value < $0 } ?? true)
            return Verdict(passed, "cell \(cell): \(raw ? "effect" : "normalised") \(format(value)) (rank \(rank) of \(result.ranked().count))",
                           margin: max(above.map { $0 - value } ?? -.infinity, below.map { value - $0 } ?? -.infinity))
        default:
            return Verdict(false, "not a scan expectation")
        }
    }

    /// An attribution check on the variant's attribution by that method.
    static func checkAttribution(_ word: String, maxRank: Int, _ record: Manifest.AttributionRecord) -> Verdict {
        let ranked = record.ranked()
        // Words of a pair are labelled `A:the`, `B:sick`; a name without the prefix matches either sentence.
        func matches(_ label: String) -> Bool {
            let plain = label.hasPrefix("A:") || label.hasPrefix("B:") ? String(label.dropFirst(2)) : label
            return label == word || plain.lowercased() == word.lowercased()
        }
        guard let rank = ranked.firstIndex(where: { matches($0.word) }) else {
            return Verdict(false, "no word \"\(word)\" among \(ranked.map(\.word).joined(separator: " "))")
        }
        let top = ranked.prefix(3).map { "\($0.word) \(format($0.score))" }.joined(separator: ", ")
        return Verdict(rank + 1 <= maxRank, "\"\(word)\" ranks \(rank + 1) of \(ranked.count) (top: \(top))", margin: Double(rank + 1 - maxRank))
    }
}
