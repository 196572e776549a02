import AttnCore
import Foundation

/// T matrices of one shape (checkpoints, in order): the cell's colour is their mean, and a
/// sparkline in the cell shows the value from the first checkpoint (left) to the last (right),
/// ending in a dot. All sparklines share one vertical range unless `normalizeSparklines` scales
/// each to its own.
enum EvolutionFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        let steps = input.matrices.count
        let count = input.matrices[0].count, columns = input.matrices[0].shape[1]
        var mean = [Float](repeating: 0, count: count)
        for matrix in input.matrices { for i in 0 ..< count { mean[i] += matrix.scalars[i] / Float(steps) } }
        var low = Float.infinity, high = -Float.infinity
        for matrix in input.matrices { for value in matrix.scalars { low = min(low, value); high = max(high, value) } }
        // Label first where the value moved most from first to last checkpoint.
        let change = (0 ..< count).map { abs(input.matrices[steps - 1].scalars[$0] - input.matrices[0].scalars[$0]) }
        let top = FigureRenderer.topCells(change, columns: columns, count: max(options.topCount, 3))
        let scale = ColorScale(options: options, values: mean)
        var input = input
        input.notes.insert(options.normalizeSparklines
            ? "Cell: mean of \(steps) checkpoints. Line: first to last checkpoint, each cell on its own scale."
            : "Cell: mean of \(steps) checkpoints. Line: first to last checkpoint, all on one scale (\(String(format: "%.2f", low))–\(String(format: "%.2f", high))).",
            at: 0)
        let plot = try MatrixPlot(input: input, options: options, cellValues: mean, scale: scale, legend: nil,
                                  priorityRows: top.map(\.row), priorityColumns: top.map(\.column))
        try plot.validate(options.boxes)
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        let lineWidth = min(0.8, max(0.2, plot.cell * 0.05))
        let dark = RGB(hex: 0x08306B), light = RGB(1, 1, 1)
        for row in 0 ..< plot.rows {
            for column in 0 ..< plot.columns {
                let index = row * columns + column
                let series = input.matrices.map { Double($0.scalars[index]) }
                var bottom = Double(low), top = Double(high)
                if options.normalizeSparklines { bottom = series.min()!; top = series.max()! }
                let rect = plot.cellRect(row: row, column: column)
                let inset = rect.width * 0.14
                let points = series.enumerated().map { step, value -> (Double, Double) in
                    let x = rect.x + inset + (rect.width - 2 * inset) * Double(step) / Double(steps - 1)
                    let t = top > bottom ? (value - bottom) / (top - bottom) : 0.5
                    return (x, rect.maxY - inset - (rect.height - 2 * inset) * t)
                }
                let color = scale.color(Double(mean[index])).luminance > 0.55 ? dark : light
                canvas.polyline(points, color, lineWidth: lineWidth, alpha: 0.9)
                if let last = points.last { canvas.circle(center: last, radius: lineWidth * 1.1, fill: color) }
            }
        }
        plot.drawBoxes(options.boxes, on: canvas)
        return try FigureRenderer.finish(canvas, plot: plot)
    }
}
