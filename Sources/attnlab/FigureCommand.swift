import ArgumentParser
import AttnCore
import AttnDiff
import AttnFigures
import Foundation

/// `attnlab figure`: static figures for papers and reviews, drawn with cairo as PNG, PDF or SVG.
struct FigureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "figure",
        abstract: "Draw a static attention figure (PNG, PDF or SVG) from traces or arrays, or a scan's figure.",
        discussion: """
        Kinds: heatmap (one head or a mean of heads), cross (decoder × encoder), compare (two \
        matrices: colour and circles), stability (N runs: mean and interval), evolution (T \
        checkpoints: mean and sparklines), regions (detected key regions; --format json prints \
        them), overview (every layer × head), scan (a scan file from `attnlab scan --out`: layers × \
        heads or words on a diverging scale, normalised effects, or raw ones with --raw).

        Matrices come from each trace (and each --array) for each --layer/--head selection: \
        one trace with two selections, or two traces with one, make the two matrices of compare. \
        Arrays: .npy (float16/32/64) or safetensors (--tensor NAME), shaped [q, k], [n, q, k], \
        [layers, heads, q, k] or [n, layers, heads, q, k]. Layers and heads count from 0; \
        --layer -1 is the last layer; --head mean averages every head.
        """)

    @Argument(help: "Trace files (.safetensors written by attnlab or from Python); for --kind scan, one scan file (.json).")
    var traces: [String] = []

    @Option(name: .long, help: ArgumentHelp("The kind of figure.", valueName: "kind"))
    var kind: FigureKind

    @Option(name: .long, help: ArgumentHelp("The file to write; its extension (.png, .pdf, .svg, .json) gives the format.", valueName: "file"))
    var out: String?

    @Option(name: .long, help: ArgumentHelp("Output format when it differs from --out's extension (json: regions only).", valueName: "format"))
    var format: FigureOutputFormat?

    @Option(name: .customLong("trace"), help: ArgumentHelp("Another trace file (repeatable).", valueName: "file"))
    var moreTraces: [String] = []

    @Option(name: .customLong("array"), help: ArgumentHelp("A .npy or .safetensors array (repeatable).", valueName: "file"))
    var arrays: [String] = []

    @Option(name: .customLong("tensor"), help: ArgumentHelp("The tensor of a safetensors array: one name for all, or one per safetensors --array.", valueName: "name"))
    var tensors: [String] = []

    @Option(name: .long, help: ArgumentHelp("A text file with one token label per line, for arrays.", valueName: "file"))
    var labels: String?

    @Option(name: .long, help: ArgumentHelp("The stack of the traces.", valueName: "stack"))
    var stack: StackKind?

    // Unconditional, so that `--layer -1` is a value, not taken for an option.
    @Option(name: .customLong("layer"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("Layer, 0-based; -1 is the last (repeatable).", valueName: "n"))
    var layers: [Int] = []

    @Option(name: .customLong("head"), help: ArgumentHelp("Head, 0-based; 1,3 is their mean; mean is all heads' (repeatable).", valueName: "h"))
    var heads: [String] = []

    @Option(name: .long, help: ArgumentHelp("Page width in points, or column (240) or page (505).", valueName: "points"))
    var width: String?

    @Option(name: .customLong("font-size"), help: ArgumentHelp("Text size in points.", valueName: "points"))
    var fontSize: Double = 7

    @Option(name: .long, help: "PNG resolution in dots per inch.")
    var dpi: Double = 300

    @Option(name: .long, help: "A title; \"\" for none.")
    var title: String?

    @Option(name: .customLong("row-title"), help: "The rows' axis title; \"\" for none.")
    var rowTitle: String?

    @Option(name: .customLong("column-title"), help: "The columns' axis title; \"\" for none.")
    var columnTitle: String?

    @Option(name: .long, help: ArgumentHelp("The colour map.", valueName: "map"))
    var colormap = ColorMapName.blues

    @Option(name: .long, help: "Colour scale exponent; above 1 keeps weak attention pale (default 1.5; 0.7 for the overview).")
    var gamma: Double?

    @Option(name: .long, help: "Colour scale minimum (default 0).")
    var vmin: Double?

    @Option(name: .long, help: "Colour scale maximum (default: the largest value).")
    var vmax: Double?

    @Option(name: .long, help: "How many of the strongest cells to enlarge and annotate.")
    var top: Int = 3

    @Option(name: .long, help: "How much larger an enlarged cell is drawn.")
    var enlarge: Double = 1.8

    @Flag(name: .customLong("no-values"), help: "Do not write values in the enlarged cells.")
    var noValues = false

    @Option(name: .long, help: ArgumentHelp("How to mark the sentences (question-context: dividers between sentence A and B).", valueName: "mode"))
    var mode = HeatmapMode.selfAttention

    @Option(name: .customLong("segment-names"), help: ArgumentHelp("Names of sentence A and B in question-context mode.", valueName: "a,b"))
    var segmentNames: String = "Question,Context"

    @Option(name: .customLong("label-threshold"), help: "Above this many tokens only some labels are drawn.")
    var labelThreshold: Int = 64

    @Option(name: .customLong("label-interval"), help: "Draw every n-th label on long inputs.")
    var labelInterval: Int = 10

    @Option(name: .customLong("box"), help: ArgumentHelp("Outline rows:columns, inclusive token ranges such as 4-8:10-12 or label=4-8 (repeatable).", valueName: "box"))
    var boxes: [String] = []

    @Option(name: .customLong("circle-ratio"), help: "The largest circle's radius as a fraction of a cell.")
    var circleRatio: Double = 0.45

    @Option(name: .long, help: ArgumentHelp("Stability interval.", valueName: "interval"))
    var interval = StabilityInterval.ci95

    @Flag(name: .customLong("normalize-sparklines"), help: "Scale each sparkline to its own range.")
    var normalizeSparklines = false

    @Option(name: .long, help: "Regions: how many to find.")
    var regions: Int = 3

    @Option(name: .customLong("min-seed-distance"), help: "Regions: seeds lie more than this many cells apart.")
    var minSeedDistance: Int = 2

    @Option(name: .customLong("expansion-threshold"), help: "Regions: a neighbouring row or column joins while its mean is at least this × the seed.")
    var expansionThreshold: Double = 0.5

    @Option(name: .customLong("seed-contrast"), help: "Regions: every seed after the first is at least mean + this × standard deviation.")
    var seedContrast: Double = 1

    @Option(name: .customLong("expansion-steps"), help: "Regions: at most this many rounds of growth (default: no limit).")
    var expansionSteps: Int?

    @Option(name: .long, help: "Regions: merge regions at most this many cells apart...")
    var proximity: Int = 2

    @Option(name: .customLong("merge-threshold"), help: "...when their bounding box keeps at least this fraction of their mean.")
    var mergeThreshold: Double = 0.6

    @Flag(name: .customLong("shared-scale"), help: "Overview: one colour scale for every head.")
    var sharedScale = false

    @Flag(help: "Scan: colour cells by the raw effect (patched − target) instead of the normalised one.")
    var raw = false

    /// Errors (`FigureError`, `CoreError`) go to the root command, which prints `error: …` and exits 1.
    func run() throws {
        try draw()
    }

    func validate() throws {
        if traces.isEmpty && moreTraces.isEmpty && arrays.isEmpty {
            throw ValidationError(kind == .scan ? "give a scan file (attnlab scan --out scan.json)" : "give a trace file, --trace or --array")
        }
        if kind == .scan, traces.count + moreTraces.count != 1 || !arrays.isEmpty {
            throw ValidationError("--kind scan draws one scan file (attnlab scan --out scan.json), not traces or arrays")
        }
        if raw && kind != .scan {
            throw ValidationError("--raw is for --kind scan")
        }
        if out == nil && !(format == .json && kind == .regions) {
            throw ValidationError("say where to write the figure with --out FILE.png, .pdf or .svg")
        }
        if format == .json && kind != .regions {
            throw ValidationError("--format json is for --kind regions")
        }
        if !layers.isEmpty, !heads.isEmpty, layers.count != heads.count, layers.count != 1, heads.count != 1 {
            throw ValidationError("\(layers.count) --layer and \(heads.count) --head: give as many of each, or one of either")
        }
    }

    private func draw() throws {
        var sources: [AttentionSource] = []
        for path in traces + moreTraces + arrays where !FileManager.default.fileExists(atPath: path) {
            throw FigureError("no such file", location: path, hint: "check the path")
        }
        let tracePaths = traces + moreTraces
        if kind == .scan {
            let file = try ScanFile.read(URL(fileURLWithPath: tracePaths[0]))
            try draw(try FigureInputs.scan(file.result, values: raw ? .raw : .normalized), options: try figureOptions())
            return
        }
        for path in tracePaths {
            let url = URL(fileURLWithPath: path)
            // Files are named by their file name, or with their folder when two share one.
            let clash = tracePaths.filter { URL(fileURLWithPath: $0).lastPathComponent == url.lastPathComponent }.count > 1
            let name = clash ? url.deletingLastPathComponent().lastPathComponent + "/" + url.lastPathComponent : url.lastPathComponent
            sources.append(.trace(try TraceFile.read(url), name: name))
        }
        sources += try readArrays()
        let input = try FigureInputs.make(kind: kind, sources: sources, selections: try selections(),
                                          stack: stack, labels: try readLabels())
        let options = try figureOptions()
        try draw(input, options: options)
    }

    private func draw(_ input: FigureInput, options: FigureOptions) throws {
        let outputFormat = format?.rawValue ?? out.map { URL(fileURLWithPath: $0).pathExtension.lowercased() } ?? ""
        if outputFormat == "json" {
            guard input.matrices.count == 1 else { throw FigureError("regions are detected on one matrix, got \(input.matrices.count)") }
            let regions = try RegionDetector.detect(input.matrices[0], options: options.regionOptions)
            let json = try RegionDetector.json(regions, rowLabels: input.rowLabels, columnLabels: input.columnLabels)
            if let out {
                try AtomicFile.write(json, toOutput: out)
            } else {
                FileHandle.standardOutput.write(json)
            }
            return
        }
        guard let figureFormat = FigureFormat(rawValue: outputFormat), let out else {
            throw FigureError("cannot tell the format of \(out == "-" ? "standard output" : out ?? "the output")", location: "--out",
                              hint: out == "-" ? "pass --format png, pdf or svg" : "end the file name with .png, .pdf or .svg, or pass --format")
        }
        let data = try FigureRenderer.render(kind, input, options: options, format: figureFormat)
        try AtomicFile.write(data, toOutput: out)
    }

    private func readArrays() throws -> [AttentionSource] {
        let safetensors = arrays.filter { !$0.lowercased().hasSuffix(".npy") }
        guard tensors.count <= 1 || tensors.count == safetensors.count else {
            throw FigureError("\(tensors.count) --tensor names for \(safetensors.count) safetensors arrays", location: "--tensor",
                              hint: "give one name for all, or one per safetensors --array in order")
        }
        var safetensorsIndex = 0
        return try arrays.map { path in
            let url = URL(fileURLWithPath: path)
            if path.lowercased().hasSuffix(".npy") {
                guard tensors.isEmpty || !safetensors.isEmpty else {
                    throw FigureError("--tensor names a tensor of a safetensors file; \(url.lastPathComponent) is a .npy array", location: "--tensor")
                }
                return .array(try NumpyArray.read(url), name: url.lastPathComponent)
            }
            let file = try SafeTensorsFile(path: path)
            let name: String
            if tensors.count == 1 {
                name = tensors[0]
            } else if !tensors.isEmpty {
                name = tensors[safetensorsIndex]
            } else if file.names.count == 1 {
                name = file.names[0]
            } else {
                throw FigureError("the file holds \(file.names.count) tensors", location: path,
                                  hint: "choose one with --tensor (\(file.names.prefix(8).joined(separator: ", "))\(file.names.count > 8 ? ", …" : ""))")
            }
            safetensorsIndex += 1
            guard file.entries[name] != nil else {
                throw FigureError("no tensor named \(name)", location: path,
                                  hint: "it holds \(file.names.prefix(8).joined(separator: ", "))\(file.names.count > 8 ? ", …" : "")")
            }
            return .array(try file.tensor(name), name: "\(url.lastPathComponent):\(name)")
        }
    }

    private func readLabels() throws -> [String]? {
        guard let labels else { return nil }
        let text: String
        do {
            text = try RegularFile.text(URL(fileURLWithPath: labels), limit: 64 << 20, what: "labels file")
        } catch let error as CoreError {
            throw FigureError("cannot read the labels: \(error.message)", location: labels, hint: "give a UTF-8 text file with one label per line")
        }
        var lines = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private func selections() throws -> [HeadSelection] {
        if layers.isEmpty && heads.isEmpty { return [] }
        let headList = try heads.map(HeadSelection.parseHeads)
        let count = max(layers.count, headList.count)
        return (0 ..< count).map { index in
            HeadSelection(layer: layers.isEmpty ? -1 : layers[layers.count == 1 ? 0 : index],
                          heads: headList.isEmpty ? .all : headList[headList.count == 1 ? 0 : index])
        }
    }

    private func figureOptions() throws -> FigureOptions {
        var options = FigureOptions()
        if let width {
            guard let points = FigureOptions.namedWidths[width] ?? Double(width) else {
                throw FigureError("cannot read the width \"\(width)\"", location: "--width", hint: "give points (240), column or page")
            }
            options.width = points
        }
        options.fontSize = fontSize
        options.dpi = dpi
        options.title = title
        options.rowAxisTitle = rowTitle
        options.columnAxisTitle = columnTitle
        options.colorMap = colormap
        options.gamma = gamma
        options.minimum = vmin
        options.maximum = vmax
        options.topCount = top
        options.enlargement = enlarge
        options.annotateTopCells = !noValues
        options.mode = mode
        options.segmentNames = segmentNames.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        options.sparseLabelThreshold = labelThreshold
        options.labelInterval = labelInterval
        options.boxes = try boxes.map(CellBox.init(parsing:))
        options.maxCircleRatio = circleRatio
        options.interval = interval
        options.normalizeSparklines = normalizeSparklines
        options.regionOptions = RegionDetector.Options(regions: regions, minSeedDistance: minSeedDistance,
                                                       seedContrast: seedContrast, expansionThreshold: expansionThreshold,
                                                       maxExpansionSteps: expansionSteps, proximity: proximity, mergeThreshold: mergeThreshold)
        options.sharedScale = sharedScale
        return options
    }
}
