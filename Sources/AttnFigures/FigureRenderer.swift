import AttnCore
import Foundation

/// A drawn figure: the file's bytes and where things are on the page.
public struct RenderedFigure: Sendable {
    public var data: Data
    public var format: FigureFormat
    /// Page size in points.
    public var width: Double
    public var height: Double
    /// Output units per point: pixels per point for PNG, 1 for PDF and SVG.
    public var scale: Double
    /// The grid of cells (matrix figures), in points.
    var grid: Rect?
    var cell: Double = 0
    /// Each panel of the overview, `[layer][head]`, in points, and its cell size.
    var panels: [[Rect]] = []
    var panelCell: (width: Double, height: Double) = (0, 0)

    /// The centre of a cell in output units (PNG pixels, or points), or nil when there is no grid.
    public func cellCenter(row: Int, column: Int) -> (x: Double, y: Double)? {
        guard let grid else { return nil }
        return ((grid.x + (Double(column) + 0.5) * cell) * scale, (grid.y + (Double(row) + 0.5) * cell) * scale)
    }

    /// The centre of a cell of one panel of the overview in output units.
    public func panelCellCenter(layer: Int, head: Int, row: Int, column: Int) -> (x: Double, y: Double)? {
        guard layer < panels.count, head < panels[layer].count else { return nil }
        let panel = panels[layer][head]
        return ((panel.x + (Double(column) + 0.5) * panelCell.width) * scale, (panel.y + (Double(row) + 0.5) * panelCell.height) * scale)
    }
}

/// Draws figures with cairo as PNG, PDF or SVG.
///
/// ```swift
/// let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(trace, name: "eminem")],
///                                   selections: [HeadSelection(layer: 2, heads: .list([5]))])
/// let pdf = try FigureRenderer.render(.heatmap, input, format: .pdf)
/// ```
public enum FigureRenderer {
    /// The bytes of a figure of `kind` in `format`.
    public static func render(_ kind: FigureKind, _ input: FigureInput, options: FigureOptions = FigureOptions(),
                              format: FigureFormat) throws -> Data {
        try draw(kind, input, options: options, format: format).data
    }

    /// Draws a figure and tells where its cells are.
    public static func draw(_ kind: FigureKind, _ input: FigureInput, options: FigureOptions = FigureOptions(),
                            format: FigureFormat) throws -> RenderedFigure {
        try validate(options)
        if kind != .overview { try validate(input, kind: kind) }
        switch kind {
        case .heatmap: return try HeatmapFigure.draw(input, options: options, format: format)
        case .cross: return try CrossFigure.draw(input, options: options, format: format)
        case .compare: return try CompareFigure.draw(input, options: options, format: format)
        case .stability: return try StabilityFigure.draw(input, options: options, format: format)
        case .evolution: return try EvolutionFigure.draw(input, options: options, format: format)
        case .regions: return try RegionsFigure.draw(input, options: options, format: format)
        case .overview: return try OverviewFigure.draw(input, options: options, format: format)
        case .scan: return try ScanFigure.draw(input, options: options, format: format)
        }
    }

    /// Draws a figure and writes it to `url` atomically, in the format its extension names;
    /// nothing is written when drawing fails.
    public static func write(_ kind: FigureKind, _ input: FigureInput, options: FigureOptions = FigureOptions(), to url: URL) throws {
        guard let format = FigureFormat(fileExtension: url.pathExtension) else {
            throw FigureError("cannot tell the format from the name \(url.lastPathComponent)", location: "--out",
                              hint: "end the file name with .png, .pdf or .svg")
        }
        let data = try render(kind, input, options: options, format: format)
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as CoreError {
            throw FigureError(error.message, location: error.location, hint: error.hint)
        }
    }

    static func validate(_ options: FigureOptions) throws {
        if let width = options.width, !(width >= 72 && width <= 14_400) {
            throw FigureError("the width must lie between 72 and 14400 points, got \(width)", location: "--width",
                              hint: "240 is one column of a two-column paper, 505 the full page")
        }
        guard options.fontSize >= 4, options.fontSize <= 36 else {
            throw FigureError("the font size must lie between 4 and 36 points, got \(options.fontSize)", location: "--font-size")
        }
        guard options.dpi >= 36, options.dpi <= 2400 else {
            throw FigureError("the resolution must lie between 36 and 2400 dpi, got \(options.dpi)", location: "--dpi")
        }
        if let gamma = options.gamma, !(gamma > 0 && gamma.isFinite) {
            throw FigureError("gamma must be a positive number, got \(gamma)", location: "--gamma")
        }
        if let low = options.minimum, let high = options.maximum, !(low < high) {
            throw FigureError("the colour scale's minimum \(low) is not below its maximum \(high)", location: "--vmin/--vmax")
        }
        guard options.topCount >= 0 else { throw FigureError("--top must be 0 or more, got \(options.topCount)", location: "--top") }
        guard options.enlargement >= 1, options.enlargement <= 6 else {
            throw FigureError("the enlargement must lie between 1 and 6, got \(options.enlargement)", location: "--enlarge")
        }
        guard options.maxCircleRatio > 0, options.maxCircleRatio <= 0.5 else {
            throw FigureError("the circle ratio must lie in (0, 0.5], got \(options.maxCircleRatio)", location: "--circle-ratio",
                              hint: "0.5 lets the largest circle touch the cell's sides")
        }
        guard options.labelInterval >= 1 else {
            throw FigureError("the label interval must be 1 or more, got \(options.labelInterval)", location: "--label-interval")
        }
        try options.regionOptions.validate()
    }

    static func validate(_ input: FigureInput, kind: FigureKind) throws {
        let names = input.matrices.indices.map { $0 < input.matrixNames.count ? input.matrixNames[$0] : "matrix \($0 + 1)" }
        switch kind {
        case .heatmap, .cross, .regions:
            guard input.matrices.count == 1 else {
                throw FigureError("the \(kind.rawValue) figure draws one matrix, got \(input.matrices.count)")
            }
        case .compare:
            guard input.matrices.count == 2 else { throw FigureError("the compare figure needs two matrices, got \(input.matrices.count)") }
        case .stability, .evolution:
            guard input.matrices.count >= 2 else {
                throw FigureError("the \(kind.rawValue) figure needs two or more matrices, got \(input.matrices.count)")
            }
        case .overview:
            break
        case .scan:
            guard input.scan != nil, input.matrices.count == 1 else {
                throw FigureError("the scan figure draws a scan", hint: "build its input with FigureInputs.scan(…)")
            }
        }
        try MatrixCheck.sameShape(input.matrices, names: names)
        let rows = input.matrices[0].shape[0], columns = input.matrices[0].shape[1]
        guard input.rowLabels.count == rows, input.columnLabels.count == columns else {
            throw FigureError("\(input.rowLabels.count) row and \(input.columnLabels.count) column labels for a \(rows) × \(columns) matrix",
                              hint: "give one label per row and per column")
        }
        if let segments = input.rowSegments, segments.count != rows {
            throw FigureError("\(segments.count) row segments for \(rows) rows")
        }
        if let segments = input.columnSegments, segments.count != columns {
            throw FigureError("\(segments.count) column segments for \(columns) columns")
        }
    }

    /// The `count` largest cells, largest first; ties go to the first in row-major order.
    static func topCells(_ values: [Float], columns: Int, count: Int) -> [(row: Int, column: Int)] {
        guard count > 0 else { return [] }
        let order = values.indices.sorted { (values[$0], -$0) > (values[$1], -$1) }
        return order.prefix(count).map { ($0 / columns, $0 % columns) }
    }

    static func finish(_ canvas: Canvas, plot: MatrixPlot) throws -> RenderedFigure {
        let data = try canvas.finish()
        return RenderedFigure(data: data, format: canvas.format, width: canvas.width, height: canvas.height,
                              scale: canvas.pixelsPerPoint, grid: plot.grid, cell: plot.cell)
    }
}
