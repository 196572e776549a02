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
        attention between the two sentences in each layer. With --from-run RUN VARIANT, traces a \
        variant of a run again, in full (a compact run keeps few heads or none), and writes it \
        beside the run's traces unless --out says where.
        """)

    @Option(help: "A model folder, an id or name under Models/ or $ATTNLAB_MODELS, or a Hugging Face id in the cache (with --from-run: the model's name in the run, when it has several).")
    var model: String?

    @Option(help: "The revision of a Hugging Face id to take from the cache: a branch or tag (default main) or a commit hash.")
    var revision: String?

    @Option(help: "The input text (sentence A); with --chat, the user's message.")
    var text: String?

    @Option(name: .customLong("from-run"), help: "A run folder: trace one of its variants (INPUT/VARIANT) again, in full.")
    var fromRun: String?

    @Argument(help: "With --from-run: the variant, INPUT/VARIANT.")
    var variant: String?

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

    @Flag(name: .customLong("all-positions"), help: "causal-lm: predict the next token after every position, not only after the last.")
    var allPositions = false

    @Option(help: "Threads for the forward pass.")
    var threads = 1

    @Flag(help: "Render the model's chat template for the messages (with the generation prompt) and trace the result.")
    var chat = false

    @Option(name: .customLong("message"), help: "With --chat: one message as ROLE:TEXT (repeat it, in order).")
    var messages: [String] = []

    @Option(name: .customLong("messages"), help: "With --chat: a JSON file of messages, [{\"role\": …, \"content\": …}, …].")
    var messagesFile: String?

    @OptionGroup(title: "Interventions")
    var interventions: InterventionOptions

    func validate() throws {
        if fromRun != nil {
            guard variant != nil else { throw ValidationError("--from-run RUN needs the variant: attnlab trace --from-run RUN INPUT/VARIANT") }
            if text != nil || pair != nil || decoderText != nil || chat || !messages.isEmpty || messagesFile != nil {
                throw ValidationError("--from-run takes the texts from the run; leave out --text, --pair, --decoder-text and --chat")
            }
        } else if chat {
            guard model != nil else { throw ValidationError("give --model and the messages (or --from-run RUN INPUT/VARIANT)") }
            if variant != nil { throw ValidationError("a variant is named only with --from-run RUN") }
            let sources = [text != nil, !messages.isEmpty, messagesFile != nil].filter { $0 }.count
            guard sources == 1 else {
                throw ValidationError("--chat takes its messages from one of --message (repeated), --messages FILE or --text (one user message)")
            }
            guard pair == nil else { throw ValidationError("--chat traces one prompt; leave out --pair") }
            for message in messages {
                do { _ = try ChatPrompt.message(parsing: message) } catch { throw ValidationError("--message: \(error)") }
            }
        } else {
            guard model != nil, text != nil else { throw ValidationError("give --model and --text (or messages with --chat, or --from-run RUN INPUT/VARIANT)") }
            if variant != nil { throw ValidationError("a variant is named only with --from-run RUN") }
            guard messages.isEmpty, messagesFile == nil else { throw ValidationError("--message and --messages need --chat") }
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
        if let fromRun, let variant {
            try traceFromRun(URL(fileURLWithPath: fromRun), variant: variant)
            return
        }
        let loaded = try LoadedModel(model ?? "", locator: .standard(revision: revision))
        var prompt = text ?? ""
        if chat {
            let conversation = try messagesFile.map { try ChatPrompt.read(file: URL(fileURLWithPath: $0)) }
                ?? (messages.isEmpty ? [ChatMessage(role: "user", content: prompt)] : messages.map(ChatPrompt.message(parsing:)))
            prompt = try loaded.renderChat(conversation)
        }
        var request = TraceRequest(a: prompt, b: pair, decoderText: decoderText, task: task,
                                   capture: try Self.captureOptions(capture), truncate: truncate, topK: topK)
        request.threads = threads
        request.chat = chat
        request.allPositions = allPositions
        let trace = try InterventionRunner.trace(request, interventions: try interventions.interventions(), model: loaded)
        try write(trace, summary: loaded.model.summary)
    }

    /// Traces a variant of a run again, with every head, and writes it.
    func traceFromRun(_ folder: URL, variant path: String) throws {
        let run = try RunFolder(folder)
        let rerun = try RunTrace.trace(run, variant: path, model: model, capture: try Self.captureOptions(capture), threads: threads)
        if out == nil && format != .json {
            let url = folder.appendingPathComponent(rerun.defaultPath)
            try TraceFile.write(rerun.trace, to: url)
            print("wrote \(url.path)")
            return
        }
        try write(rerun.trace, summary: rerun.summary)
    }

    func write(_ trace: Trace, summary: ModelSummary) throws {
        try trace.checkFinite()
        let format = self.format ?? (out?.lowercased().hasSuffix(".json") == true ? .json : out == nil ? nil : .safetensors)
        switch (format, out) {
        case (.json, nil):
            FileHandle.standardOutput.write(TraceJSON.encode(trace))
        case (.json, let path?):
            try AtomicFile.write(TraceJSON.encode(trace), toOutput: path)
            if path != "-" { print("wrote \(path)") }
        case (_, "-"?):
            try AtomicFile.write(try TraceFile.encode(trace), toOutput: "-")
        case (_, let path?):
            // Streamed tensor by tensor: no second copy of a 512-token trace in memory.
            try TraceFile.write(trace, to: URL(fileURLWithPath: path))
            print("wrote \(path)")
        default:
            print(TraceSummary.render(trace, model: summary))
        }
    }
}

/// A variant of a run traced again: the same model (its weights checked against the run's), the
/// same texts and intervention, every head kept.
enum RunTrace {
    struct Rerun {
        var trace: Trace
        var summary: ModelSummary
        /// Where it goes in the run: the run's trace path, or `<variant>.full.safetensors` beside a compact one.
        var defaultPath: String
    }

    static func trace(_ run: RunFolder, variant path: String, model name: String?, capture: CaptureOptions, threads: Int) throws -> Rerun {
        let manifest = run.manifest
        let models = name.map { wanted in manifest.models.filter { $0.name == wanted } } ?? manifest.models
        guard let info = models.first, models.count == 1 else {
            throw ValidationError(name == nil ? "the run has several models (\(manifest.models.map(\.name).joined(separator: ", "))); name one with --model"
                                              : "the run has no model \(name!); its models: \(manifest.models.map(\.name).joined(separator: ", "))")
        }
        var record: Manifest.VariantRecord?
        var bases: [Variant] = []
        var sources: [String: Variant] = [:]
        try run.forEachRecord { found in
            guard found.model == info.name else { return true }
            if found.variant.isBase, bases.count < 64 { bases.append(found.variant) }
            if found.variant.path == path { record = found }
            if found.variant.intervention == nil { sources[found.variant.path] = found.variant }
            return true
        }
        guard let record else {
            throw ExperimentError("the run has no variant \(path) of model \(info.name)", location: run.url.path,
                                  hint: "name it as INPUT/VARIANT, as variants.jsonl does")
        }
        let loaded = try LoadedModel(info.id)
        guard loaded.weightsHash == info.weightsHash else {
            throw ExperimentError("the weights of \(info.name) (\(info.id)) are not the ones the run used (sha256 \(loaded.weightsHash.prefix(12)), the run's \(info.weightsHash.prefix(12)))",
                                  hint: "trace it with the model the run was made with")
        }
        let variant = record.variant
        var request = TraceRequest(a: variant.a, b: variant.b, decoderText: variant.decoder, task: ModelTask(rawValue: info.task),
                                   capture: capture, topK: max(record.outputs.topk?.first?.candidates.count ?? 5, 1))
        request.watchedTokens = record.outputs.topk?.first?.watched?.map(\.token) ?? []
        request.threads = threads
        var patchSources: InterventionRunner.Sources = [:]
        if let source = variant.intervention?.source, let found = sources["\(variant.input)/\(source)"] {
            patchSources[source] = TraceRequest(a: found.a, b: found.b, decoderText: found.decoder, task: request.task)
        }
        let trace = try InterventionRunner.trace(request, interventions: variant.intervention.map { [$0] } ?? [], model: loaded,
                                                 sources: patchSources,
                                                 meanReference: bases.map { TraceRequest(a: $0.a, b: $0.b, decoderText: $0.decoder, task: request.task) })
        if trace.outputs != record.outputs {
            FileHandle.standardError.write(Data("warning: the outputs differ from the run's (attnlab \(manifest.attnlabVersion) made the run, this is \(AttnLab.version))\n".utf8))
        }
        let relative = try RunPaths.trace(model: record.model, variant: record.variant)
        let defaultPath = record.trace == nil ? relative : String(relative.dropLast(".safetensors".count)) + ".full.safetensors"
        return Rerun(trace: trace, summary: loaded.model.summary, defaultPath: defaultPath)
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
