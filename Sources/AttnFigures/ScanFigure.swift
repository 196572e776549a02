import AttnCore
import AttnDiff
import Foundation

/// Which numbers of a scan a figure colours cells by.
public enum ScanValues: String, CaseIterable, Sendable {
    /// (patched − target) / (source − target): 0 is the target's value, 1 the source's.
    case normalized
    /// patched − target, in the metric's units.
    case raw
}

/// What a scan figure draws beside its matrix: the scan, which of its numbers, and the cells
/// without a value (not patched, or a scan whose source and target agree).
public struct ScanFigureData: Sendable {
    public var result: ScanResult
    public var values: ScanValues
    /// Row-major indices of cells drawn as "no value".
    public var missing: Set<Int>
}

/// A scan's layers × heads (or layers × words) as a grid on a diverging colour scale centred on 0
/// (red lowers the metric, blue raises it: towards the source, when normalised), the strongest
/// cells outlined with their value written in, and the target's and the source's values in the
/// caption.
enum ScanFigure {
    /// The largest cell (points) of a scan figure whose width is not given, and the narrowest page
    /// it shrinks to (its title and caption still fit).
    static let largestCell = 30.0
    static let narrowestPage = 170.0

    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        guard let data = input.scan, let matrix = input.matrices.first else {
            throw FigureError("the scan figure draws a scan", hint: "build its input with FigureInputs.scan(…)")
        }
        let values = matrix.scalars, columns = matrix.shape[1]
        let present = values.indices.filter { !data.missing.contains($0) }
        let largest = present.map { Double(abs(values[$0])) }.max() ?? 0
        let end = largest > 0 ? largest : 1
        let map = options.colorMap.isDiverging ? options.colorMap : .rdbu
        let scale = ColorScale(map: map, minimum: options.minimum ?? -end, maximum: options.maximum ?? end, gamma: options.gamma ?? 1)
        let strongest = present.sorted { (abs(values[$0]), -$0) > (abs(values[$1]), -$1) }.prefix(options.topCount).map { ($0 / columns, $0 % columns) }
        func layout(_ options: FigureOptions) throws -> MatrixPlot {
            try MatrixPlot(input: input, options: options, cellValues: values, scale: scale, legend: nil,
                           priorityRows: strongest.map(\.0), priorityColumns: strongest.map(\.1))
        }
        var plot = try layout(options)
        // A small scan (a tiny model's 2 × 2) would fill the column with a few huge cells: unless a
        // width was asked for, the page narrows until its cells are of a readable size.
        if options.width == nil, plot.cell > Self.largestCell {
            var narrower = options
            narrower.width = max(Self.narrowestPage, plot.pageWidth - (plot.cell - Self.largestCell) * Double(columns))
            plot = try layout(narrower)
        }
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        for index in data.missing {
            let rect = plot.cellRect(row: index / columns, column: index % columns).insetBy(min(0.4, plot.cell * 0.03))
            canvas.fill(rect, RGB(0.86, 0.86, 0.86))
            canvas.line(from: (rect.x + rect.width * 0.3, rect.y + rect.height * 0.3), to: (rect.maxX - rect.width * 0.3, rect.maxY - rect.height * 0.3), .grey, lineWidth: 0.4)
            canvas.line(from: (rect.maxX - rect.width * 0.3, rect.y + rect.height * 0.3), to: (rect.x + rect.width * 0.3, rect.maxY - rect.height * 0.3), .grey, lineWidth: 0.4)
        }
        for (row, column) in strongest {
            let rect = plot.cellRect(row: row, column: column)
            let value = Double(plot.value(row: row, column: column))
            canvas.stroke(rect.insetBy(0.3), .ink, lineWidth: 0.7)
            guard options.annotateTopCells else { continue }
            let text = label(value, data.values)
            let font = min(plot.fontSize, max(3.5, min(plot.cell * 0.42, (plot.cell - 1.5) / max(plot.measurer.width(text, size: 1), 0.1))))
            canvas.text(text, x: rect.midX, y: rect.midY, size: font, anchor: .middle, color: scale.color(value).contrastingText)
        }
        return try FigureRenderer.finish(canvas, plot: plot)
    }

    /// `0.26` (normalised) or `+0.034` (raw): short enough for a cell.
    static func label(_ value: Double, _ values: ScanValues) -> String {
        values == .raw ? String(format: "%+.3f", value) : String(format: "%.2f", value)
    }
}

extension FigureInputs {
    /// A scan as a figure's input: the `[layers, columns]` matrix of normalised effects (or raw
    /// ones), rows named by layer, columns by head or word, and a caption with the target's and the
    /// source's values and the strongest cells. A scan without a source (an ablation) has only raw
    /// effects.
    public static func scan(_ result: ScanResult, values wanted: ScanValues = .normalized) throws -> FigureInput {
        let rows = result.layers.count, columns = result.columns.count
        guard rows > 0, columns > 0, result.effects.count == rows, result.effects.allSatisfy({ $0.count == columns }),
              result.normalized.count == rows, result.normalized.allSatisfy({ $0.count == columns }) else {
            throw FigureError("the scan's effects are not [\(rows) layers][\(columns) columns]", hint: "write the scan again with `attnlab scan --out`")
        }
        let values: ScanValues = result.sourceValue == nil ? .raw : wanted
        var scalars: [Float] = [], missing = Set<Int>()
        for row in 0 ..< rows {
            for column in 0 ..< columns {
                let skipped = result.skipped.contains("\(result.layers[row]),\(column)")
                let value = values == .raw ? result.effects[row][column] : result.normalized[row][column]
                if let value, value.isFinite, !skipped {
                    scalars.append(Float(value))
                } else {
                    scalars.append(0)
                    missing.insert(row * columns + column)
                }
            }
        }
        var input = FigureInput(matrices: [Tensor(shape: [rows, columns], scalars: scalars)], matrixNames: ["the scan"],
                                rowLabels: result.layers.map { "Layer \($0)" }, columnLabels: result.columns)
        input.scan = ScanFigureData(result: result, values: values, missing: missing)
        input.defaultTitle = "\(result.mode == .patch ? "Patching" : "Ablation") scan of \(result.siteDescription)"
            + (result.source.map { " · \($0) → \(result.target)" } ?? " · \(result.target)")
        input.rowAxisTitle = ""
        input.columnAxisTitle = result.site == .head ? "Head" : "Word"
        var notes: [String] = []
        let number = { (value: Double) in String(format: "%.4f", value) }
        if let source = result.sourceValue {
            notes.append("\(result.metric): target \(result.target) \(number(result.targetValue)), source \(result.source ?? "source") \(number(source)).")
        } else {
            notes.append("\(result.metric): target \(result.target) \(number(result.targetValue)).")
        }
        let what = result.mode == .patch ? "each cell copies its site from the source into the target" : "each cell zeroes its site"
        notes.append(values == .raw ? "Colour: patched − target (\(what))." : "Colour: (patched − target) / (source − target), 0 = target, 1 = source (\(what)).")
        let strongest = result.top(3).map { cell -> String in
            let value = values == .raw ? cell.effect : (cell.normalized ?? cell.effect)
            return "\(result.name(of: cell)) (\(ScanFigure.label(value, values)))"
        }
        if !strongest.isEmpty { notes.append("Strongest: \(strongest.joined(separator: ", ")).") }
        if !missing.isEmpty { notes.append("Grey, crossed: no value (\(result.skipped.isEmpty ? "source and target agree" : "not patched: the word is split differently in the two inputs")).") }
        input.notes = notes
        return input
    }
}
