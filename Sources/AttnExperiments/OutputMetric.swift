import AttnCore
import AttnModels
import Foundation

/// One number read from a model's outputs, for scans and attribution: the similarity, a class's or
/// a token's probability, or the logit difference of two classes or tokens (ln p(a) − ln p(b),
/// which is the difference of their logits, the softmax's shift cancelling).
public enum OutputMetric: Codable, Sendable, Equatable, CustomStringConvertible {
    case similarity
    case probability(String)
    case logitDifference(String, String)

    /// `similarity`, `p:LABEL` (or `probability:LABEL`), `logit-diff:A,B`.
    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "similarity" { self = .similarity; return }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        if parts.count == 2, ["p", "prob", "probability"].contains(parts[0]), !parts[1].isEmpty {
            self = .probability(parts[1]); return
        }
        if parts.count == 2, ["logit-diff", "logit_diff"].contains(parts[0]) {
            let pair = parts[1].split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty { self = .logitDifference(pair[0], pair[1]); return }
        }
        throw ExperimentError("unknown metric \"\(text)\"",
                              hint: "use similarity, p:LABEL_OR_TOKEN (a class's or a token's probability) or logit-diff:A,B")
    }

    public var description: String {
        switch self {
        case .similarity: return "similarity"
        case .probability(let name): return "p(\(name))"
        case .logitDifference(let a, let b): return "logit(\(a)) − logit(\(b))"
        }
    }

    /// The tokens whose probability the metric reads, to keep whatever their rank.
    public var watchedTokens: [String] {
        switch self {
        case .similarity: return []
        case .probability(let name): return [name]
        case .logitDifference(let a, let b): return [a, b]
        }
    }

    /// Checks that the task has the output the metric reads.
    public func check(task: ModelTask, labels: [String]?) throws {
        switch (self, task) {
        case (.similarity, .similarity): return
        case (.similarity, _):
            throw ExperimentError("the similarity metric needs the similarity task (this model runs \(task.rawValue))",
                                  hint: "use p:LABEL or logit-diff:A,B")
        case (_, .similarity), (_, .attention):
            throw ExperimentError("the \(task.rawValue) task has no probabilities for \(description)", hint: "use the similarity metric")
        case (_, .classification):
            let missing = watchedTokens.filter { !(labels ?? []).contains($0) }
            if !missing.isEmpty {
                throw ExperimentError("the classifier has no class \(missing.map { "\"\($0)\"" }.joined(separator: ", "))",
                                      hint: "its classes: \((labels ?? []).joined(separator: ", "))")
            }
        default: return
        }
    }

    /// The metric's value on a trace's outputs: classification reads the class probabilities; the
    /// masked-LM task the first mask; causal-LM and seq2seq the next token after the last position.
    public func value(_ outputs: TraceOutputs, task: ModelTask) throws -> Double {
        func probability(_ name: String) throws -> Double {
            if task == .classification, let labels = outputs.labels, let probabilities = outputs.probabilities,
               let index = labels.firstIndex(of: name), index < probabilities.count {
                return probabilities[index]
            }
            let prediction = task == .maskedLM ? outputs.topk?.first : outputs.topk?.last
            guard let prediction else { throw ExperimentError("the outputs hold no predictions for \(description)") }
            if let found = (prediction.watched ?? []).first(where: { $0.token == name }) ?? prediction.candidates.first(where: { $0.token == name }) {
                return found.probability
            }
            throw ExperimentError("\"\(name)\" is not a token of the vocabulary", hint: "write the token as the vocabulary spells it")
        }
        switch self {
        case .similarity:
            guard let similarity = outputs.similarity else { throw ExperimentError("the outputs hold no similarity") }
            return similarity
        case .probability(let name):
            return try probability(name)
        case .logitDifference(let a, let b):
            return Foundation.log(try probability(a)) - Foundation.log(try probability(b))
        }
    }
}
