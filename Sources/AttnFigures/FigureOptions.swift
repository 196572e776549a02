import Foundation

/// The figures AttnLab draws.
public enum FigureKind: String, CaseIterable, Sendable {
    /// One head (or the mean of chosen heads) as a query × key grid.
    case heatmap
    /// Decoder tokens × encoder tokens of an encoder-decoder trace.
    case cross
    /// Two matrices: cell colour from the first, a circle coloured by the second and sized by |first − second|.
    case compare
    /// N matrices (runs, seeds): colour = mean, a circle sized by the confidence interval.
    case stability
    /// T matrices (checkpoints): colour = mean, a sparkline in every cell.
    case evolution
    /// A heatmap with automatically detected key regions drawn as boxes.
    case regions
    /// Every layer × head of a stack as small multiples on one page.
    case overview
    /// A scan's layers × heads (or layers × words) on a diverging scale, the strongest cells annotated.
    case scan
}

/// The file formats a figure can be written in.
public enum FigureFormat: String, CaseIterable, Sendable {
    case png, pdf, svg

    /// The format a file name's extension names (`.png`, `.pdf`, `.svg`), or nil.
    public init?(fileExtension: String) {
        self.init(rawValue: fileExtension.lowercased())
    }
}

/// How the heatmap's two axes are split.
public enum HeatmapMode: String, CaseIterable, Sendable {
    /// One grid, no dividers.
    case selfAttention = "self-attention"
    /// Sentence A and sentence B separated by dividers and named along both axes.
    case questionContext = "question-context"
}

/// What the circle of a stability figure measures.
public enum StabilityInterval: String, CaseIterable, Sendable {
    /// A 95 % confidence interval of the mean (Student's t with N − 1 degrees of freedom).
    case ci95
    /// Mean ± one standard error.
    case standardError = "se"
    /// Mean ± one standard deviation of the runs.
    case standardDeviation = "sd"
}

/// A rectangle of cells, both ends included, that a figure outlines.
public struct CellBox: Sendable, Equatable {
    public var rows: ClosedRange<Int>
    public var columns: ClosedRange<Int>
    /// Text written beside the box, if any.
    public var label: String?

    public init(rows: ClosedRange<Int>, columns: ClosedRange<Int>, label: String? = nil) {
        self.rows = rows
        self.columns = columns
        self.label = label
    }

    /// Parses `4-8:10-12` (rows 4…8, columns 10…12), `4-8` (the same range on both axes) or `5:7`
    /// (one cell), optionally prefixed by a label: `subject=4-8:4-8`.
    public init(parsing text: String) throws {
        var body = Substring(text)
        var label: String?
        if let equals = body.firstIndex(of: "=") {
            label = String(body[..<equals])
            body = body[body.index(after: equals)...]
        }
        func range(_ part: Substring) throws -> ClosedRange<Int> {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1 ... 2).contains(ends.count), let low = Int(ends[0]), let high = Int(ends[ends.count - 1]), low >= 0, low <= high else {
                throw FigureError("cannot read the box \"\(text)\"", location: "--box",
                                  hint: "write ROWS:COLUMNS with inclusive token ranges, e.g. 4-8:10-12, or 4-8 for a square")
            }
            return low ... high
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            let both = try range(parts[0])
            self.init(rows: both, columns: both, label: label)
        case 2:
            self.init(rows: try range(parts[0]), columns: try range(parts[1]), label: label)
        default:
            throw FigureError("cannot read the box \"\(text)\"", location: "--box",
                              hint: "write ROWS:COLUMNS with inclusive token ranges, e.g. 4-8:10-12")
        }
    }
}

/// Everything that changes how a figure looks. Sizes are in points (1/72 inch).
public struct FigureOptions: Sendable {
    /// Page width in points: 240 fits one column of a two-column paper, 505 the full text width.
    /// nil takes 240 for a single matrix and 505 for the overview.
    public var width: Double?
    /// Size of token labels and other text; the title is 1.5 pt larger.
    public var fontSize: Double = 7
    /// Pixels per inch of PNG output.
    public var dpi: Double = 300
    /// A figure title; nil draws a default one, "" draws none.
    public var title: String?
    /// Axis titles; nil draws defaults, "" draws none.
    public var rowAxisTitle: String?
    public var columnAxisTitle: String?
    /// The colour map of cells (and circles).
    public var colorMap: ColorMapName = .blues
    /// Exponent of the colour scale: `((v − min) / (max − min))^gamma`; above 1 keeps weak attention
    /// pale, below 1 brings it out. nil takes 1.5, and 0.7 for the overview, whose panels are too
    /// small for pale cells to show.
    public var gamma: Double?

    /// The gamma a figure of `kind` uses.
    func gamma(for kind: FigureKind) -> Double { gamma ?? (kind == .overview ? 0.7 : 1.5) }
    /// Ends of the colour scale; nil takes 0 and the largest value shown.
    public var minimum: Double?
    public var maximum: Double?

    // heatmap, cross
    /// How many of the strongest cells to enlarge and annotate (0: none).
    public var topCount: Int = 3
    /// How much larger than a cell an enlarged cell is drawn.
    public var enlargement: Double = 1.8
    /// Writes the value inside each enlarged cell.
    public var annotateTopCells: Bool = true
    public var mode: HeatmapMode = .selfAttention
    /// Names of sentence A and B in question-context mode.
    public var segmentNames: [String] = ["Question", "Context"]
    /// Above this many tokens on an axis, only some labels are drawn: every `labelInterval`-th and
    /// those of the top cells (and never two that would overlap).
    public var sparseLabelThreshold: Int = 64
    public var labelInterval: Int = 10
    /// Regions to outline.
    public var boxes: [CellBox] = []

    // compare, stability
    /// The largest circle's radius as a fraction of a cell's side.
    public var maxCircleRatio: Double = 0.45
    public var interval: StabilityInterval = .ci95

    // evolution
    /// Scales each cell's sparkline to its own range instead of one range for all cells.
    public var normalizeSparklines: Bool = false

    // regions
    public var regionOptions = RegionDetector.Options()

    // overview
    /// Gives the whole overview one colour scale instead of scaling each head to its own maximum.
    public var sharedScale: Bool = false

    public init() {}

    /// Named widths accepted by `--width`.
    public static let namedWidths: [String: Double] = ["column": 240, "page": 505]
}
