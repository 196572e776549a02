import AttnCore
import Foundation

/// Two matrices of one shape in one grid: the cell's colour is the first matrix, a circle in the
/// cell is coloured by the second, and the circle's area grows with |first − second| (the
/// largest difference gets a circle of `maxCircleRatio` × the cell's side in radius). Both use
/// one colour scale, so equal colours mean equal values. Changed words (two traces aligned by
/// words) are written in orange.
enum CompareFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        let first = input.matrices[0].scalars, second = input.matrices[1].scalars
        let columns = input.matrices[0].shape[1]
        let differences = zip(first, second).map { abs($0 - $1) }
        let largest = Double(differences.max() ?? 0)
        let scale = ColorScale(options: options, values: first + second)
        // Label first the rows and columns of the largest differences.
        let top = FigureRenderer.topCells(differences, columns: columns, count: max(options.topCount, 3))

        var input = input
        input.notes.insert("Cell colour: A. Circle colour: B; circle area ∝ |A − B|.", at: 0)
        if largest == 0 { input.notes.append("The two matrices are identical: no circles.") }
        // The layout depends on the legend's width but the circles' size on the layout: lay out
        // once with placeholder radii, then again with the real ones (the width does not change).
        func legend(cell: Double) -> CircleLegend {
            let maxRadius = options.maxCircleRatio * cell
            let values = largest > 0 ? [largest, largest / 2, largest / 4] : []
            return CircleLegend(title: "|A − B|", entries: values.map { ($0, maxRadius * ($0 / largest).squareRoot()) })
        }
        let plot = try MatrixPlot.withLegend(legend, input: input, options: options, cellValues: first, scale: scale,
                                             priorityRows: top.map(\.row), priorityColumns: top.map(\.column))
        try plot.validate(options.boxes)
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        if largest > 0 {
            let maxRadius = options.maxCircleRatio * plot.cell
            let outline = min(0.25, plot.cell * 0.03)
            for row in 0 ..< plot.rows {
                for column in 0 ..< plot.columns {
                    let index = row * columns + column
                    let radius = maxRadius * (Double(differences[index]) / largest).squareRoot()
                    guard radius > 0.05 else { continue }
                    canvas.circle(center: plot.cellCenter(row: row, column: column), radius: radius,
                                  fill: scale.color(Double(second[index])), stroke: RGB.circleOutline, lineWidth: outline)
                }
            }
        }
        plot.drawBoxes(options.boxes, on: canvas)
        return try FigureRenderer.finish(canvas, plot: plot)
    }
}
