import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import AttnViews
import Foundation

/// `attnlab view`: a trace as an interactive HTML view (head, model, neuron), or two as the compare
/// view, one offline file.
struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Write a trace's head, model or neuron view, two traces' compare view, or a scan's view, as one self-contained HTML file.",
        discussion: """
        The page needs no network: its scripts, styles and data are inline, so it opens from file:// \
        and inside a notebook output cell (as an iframe srcdoc). Attention is stored at 8 bits per \
        weight (√-scaled) and compressed; lines are drawn on a canvas.

        Layer and head numbers are the model's own. --layers keeps only some layers in the page. \
        --heads selects the heads drawn first in the head view and the head shown first in the neuron \
        and compare views; in the model view it keeps only those heads in the grid.

        A scan file (`attnlab scan --out scan.json`) gets the scan view: layers × heads (or words) \
        coloured by effect; a click on a cell opens that head for the target and the source side by \
        side. A run folder with --view scan writes the page of each of its scans.

        Without --out the page is written to the current folder as TRACE-VIEW.html (a run's pages to \
        RUN-ID-VIEW/); --out - writes it to standard output; --open opens it in the browser.

        Examples:
          attnlab view eminem.trace.safetensors --view head --layer 2 --heads 0,5 --out head.html
          attnlab view eminem.trace.safetensors --view head --layer 5 --heads 4 --sentences b-a --token 18 --open
          attnlab view eminem.trace.safetensors --view model --layers 0-2 --heads 0-5 --mode light --out model.html
          attnlab view eminem.trace.safetensors --view neuron --layer 4 --heads 3 --token 7 --out neuron.html
          attnlab view eminem.trace.safetensors terrific.trace.safetensors --view compare --out compare.html
          attnlab view runs/paraphrase-eminem/RUN --view compare --out pages/
          attnlab view scan.json --out scan.html
        """)

    @Argument(help: "A trace file (.safetensors or .json), from `attnlab trace` or written from Python; two for --view compare (the base, then the variant); or a run folder (runs/<experiment>/<run-id>): then --out is a folder and every variant gets its page, <model>/<input>/<variant>-<view>.html (with compare, every perturbed variant against its base; with --view scan, every scan: <model>/<scan>-scan.html); or a scan file (.json, from `attnlab scan --out`).")
    var traces: [String]

    @Option(help: "The view to write (default: head for a trace, scan for a scan file).")
    var view: ViewKind?

    @Option(name: .shortAndLong, help: "The HTML file to write (a folder for a run; - for standard output). Default: TRACE-VIEW.html in the current folder.")
    var out: String?

    @Flag(help: "Open the page in the browser once it is written ($BROWSER, else xdg-open or open).")
    var open = false

    @Option(help: "The page's colours.")
    var mode = DisplayMode.dark

    @Option(help: "The layer shown first (head, neuron and compare views).")
    var layer: Int?

    @Option(help: "Heads, e.g. 3,5 or 0-5. Head view: drawn first; neuron and compare views: shown first; model view: the heads included.")
    var heads: String?

    @Option(help: "Layers included in the page, e.g. 0,2-4 (default: all).")
    var layers: String?

    @Option(help: "The attention shown first (encoder-decoder models).")
    var stack: StackKind?

    @Option(help: "For a sentence pair, the attention shown first (a-b: sentence A attending to B).")
    var sentences = SentenceFilter.all

    @Option(help: "A token selected when the page opens (its index): its lines are isolated, or it is the neuron view's query.")
    var token: Int?

    @Option(help: "Hide lines whose weight is below this (default: 0 up to 64 tokens, 0.01 above, where weaker lines are drawn almost invisibly anyway).")
    var threshold: Double?

    @Option(name: .customLong("top-k"), help: "Draw only each token's k strongest lines (0: all).")
    var topK = 0

    @Option(help: "The page's title (default: the model and the input).")
    var title: String?

    @Option(help: "Model view: leave the first token (an attention sink) out of the thumbnails and scale each to the rest (hide), or draw it (show); auto hides it for causal models. The page has a toggle.")
    var sink = SinkDisplay.auto

    func validate() throws {
        if let heads { _ = try Self.numbers(heads, option: "--heads") }
        if let layers { _ = try Self.numbers(layers, option: "--layers") }
        guard (1 ... 2).contains(traces.count) else { throw ValidationError("give one trace (or run folder), or two traces for --view compare") }
        if traces.count == 2, view != .compare {
            throw ValidationError("two traces make a compare view: add --view compare (or give one trace for the \((view ?? .head).rawValue) view)")
        }
        if out == "-", open { throw ValidationError("--open needs a file: leave out --out - or --open") }
    }

    func run() throws {
        let source = URL(fileURLWithPath: traces[0])
        if traces.count == 1, view == .scan || (view == nil && Self.isScanFile(source)) {
            try writeScanViews(source)
            return
        }
        let kind = view ?? .head
        if Self.isScanFile(source) {
            throw CoreError("this is a scan file, and it has the scan view, not the \(kind.rawValue) view", location: source.path,
                            hint: "leave out --view (or choose --view scan); the traces' own views come from `attnlab trace`")
        }
        let headList = try heads.map { try Self.numbers($0, option: "--heads") }
        let options = ViewOptions(
            mode: mode,
            includeLayers: try layers.map { try Self.numbers($0, option: "--layers") },
            includeHeads: kind == .model ? headList : nil,
            stack: stack,
            layer: layer,
            selectedHeads: kind == .model ? nil : headList,
            sentences: sentences,
            token: token, threshold: threshold, topK: topK, title: title, sink: sink)
        if traces.count == 1, RunFolder.isRun(source) {
            try writeRun(RunFolder(source), kind: kind, options: options)
            return
        }
        guard kind != .compare || traces.count == 2 else {
            throw ValidationError("the compare view needs two traces, the base then the variant (or a run folder)")
        }
        let start = DispatchTime.now()
        let page: Data
        var tokens = 0
        if kind == .compare {
            let (base, variant) = (try TraceFile.read(source), try TraceFile.read(URL(fileURLWithPath: traces[1])))
            page = try ViewRenderer.renderComparison(base: base, variant: variant, options: options, names: (Self.stem(traces[0]), Self.stem(traces[1])))
            tokens = base.tokens.count + variant.tokens.count
        } else {
            let trace = try TraceFile.read(source)
            page = try ViewRenderer.render(trace, view: kind, options: options)
            tokens = trace.tokens.count + (trace.decoderTokens?.count ?? 0)
        }
        if out == "-" {
            try AtomicFile.write(page, toOutput: "-")
            return
        }
        let name = out ?? (kind == .compare ? "\(Self.stem(traces[0]))-\(Self.stem(traces[1]))-compare.html" : "\(Self.stem(traces[0]))-\(kind.rawValue).html")
        let url = URL(fileURLWithPath: name)
        try AtomicFile.write(page, to: url)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print("wrote \(url.path): \(kind.rawValue) view, \(tokens) tokens, \(Self.size(page.count)) in \(String(format: "%.2f", seconds)) s")
        if open { try PageOpener.open(url) }
    }

    /// Every variant's page of a run (with compare, each perturbed variant against its base) into a folder.
    func writeRun(_ run: RunFolder, kind: ViewKind, options: ViewOptions) throws {
        if let out, out == "-" || out.lowercased().hasSuffix(".html") {
            throw ValidationError("a run has one page per variant: give --out a folder (for example \(URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent)/), not \(out == "-" ? "standard output" : "a .html file")")
        }
        let folder = URL(fileURLWithPath: out ?? "\(run.manifest.experiment.name)-\(run.manifest.timing.runID)-\(kind.rawValue)")
        var written: [URL] = []
        // The records (not their traces) are in memory, to find each variant's base.
        let records = try run.records()
        for record in records {
            var variantOptions = options
            variantOptions.title = title ?? "\(run.manifest.experiment.name) · \(record.model) · \(record.variant.path)"
            let url = folder.appendingPathComponent(try RunPaths.folder(model: record.model, variant: record.variant) + "-\(kind.rawValue).html")
            if kind == .compare {
                guard let base = records.base(of: record), base != record else { continue }
                variantOptions.title = title ?? "\(run.manifest.experiment.name) · \(record.model) · \(base.variant.path) → \(record.variant.path)"
                try ViewRenderer.writeComparison(base: try run.trace(base), variant: try run.trace(record), options: variantOptions,
                                                 names: (base.variant.path, record.variant.path), to: url)
            } else {
                try ViewRenderer.write(try run.trace(record), view: kind, options: variantOptions, to: url)
            }
            print("wrote \(url.path)")
            written.append(url)
        }
        if written.isEmpty { throw ExperimentError("the run has no perturbed variant to compare with its base", location: run.url.path) }
        if open, let first = written.first { try PageOpener.open(first) }
    }

    /// A trace file's name without its extensions: `terrific` for terrific.trace.safetensors.
    static func stem(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".safetensors", ".json", ".trace"] where name.lowercased().hasSuffix(suffix) { name = String(name.dropLast(suffix.count)) }
        return name.isEmpty ? "trace" : name
    }

    /// True for a scan file (JSON with a scan's fields), not a JSON trace.
    static func isScanFile(_ url: URL) -> Bool {
        url.pathExtension.lowercased() == "json" && !RunFolder.isRun(url) && (try? ScanFile.read(url)) != nil
    }

    /// The scan view of a scan file, or of every scan of a run.
    func writeScanViews(_ source: URL) throws {
        let options = ScanView.Options(mode: mode, title: title)
        if RunFolder.isRun(source) {
            let run = try RunFolder(source)
            guard !run.manifest.scans.isEmpty else {
                throw ExperimentError("the run has no scans", location: source.path, hint: "add scans: to the experiment, or choose --view head, model or neuron")
            }
            if let out, out == "-" || out.lowercased().hasSuffix(".html") {
                throw ValidationError("a run has one page per scan: give --out a folder, not \(out == "-" ? "standard output" : "a .html file")")
            }
            let folder = URL(fileURLWithPath: out ?? "\(run.manifest.experiment.name)-\(run.manifest.timing.runID)-scan")
            for scan in run.manifest.scans {
                func trace(_ path: String?) throws -> Trace? {
                    guard let path else { return nil }
                    guard let record = try run.record(model: scan.model, variant: path) else {
                        throw ExperimentError("scan \(scan.id) names \(path), which the run has no trace of", location: source.path)
                    }
                    return try run.trace(record)
                }
                var scanOptions = options
                scanOptions.title = title ?? "\(run.manifest.experiment.name) · \(scan.model) · scan \(scan.id)"
                let page = try ScanView.render(scan.result, target: try trace(scan.result.target)!, source: try trace(scan.result.source), options: scanOptions)
                let url = folder.appendingPathComponent(
                    try PathComponent.path([(scan.model, what: "model name"), (scan.id, what: "scan id")]) + "-scan.html")
                try AtomicFile.write(page, to: url)
                print("wrote \(url.path)")
            }
            return
        }
        guard !FileManager.default.fileExists(atPath: source.path) || source.pathExtension.lowercased() == "json" else {
            throw CoreError("the scan view draws a scan file (.json from `attnlab scan --out`), not a trace", location: source.path,
                            hint: "choose --view head, model or neuron for a trace")
        }
        let file = try ScanFile.read(source)
        let page = try ScanView.render(file, options: options)
        if out == "-" {
            try AtomicFile.write(page, toOutput: "-")
            return
        }
        let url = URL(fileURLWithPath: out ?? "\(Self.stem(traces[0]))-scan.html")
        try AtomicFile.write(page, to: url)
        print("wrote \(url.path): scan view, \(file.result.layers.count) × \(file.result.columns.count) cells, \(Self.size(page.count))")
        if open { try PageOpener.open(url) }
    }

    /// "3,5" or "0-5" or "0,2-4" as numbers.
    static func numbers(_ text: String, option: String) throws -> [Int] {
        var out: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1 where bounds[0] != nil:
                out.append(bounds[0]!)
            case 2 where bounds[0] != nil && bounds[1] != nil && bounds[0]! <= bounds[1]!:
                out += Array(bounds[0]! ... bounds[1]!)
            default:
                throw ValidationError("\(option) takes numbers and ranges such as 3,5 or 0-5, not \"\(text)\"")
            }
        }
        return out
    }

    static func size(_ bytes: Int) -> String {
        bytes >= 1_000_000 ? String(format: "%.1f MB", Double(bytes) / 1e6) : String(format: "%.0f kB", Double(bytes) / 1e3)
    }
}
