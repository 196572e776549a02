import ArgumentParser
import AttnCore
import AttnDiff
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

    @Option(help: "The input text (sentence A).")
    var text: String

    @Option(help: "Sentence B of a pair.")
    var pair: String?

    @Option(name: .customLong("decoder-text"), help: "The decoder's input of an encoder-decoder model (BART, T5, Marian), read teacher-forced.")
    var decoderText: String?

    @Option(help: "What to compute besides attention: \(ModelTask.allCases.map(\.rawValue).joined(separator: ", ")). Default: the model's natural task.")
    var task: String?

    @Option(help: "What to capture: attention (always), qkv, hidden; comma-separated.")
    var capture = "attention"

    @Option(help: "Where to write the trace (.safetensors, or .json).")
    var out: String?

    @Option(help: "safetensors or json (default: from the --out extension; json prints to standard output without --out).")
    var format: String?

    @Flag(help: "Cut inputs longer than the model takes instead of failing.")
    var truncate = false

    @Option(name: .customLong("top-k"), help: "Predictions kept per position for masked-lm and causal-lm.")
    var topK = 5

    @Option(help: "Threads for the forward pass.")
    var threads = 1

    func validate() throws {
        if let task, ModelTask(rawValue: task) == nil {
            throw ValidationError("unknown task \"\(task)\"; choose one of \(ModelTask.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let format, !["safetensors", "json"].contains(format) {
            throw ValidationError("unknown format \"\(format)\"; choose safetensors or json")
        }
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
        Parallel.setThreads(threads)
        let loaded = try LoadedModel(model)
        let request = TraceRequest(a: text, b: pair, decoderText: decoderText, task: task.flatMap(ModelTask.init(rawValue:)),
                                   capture: try Self.captureOptions(capture), truncate: truncate, topK: topK)
        let trace = try loaded.trace(request)
        try trace.checkFinite()
        let format = self.format ?? (out?.lowercased().hasSuffix(".json") == true ? "json" : out == nil ? "summary" : "safetensors")
        switch (format, out) {
        case ("json", nil):
            FileHandle.standardOutput.write(TraceJSON.encode(trace))
        case ("json", let path?):
            try AtomicFile.write(TraceJSON.encode(trace), to: URL(fileURLWithPath: path))
            print("wrote \(path)")
        case (_, let path?):
            try TraceFile.write(trace, to: URL(fileURLWithPath: path))
            print("wrote \(path)")
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

/// The JSON form of a trace (`--format json`): `tokens` as strings, `token_type_ids`, `attention`
/// as `[layer][head][query][key]`, the other stacks when present, `outputs`, and every token's details.
enum TraceJSON {
    static func encode(_ trace: Trace) -> Data {
        var out = "{"
        func key(_ name: String) { out += (out.count > 1 ? "," : "") + "\"\(name)\":" }
        func json<T: Encodable>(_ value: T) -> String { String(decoding: (try? TraceFile.stableJSON(value)) ?? Data("null".utf8), as: UTF8.self) }
        key("tokens"); out += json(trace.tokens.map(\.text))
        key("token_type_ids"); out += json(trace.tokenTypeIds ?? trace.tokens.map(\.segment))
        key("token_details"); out += json(trace.tokens)
        if let decoder = trace.decoderTokens { key("decoder_tokens"); out += json(decoder.map(\.text)) }
        for kind in trace.stacks.keys.sorted() {
            let stack = trace.stacks[kind]!
            key(kind == .encoder ? "attention" : "\(kind.rawValue)_attention")
            out += nested(stack.attention)
            for (name, tensor) in [("query", stack.query), ("key", stack.key), ("value", stack.value), ("hidden", stack.hidden)] {
                if let tensor { key(kind == .encoder ? name : "\(kind.rawValue)_\(name)"); out += nested(tensor) }
            }
        }
        key("outputs"); out += json(trace.outputs)
        key("inputs"); out += json(trace.inputs)
        key("provenance"); out += json(trace.provenance)
        out += "}\n"
        return Data(out.utf8)
    }

    /// A tensor as nested JSON arrays.
    static func nested(_ tensor: Tensor) -> String {
        var out = ""
        out.reserveCapacity(tensor.count * 12)
        func emit(_ dimension: Int, _ offset: Int, _ stride: Int) {
            out += "["
            let size = tensor.shape[dimension]
            let inner = stride / max(size, 1)
            for i in 0 ..< size {
                if i > 0 { out += "," }
                if dimension == tensor.rank - 1 {
                    let value = tensor.scalars[offset + i]
                    out += value.isFinite ? "\(value)" : "null"
                } else {
                    emit(dimension + 1, offset + i * inner, inner)
                }
            }
            out += "]"
        }
        emit(0, 0, tensor.count)
        return out
    }
}
