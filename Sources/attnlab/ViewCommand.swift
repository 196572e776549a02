import ArgumentParser
import AttnCore
import AttnExperiments
import AttnViews
import Foundation

/// `attnlab view`: a trace as an interactive HTML view (head, model or neuron), one offline file.
struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "Write a trace's head, model or neuron view as one self-contained HTML file.",
        discussion: """
        The page needs no network: its scripts, styles and data are inline, so it opens from file:// \
        and inside a notebook output cell (as an iframe srcdoc). Attention is stored at 8 bits per \
        weight (√-scaled) and compressed; lines are drawn on a canvas.

        Layer and head numbers are the model's own. --layers keeps only some layers in the page. \
        --heads selects the heads drawn first in the head view and the head shown first in the neuron \
        view; in the model view it keeps only those heads in the grid.

        Examples:
          attnlab view eminem.trace.safetensors --view head --layer 2 --heads 0,5 --out head.html
          attnlab view eminem.trace.safetensors --view head --layer 5 --heads 4 --sentences b-a --token 18 --out head.html
          attnlab view eminem.trace.safetensors --view model --layers 0-2 --heads 0-5 --mode light --out model.html
          attnlab view eminem.trace.safetensors --view neuron --layer 4 --heads 3 --token 7 --out neuron.html
        """)

    @Argument(help: "A trace file (.safetensors), from `attnlab trace` or written from Python; or a run folder (runs/<experiment>/<run-id>): then --out is a folder and every variant gets its page, <model>/<input>/<variant>-<view>.html.")
    var trace: String

    @Option(help: "The view to write.")
    var view = ViewKind.head

    @Option(name: .shortAndLong, help: "The HTML file to write.")
    var out: String

    @Option(help: "The page's colours.")
    var mode = DisplayMode.dark

    @Option(help: "The layer shown first (head and neuron views).")
    var layer: Int?

    @Option(help: "Heads, e.g. 3,5 or 0-5. Head view: drawn first; neuron view: shown first; model view: the heads included.")
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

    func validate() throws {
        if let heads { _ = try Self.numbers(heads, option: "--heads") }
        if let layers { _ = try Self.numbers(layers, option: "--layers") }
    }

    func run() throws {
        let kind = view
        let headList = try heads.map { try Self.numbers($0, option: "--heads") }
        let options = ViewOptions(
            mode: mode,
            includeLayers: try layers.map { try Self.numbers($0, option: "--layers") },
            includeHeads: kind == .model ? headList : nil,
            stack: stack,
            layer: layer,
            selectedHeads: kind == .model ? nil : headList,
            sentences: sentences,
            token: token, threshold: threshold, topK: topK, title: title)
        let source = URL(fileURLWithPath: trace)
        if RunFolder.isRun(source) {
            let run = try RunFolder(source)
            try run.forEachRecord { record in
                var variantOptions = options
                variantOptions.title = title ?? "\(run.manifest.experiment.name) · \(record.model) · \(record.variant.path)"
                let url = URL(fileURLWithPath: out).appendingPathComponent(try RunPaths.folder(model: record.model, variant: record.variant) + "-\(kind.rawValue).html")
                try ViewRenderer.write(try run.trace(record), view: kind, options: variantOptions, to: url)
                print("wrote \(url.path)")
                return true
            }
            return
        }
        let trace = try TraceFile.read(source)
        let start = DispatchTime.now()
        let page = try ViewRenderer.render(trace, view: kind, options: options)
        let url = URL(fileURLWithPath: out)
        try AtomicFile.write(page, to: url)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let tokens = trace.tokens.count + (trace.decoderTokens?.count ?? 0)
        print("wrote \(url.path): \(kind.rawValue) view, \(tokens) tokens, \(Self.size(page.count)) in \(String(format: "%.2f", seconds)) s")
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
