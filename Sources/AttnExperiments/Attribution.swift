import AttnCore
import AttnModels
import Foundation

/// Which words of an input an output rests on, forward passes only: occlusion (the output's change
/// when the word is deleted, or replaced by the mask token) and attention rollout (how much
/// attention flows from the first token, or a causal model's last, to each word through every
/// layer, the residual connection counted as half of each step, as Abnar & Zuidema propose).
/// Gradient methods need a backward pass and are not here.
public enum Attribution {
    public struct Result: Sendable, Equatable {
        public var method: AttributionMethod
        public var metric: String?
        public var baseline: Double?
        /// The input's words (`A:the`, `B:sick` in a pair), special tokens left out.
        public var words: [String]
        public var scores: [Double]
    }

    public static func run(_ methods: [AttributionMethod], metric: OutputMetric?, model: LoadedModel, request: TraceRequest,
                           trace: Trace) throws -> [Result] {
        let words = TraceWords.group(trace.tokens, inputs: trace.inputs).filter { !$0.special }
        let labels = words.map { (trace.isPair ? ($0.segment == 0 ? "A:" : "B:") : "") + $0.text }
        var results: [Result] = []
        for method in methods {
            switch method {
            case .rollout:
                results.append(Result(method: .rollout, metric: nil, baseline: nil, words: labels, scores: rollout(trace, words: words)))
            case .occlusion, .mask:
                let task = request.task ?? model.defaultTask(for: request)
                let measured = metric ?? defaultMetric(trace, task: task)
                guard let measured else { throw ExperimentError("say what occlusion measures for the \(task.rawValue) task (metric:)") }
                try measured.check(task: task, labels: model.model.labels)
                var base = request
                base.capture = []
                base.watchedTokens = Array(Set(base.watchedTokens + measured.watchedTokens)).sorted()
                let baseline = try value(base, metric: measured, model: model, task: task)
                var scores: [Double] = []
                for word in words {
                    guard let occluded = occlude(word, in: base, trace: trace, with: method == .mask ? model.tokenizer.maskToken : nil) else {
                        scores.append(.nan)
                        continue
                    }
                    // A text left empty by the deletion scores nothing.
                    let changed = (try? value(occluded, metric: measured, model: model, task: task)) ?? baseline
                    scores.append(baseline - changed)
                }
                results.append(Result(method: method, metric: measured.description, baseline: baseline, words: labels, scores: scores))
            }
        }
        return results
    }

    /// The output occlusion measures by default: the similarity, or the probability of what the
    /// variant itself predicts (its top class or token).
    static func defaultMetric(_ trace: Trace, task: ModelTask) -> OutputMetric? {
        switch task {
        case .similarity: return .similarity
        case .classification: return trace.outputs.label.map(OutputMetric.probability)
        case .maskedLM: return trace.outputs.topk?.first?.candidates.first.map { .probability($0.token) }
        case .causalLM, .seq2seq: return trace.outputs.topk?.last?.candidates.first.map { .probability($0.token) }
        case .attention: return nil
        }
    }

    static func value(_ request: TraceRequest, metric: OutputMetric, model: LoadedModel, task: ModelTask) throws -> Double {
        let passes = try model.passes(for: request)
        let outputs = try model.outputs(request, passes: passes) { try model.run($0, threads: request.threads, planner: nil) }
        return try metric.value(outputs.outputs, task: task)
    }

    /// The request with one word's characters removed (and a space beside it), or replaced by
    /// `mask`; nil when its span is unknown.
    static func occlude(_ word: TraceWord, in request: TraceRequest, trace: Trace, with mask: String?) -> TraceRequest? {
        let members = word.tokens.map { trace.tokens[$0] }
        guard let start = members.compactMap(\.start).min(), let end = members.compactMap(\.end).max() else { return nil }
        var request = request
        let text = word.segment == 0 ? request.a : (request.b ?? "")
        var scalars = Array(text.unicodeScalars)
        guard start >= 0, start < end, end <= scalars.count else { return nil }
        if let mask {
            scalars.replaceSubrange(start ..< end, with: Array(mask.unicodeScalars))
        } else {
            var (from, to) = (start, end)
            if from > 0, scalars[from - 1] == " " { from -= 1 } else if to < scalars.count, scalars[to] == " " { to += 1 }
            scalars.removeSubrange(from ..< to)
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        if word.segment == 0 { request.a = String(view) } else { request.b = String(view) }
        return request
    }

    /// Attention rollout over the encoder stack: Â = ½·mean over heads + ½·I per layer, multiplied
    /// from the first layer up; each word's score is the flow from the first token (a causal
    /// model's last) to its tokens.
    static func rollout(_ trace: Trace, words: [TraceWord]) -> [Double] {
        guard let stack = trace.stacks[.encoder] else { return words.map { _ in .nan } }
        let (layers, heads, n) = (stack.layerCount, stack.headCount, stack.attention.shape[2])
        let a = stack.attention.scalars
        var flow = [Double](repeating: 0, count: n * n)
        for i in 0 ..< n { flow[i * n + i] = 1 }
        for l in 0 ..< layers {
            var step = [Double](repeating: 0, count: n * n)
            for h in 0 ..< heads {
                let base = (l * heads + h) * n * n
                for k in 0 ..< n * n { step[k] += Double(a[base + k]) / Double(heads) * 0.5 }
            }
            for i in 0 ..< n { step[i * n + i] += 0.5 }
            var next = [Double](repeating: 0, count: n * n)
            for i in 0 ..< n {
                for k in 0 ..< n where step[i * n + k] != 0 {
                    let weight = step[i * n + k]
                    for j in 0 ..< n { next[i * n + j] += weight * flow[k * n + j] }
                }
            }
            flow = next
        }
        let causal = stack.geometry?.causal ?? (trace.provenance.task == "causal-lm")
        let query = causal ? n - 1 : 0
        return words.map { word in word.tokens.reduce(0) { $0 + flow[query * n + $1] } }
    }
}
