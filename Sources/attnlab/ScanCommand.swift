import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import AttnModels
import AttnViews
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

        --out writes the scan as JSON with both traces' attention (`attnlab view scan.json` and \
        `attnlab figure --kind scan scan.json` read it); --view writes the interactive scan view, \
        --figure the scan figure (.png, .pdf or .svg).
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

    @Option(help: "Where to write the scan as JSON (with the target's and the source's attention).")
    var out: String?

    @Option(help: "Where to write the scan view (HTML): the grid, and each cell's heads for target and source.")
    var view: String?

    @Option(help: "Where to write the scan figure (.png, .pdf or .svg).")
    var figure: String?

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
        guard top >= 0 else { throw ValidationError("--top must be at least 0") }
        if mode == .patch, sourceText == nil, sourcePair == nil {
            throw ValidationError("a patching scan needs a source: give --source-text or --source-pair (or --mode ablate)")
        }
        if mode == .ablate, sourceText != nil || sourcePair != nil {
            throw ValidationError("an ablation scan zeroes each site and reads no source: leave out --source-text and --source-pair, or scan with --mode patch")
        }
        guard [.head, .residual, .attention, .mlp].contains(site) else {
            throw ValidationError("--site \(site.rawValue): a scan patches head, resid, attn or mlp sites")
        }
        _ = try parsedLayers()
        if let figure, FigureFormat(fileExtension: URL(fileURLWithPath: figure).pathExtension) == nil {
            throw ValidationError("--figure \(figure): end the file name with .png, .pdf or .svg")
        }
        if let view, !view.lowercased().hasSuffix(".html") {
            throw ValidationError("--view \(view): the scan view is an HTML page; end the file name with .html")
        }
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
        let named = Self.names(target: target, source: source)
        let result = try ScanRunner.run(spec, model: loaded, target: target, source: mode == .patch ? source : nil,
                                        names: (named.target, mode == .patch ? named.source : nil))
        let seconds = Date().timeIntervalSince(started)
        // Everything is drawn before anything is written: a failure leaves no file behind.
        var traces: (target: Trace, source: Trace?)?
        if out != nil || view != nil {
            var capture = target
            capture.capture = []
            var sourceCapture = source
            sourceCapture.capture = []
            traces = (try loaded.trace(capture), mode == .patch ? try loaded.trace(sourceCapture) : nil)
        }
        var files: [(String, Data)] = []
        if let out {
            files.append((out, try ScanFile(result: result, target: traces?.target, source: traces?.source).encoded()))
        }
        if let view, let traces {
            files.append((view, try ScanView.render(result, target: traces.target, source: traces.source)))
        }
        if let figure {
            let url = URL(fileURLWithPath: figure)
            let data = try FigureRenderer.render(.scan, try FigureInputs.scan(result), format: FigureFormat(fileExtension: url.pathExtension)!)
            files.append((figure, data))
        }
        // With a file written to standard output (-), the table goes to standard error.
        let table = Self.render(result, seconds: seconds, top: top)
        let toStandardOutput = files.contains { $0.0 == "-" }
        if toStandardOutput { FileHandle.standardError.write(Data((table + "\n").utf8)) } else { print(table) }
        for (path, data) in files {
            try AtomicFile.write(data, toOutput: path)
            guard path != "-" else { continue }
            if toStandardOutput { FileHandle.standardError.write(Data("wrote \(path)\n".utf8)) } else { print("wrote \(path)") }
        }
    }

    /// Target and source named by the words that differ (`sick`, `terrific`), when a few do;
    /// otherwise `target` and `source`.
    static func names(target: TraceRequest, source: TraceRequest) -> (target: String, source: String) {
        func differing(_ a: String, _ b: String) -> (String, String)? {
            let x = a.split(separator: " "), y = b.split(separator: " ")
            var start = 0
            while start < min(x.count, y.count), x[start] == y[start] { start += 1 }
            var end = 0
            while end < min(x.count, y.count) - start, x[x.count - 1 - end] == y[y.count - 1 - end] { end += 1 }
            let (left, right) = (x[start ..< x.count - end], y[start ..< y.count - end])
            guard !left.isEmpty || !right.isEmpty, left.count <= 3, right.count <= 3 else { return nil }
            let trim = { (words: ArraySlice<Substring>) -> String in
                let text = words.joined(separator: " ").trimmingCharacters(in: .punctuationCharacters)
                return text.isEmpty ? "∅" : text
            }
            return (trim(left), trim(right))
        }
        let a = target.a == source.a ? nil : differing(target.a, source.a)
        let b = (target.b ?? "") == (source.b ?? "") ? nil : differing(target.b ?? "", source.b ?? "")
        switch (a, b) {
        case (let a?, nil) where target.b == source.b: return a
        case (nil, let b?) where target.a == source.a: return b
        default: return ("target", "source")
        }
    }

    static func render(_ result: ScanResult, seconds: Double, top: Int = 10) -> String {
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
        for cell in result.top(top) {
            rows.append([result.name(of: cell), String(format: "%+.4f", cell.effect), cell.normalized.map { String(format: "%+.3f", $0) } ?? "–"])
        }
        lines.append(Table.render(rows))
        if !result.skipped.isEmpty { lines.append("\(result.skipped.count) cells could not be patched (a word split differently in the two inputs)") }
        lines.append(String(format: "scanned in %.2f s", seconds))
        return lines.joined(separator: "\n")
    }
}
