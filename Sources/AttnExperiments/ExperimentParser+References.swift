import Foundation
import Yams

// What an experiment file names must exist, and what it bounds must be possible, before anything
// runs: a variant or input an expectation names, a perturbation that matches no input, a
// probability bounded by 1.5. Each problem is reported where it was written.

extension SpecReader {
    /// Checks the references and bounds of a parsed experiment against its own YAML nodes.
    func checkReferences(_ experiment: Experiment, expect: Node?, attribution: Node?) {
        // The variants as the executor plans them; a mask perturbation counts as applying (whether
        // a model has a mask token is checked once the models are loaded).
        let planned = ((try? Executor.plan(experiment, maskTokens: ["[MASK]"])) ?? []).map(\.variant)
        let names = Dictionary(grouping: planned, by: \.input).mapValues { $0.map(\.name) }

        for perturbation in experiment.perturbations where !planned.contains(where: { $0.name == perturbation.id }) {
            guard let position = perturbation.position else { continue }
            problems.append(.init(line: position.line, column: position.column, key: position.key,
                                  message: "the perturbation \(perturbation.id) matches no input: \(Self.unmatched(perturbation))"))
        }
        if let expect, case .sequence(let items) = expect {
            for (index, item) in items.enumerated() {
                guard case .mapping(let mapping) = item else { continue }
                let key = "expect[\(index)]"
                for (keyNode, value) in mapping {
                    switch keyNode.scalar?.string {
                    case "variant", "attribution":
                        checkVariantPattern(value, "\(key).\(keyNode.scalar!.string)", experiment: experiment, names: names, planned: planned)
                    case "attention", "mass":
                        guard case .mapping(let fields) = value else { continue }
                        for (field, bound) in fields where ["min", "max"].contains(field.scalar?.string ?? "") {
                            checkRange(bound, "\(key).\(keyNode.scalar!.string).\(field.scalar!.string)", 0 ... 1,
                                       "attention is a share between 0 and 1")
                        }
                    default:
                        continue
                    }
                }
                let output = mapping.first { $0.key.scalar?.string == "output" }?.value.scalar?.string
                    ?? mapping.first { $0.key.scalar?.string == "invariant" }?.value.scalar?.string
                // A logit difference (ln p(A) − ln p(B)) may be any number.
                guard let output, !output.hasPrefix("logit-diff:"), !output.hasPrefix("logit_diff:") else { continue }
                let range: ClosedRange<Double> = output == "similarity" ? -1 ... 1 : 0 ... 1
                let what = output == "similarity" ? "a cosine similarity is between -1 and 1" : "p(\(output)) is a probability between 0 and 1"
                for (keyNode, value) in mapping {
                    switch keyNode.scalar?.string {
                    case "above", "below", "equals": checkRange(value, "\(key).\(keyNode.scalar!.string)", range, what)
                    case "by", "tolerance":
                        checkRange(value, "\(key).\(keyNode.scalar!.string)", 0 ... (range.upperBound - range.lowerBound),
                                   "a change of \(output == "similarity" ? "a similarity" : "a probability") is between 0 and \(Int(range.upperBound - range.lowerBound))")
                    default: continue
                    }
                }
            }
        }
        if let attribution {
            let items: [Node]
            if case .sequence(let sequence) = attribution { items = Array(sequence) } else { items = [attribution] }
            for (index, item) in items.enumerated() {
                guard case .mapping(let mapping) = item else { continue }
                for (keyNode, value) in mapping where ["variants", "variant"].contains(keyNode.scalar?.string ?? "") {
                    checkVariantPattern(value, "attribution[\(index)].\(keyNode.scalar!.string)", experiment: experiment, names: names, planned: planned)
                }
            }
        }
    }

    /// Why a perturbation made no variant.
    static func unmatched(_ perturbation: PerturbationSpec) -> String {
        let place = perturbation.target == .both ? "any input" : "sentence \(perturbation.target.rawValue.uppercased()) of any input"
        switch perturbation.kind {
        case .swap: return "no input is a pair of sentences (a and b)"
        case .replace(let word, _), .delete(let word), .mask(let word), .insert(_, let word, _):
            return "\"\(word)\" is not a word of \(place) (whole words are matched, in any case)"
        }
    }

    /// `input/variant` (either may be `*`) must name an input and a variant the experiment makes.
    func checkVariantPattern(_ node: Node, _ key: String, experiment: Experiment, names: [String: [String]], planned: [Variant]) {
        guard let text = node.scalar?.string else { return }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return }   // reported where the pattern is read
        let (input, variant) = (parts[0], parts[1])
        let inputs = experiment.inputs.map(\.id)
        // A partial pattern (`syn-*`) may match nothing in a file without perturbations yet; it is not a name.
        if !input.contains("*"), !inputs.contains(input) {
            problem(node, key, "no input is named \"\(input)\"; inputs: \(Self.list(inputs))")
            return
        }
        guard !variant.contains("*") else { return }
        let candidates = input.contains("*") ? planned.filter { ExpectationSpec.matches(input, $0.input) }.map(\.name) : names[input] ?? []
        guard !candidates.contains(variant) else { return }
        if !input.contains("*"), let perturbation = experiment.perturbations.first(where: { $0.id == variant }) {
            problem(node, key, "the perturbation \(variant) does not apply to input \(input), so there is no variant \(text): "
                    + Self.unmatched(perturbation).replacingOccurrences(of: "any input", with: "the input"))
            return
        }
        var known: [String] = []
        for name in candidates where !known.contains(name) { known.append(name) }
        problem(node, key, "no variant is named \"\(variant)\"\(input.contains("*") ? "" : " for input \(input)"); variants: \(Self.list(known))")
    }

    func checkRange(_ node: Node, _ key: String, _ range: ClosedRange<Double>, _ why: String) {
        guard let value = node.scalar.flatMap({ Double($0.string) }), value.isFinite, !range.contains(value) else { return }
        problem(node, key, "\(node.scalar!.string) is out of range: \(why)")
    }

    static func list(_ names: [String]) -> String {
        names.count > 12 ? names.prefix(12).joined(separator: ", ") + ", … (\(names.count) in all)" : names.joined(separator: ", ")
    }
}
