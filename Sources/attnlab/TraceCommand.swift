import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import Foundation

/// `attnlab trace`: run a model on a sentence or a pair and write (or summarise) its trace.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Run a model on a sentence or a pair, capturing every layer's attention.",
        discussion: """
        With --out, writes the trace (a safetensors file with JSON metadata, or JSON with \
        --format json). Without it, prints the tokens, the outputs and, for a pair, the strongest \
        attention between the two sentences in each layer.
        """)

    @Option(help: "A model folder, an id or name under Models/ or $ATTNLAB_MODELS, or a Hugging Face id in the cache.")
    var model: String

    @Option(help: "The revision of a Hugging Face id to take from the cache: a branch or tag (default main) or a commit hash.")
    var revision: String?

    @Option(help: "The input text (sentence A).")
    var text: String

    @Option(help: "Sentence B of a pair.")
    var pair: String?

    @Option(name: .customLong("decoder-text"), help: "The decoder's input of an encoder-decoder model (BART, T5, Marian), read teacher-forced.")
    var decoderText: String?

    @Option(help: "What to compute besides attention (default: the model's natural task).")
    var task: ModelTask?

    @Option(help: "What to capture: attention (always), qkv, hidden; comma-separated.")
    var capture = "attention"

    @Option(help: "Where to write the trace (.safetensors, or .json).")
    var out: String?

    @Option(help: "The trace's format (default: from the --out extension; json prints to standard output without --out).")
    var format: TraceFormat?

    @Flag(help: "Cut inputs longer than the model takes instead of failing.")
    var truncate = false

    @Option(name: .customLong("top-k"), help: "Predictions kept per position for masked-lm and causal-lm.")
    var topK = 5

    @Option(help: "Threads for the forward pass.")
    var threads = 1

    @OptionGroup(title: "Interventions")
    var interventions: InterventionOptions

    func validate() throws {
        _ = try Self.captureOptions(capture)
        guard topK > 0 else { throw ValidationError("--top-k must be at least 1") }
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    static func captureOptions(_ list: String) throws -> CaptureOptions {
        var options: CaptureOptions = []
        for item in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch item {
            case "attention": break
            case "qkv": options.insert(.qkv)
            case "hidden": options.insert(.hidden)
            case "all": options.formUnion([.qkv, .hidden])
            default: throw ValidationError("unknown capture \"\(item)\"; choose from attention, qkv, hidden")
            }
        }
        return options
    }

    func run() throws {
        let loaded = try LoadedModel(model, locator: .standard(revision: revision))
        var request = TraceRequest(a: text, b: pair, decoderText: decoderText, task: task,
                                   capture: try Self.captureOptions(capture), truncate: truncate, topK: topK)
        request.threads = threads
        let trace = try InterventionRunner.trace(request, interventions: try interventions.interventions(), model: loaded)
        try trace.checkFinite()
        let format = self.format ?? (out?.lowercased().hasSuffix(".json") == true ? .json : out == nil ? nil : .safetensors)
        switch (format, out) {
        case (.json, nil):
            FileHandle.standardOutput.write(TraceJSON.encode(trace))
        case (.json, let path?):
            try AtomicFile.write(TraceJSON.encode(trace), toOutput: path)
            if path != "-" { print("wrote \(path)") }
        case (_, let path?):
            try AtomicFile.write(try TraceFile.encode(trace), toOutput: path)
            if path != "-" { print("wrote \(path)") }
        default:
            print(TraceSummary.render(trace, model: loaded.model.summary))
        }
    }
}

/// The readable summary `attnlab trace` prints.
enum TraceSummary {
    static func render(_ trace: Trace, model: ModelSummary) -> String {
        var lines: [String] = []
        lines.append("model \(trace.provenance.model) (\(trace.provenance.architecture), \(model.layers) layers × \(model.heads) heads), task \(trace.provenance.task)")
        lines.append("tokens (\(trace.tokens.count)): " + trace.tokens.map(\.text).joined(separator: " "))
        for intervention in trace.interventions { lines.append("intervention: \(intervention)") }
        let outputs = trace.outputs
        if let similarity = outputs.similarity {
            lines.append(String(format: "similarity: %.4f (cosine of the two sentences' pooled embeddings, each run on its own)", similarity))
        }
        if let labels = outputs.labels, let probabilities = outputs.probabilities {
            lines.append("classes: " + zip(labels, probabilities).map { String(format: "%@ %.3f", $0, $1) }.joined(separator: ", "))
        }
        if let decoder = trace.decoderTokens {
            lines.append("decoder tokens (\(decoder.count)): " + decoder.map(\.text).joined(separator: " "))
        }
        let predicted = trace.decoderTokens ?? trace.tokens
        let shown = ["causal-lm", "seq2seq"].contains(trace.provenance.task) ? Array((outputs.topk ?? []).suffix(1)) : (outputs.topk ?? [])
        for prediction in shown {
            let token = predicted.indices.contains(prediction.position) ? predicted[prediction.position].text : "#\(prediction.position)"
            let what = ["causal-lm", "seq2seq"].contains(trace.provenance.task) ? "next token after" : "predictions at"
            lines.append("\(what) \(prediction.position) (\(token)): "
                         + prediction.candidates.map { String(format: "%@ %.3f", $0.token, $0.probability) }.joined(separator: ", "))
        }
        let links = CrossSentenceAttention.strongestPerLayer(trace)
        if !links.isEmpty {
            lines.append("strongest attention between sentence A and B, per layer:")
            for link in links {
                let from = trace.tokens[link.from].display, to = trace.tokens[link.to].display
                lines.append(String(format: "  layer %d  head %2d  %@ → %@  %.3f", link.layer, link.head,
                                    "\"\(from)\"" + (trace.tokens[link.from].segment == 0 ? " (A)" : " (B)"),
                                    "\"\(to)\"" + (trace.tokens[link.to].segment == 0 ? " (A)" : " (B)"), link.weight))
            }
        }
        return lines.joined(separator: "\n")
    }
}
