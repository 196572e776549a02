import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import Foundation

/// `attnlab scan`: patch (or ablate) every layer × head, or every layer × word, from a source
/// input into a target input and measure what each does to an output.
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Patch or ablate every layer × head (or layer × word) and measure the effect on an output.",
        discussion: """
        The target is --text (and --pair); the source is the same with --source-text and/or \
        --source-pair replaced. Each cell copies one head's output (or one word's residual stream, \
        attention or feed-forward output) from the source run into the target run and records the \
        metric: raw (patched − target) and normalised (0 = the target's value, 1 = the source's).
        """)

    @Option(help: "A model folder, an id or name under Models/ or $ATTNLAB_MODELS, or a Hugging Face id in the cache.")
    var model: String

    @Option(help: "The revision of a Hugging Face id to take from the cache: a branch or tag (default main) or a commit hash.")
    var revision: String?

    @Option(help: "The target's text (sentence A).")
    var text: String

    @Option(help: "The target's sentence B.")
    var pair: String?

    @Option(name: .customLong("decoder-text"), help: "The decoder's input of an encoder-decoder model.")
    var decoderText: String?

    @Option(name: .customLong("source-text"), help: "The source's sentence A (default: the target's).")
    var sourceText: String?

    @Option(name: .customLong("source-pair"), help: "The source's sentence B (default: the target's).")
    var sourcePair: String?

    @Option(help: "The sites scanned: head (layer × head), or resid, attn, mlp (layer × word).")
    var site: SiteKind = .head

    @Option(help: "patch (copy from the source) or ablate (zero; no source needed).")
    var mode: ScanResult.Mode = .patch

    @Option(help: "The output measured: similarity, p:LABEL_OR_TOKEN, logit-diff:A,B (default: similarity for the similarity task).")
    var metric: String?

    @Option(help: "What the model computes (default: its natural task).")
    var task: ModelTask?

    @Option(help: "The stack scanned (encoder-decoders).")
    var stack: StackKind = .encoder

    @Option(help: "Layers scanned: 0,2-4 (default: all).")
    var layers: String?

    @Option(help: "Threads: cells are measured in parallel, each pass on one thread.")
    var threads = 1

    @Option(help: "Cells listed, strongest first.")
    var top = 10

    @Option(help: "Where to write the scan as JSON.")
    var out: String?

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
        guard top >= 0 else { throw ValidationError("--top must be at least 0") }
        if mode == .patch, sourceText == nil, sourcePair == nil {
            throw ValidationError("a patching scan needs a source: give --source-text or --source-pair (or --mode ablate)")
        }
        _ = try parsedLayers()
    }

    func parsedLayers() throws -> [Int]? {
        guard let layers else { return nil }
        var result: [Int] = []
        for part in layers.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            if bounds.count == 1, let layer = bounds[0], layer >= 0 { result.append(layer); continue }
            guard bounds.count == 2, let first = bounds[0], let last = bounds[1], first >= 0, first <= last else {
                throw ValidationError("--layers \(layers): write layers as 0,2-4")
            }
            result += Array(first ... last)
        }
        return Array(Set(result)).sorted()
    }

    func run() throws {
        let loaded = try LoadedModel(model, locator: .standard(revision: revision))
        var target = TraceRequest(a: text, b: pair, decoderText: decoderText, task: task)
        target.task = task ?? loaded.defaultTask(for: target)
        var source = target
        source.a = sourceText ?? text
        source.b = sourcePair ?? pair
        let metric = try metric.map(OutputMetric.init(parsing:)) ?? (target.task == .similarity ? .similarity : nil)
        guard let metric else {
            throw ValidationError("--metric: say what to measure for the \(target.task!.rawValue) task (p:LABEL_OR_TOKEN or logit-diff:A,B)")
        }
        let spec = ScanSpec(site: site, stack: stack, mode: mode, metric: metric, layers: try parsedLayers(), threads: threads)
        let started = Date()
        let result = try ScanRunner.run(spec, model: loaded, target: target, source: mode == .patch ? source : nil,
                                        names: ("target", mode == .patch ? "source" : nil))
        let seconds = Date().timeIntervalSince(started)
        if let out {
            try AtomicFile.write(try TraceFile.stableJSON(result), toOutput: out)
        }
        // With --out -, the JSON is standard output and the table goes to standard error.
        let table = Self.render(result, seconds: seconds, cells: layers == nil ? nil : result.layers.count * result.columns.count)
        if out == "-" {
            FileHandle.standardError.write(Data((table + "\n").utf8))
        } else {
            print(table)
            if let out { print("wrote \(out)") }
        }
    }

    static func render(_ result: ScanResult, seconds: Double, cells: Int? = nil) -> String {
        var lines: [String] = []
        let what = result.site == .head ? "layer × head" : "layer × word"
        let count = result.layers.count * result.columns.count
        lines.append("\(result.mode.rawValue) scan of \(result.stack.rawValue) \(result.site.rawValue) (\(what), \(count) cells), metric \(result.metric)")
        if let source = result.sourceValue {
            lines.append(String(format: "target %.4f, source %.4f (normalised: 0 = target, 1 = source)", result.targetValue, source))
        } else {
            lines.append(String(format: "target %.4f", result.targetValue))
        }
        var rows = [["cell", "effect", "normalised"]]
        for cell in result.top(10) {
            rows.append([result.name(of: cell), String(format: "%+.4f", cell.effect), cell.normalized.map { String(format: "%+.3f", $0) } ?? "–"])
        }
        lines.append(Table.render(rows))
        if !result.skipped.isEmpty { lines.append("\(result.skipped.count) cells could not be patched (a word split differently in the two inputs)") }
        lines.append(String(format: "scanned in %.2f s", seconds))
        return lines.joined(separator: "\n")
    }
}
