import AttnCore
import Foundation

/// N matrices of one shape (runs, seeds): the cell's colour is their mean; a circle's area grows
/// with the width of the cell's interval (95 % confidence interval of the mean by default), and
/// its colour runs from the interval's lower bound at the centre to its upper bound at the edge.
enum StabilityFigure {
    struct Summary {
        var mean: [Float]
        var lower: [Double]
        var upper: [Double]
    }

    /// Mean and interval of each cell over the matrices.
    static func summarize(_ matrices: [Tensor], interval: StabilityInterval) -> Summary {
        let n = matrices.count, count = matrices[0].count
        var mean = [Float](repeating: 0, count: count), lower = [Double](repeating: 0, count: count)
        var upper = [Double](repeating: 0, count: count)
        let factor: Double = switch interval {
        case .ci95: tQuantile975(degreesOfFreedom: n - 1) / Double(n).squareRoot()
        case .standardError: 1 / Double(n).squareRoot()
        case .standardDeviation: 1
        }
        for i in 0 ..< count {
            var sum = 0.0
            for matrix in matrices { sum += Double(matrix.scalars[i]) }
            let average = sum / Double(n)
            var squares = 0.0
            for matrix in matrices { squares += (Double(matrix.scalars[i]) - average) * (Double(matrix.scalars[i]) - average) }
            let deviation = (squares / Double(n - 1)).squareRoot()
            mean[i] = Float(average)
            lower[i] = average - factor * deviation
            upper[i] = average + factor * deviation
        }
        return Summary(mean: mean, lower: lower, upper: upper)
    }

    /// The 97.5th percentile of Student's t: exact to three decimals up to 30 degrees of freedom,
    /// then 1.96 + 2.5 / df (within 0.003 of the true value).
    static func tQuantile975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                               2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        if df >= 1 && df <= 30 { return table[df - 1] }
        return 1.96 + 2.5 / Double(max(df, 1))
    }

    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        let summary = summarize(input.matrices, interval: options.interval)
        let widths = zip(summary.lower, summary.upper).map { $1 - $0 }
        let widest = widths.max() ?? 0
        let scale = ColorScale(options: options, values: summary.mean)
        let columns = input.matrices[0].shape[1]
        let top = FigureRenderer.topCells(widths.map(Float.init), columns: columns, count: max(options.topCount, 3))
        let name: String = switch options.interval {
        case .ci95: "95% CI width"
        case .standardError: "±1 SE width"
        case .standardDeviation: "±1 SD width"
        }
        var input = input
        input.notes.insert("Cell: mean of \(input.matrices.count) matrices. Circle: lower bound at the centre, upper bound at the edge.", at: 0)
        if widest == 0 { input.notes.append("The matrices are identical: no circles.") }
        func legend(cell: Double) -> CircleLegend {
            let maxRadius = options.maxCircleRatio * cell
            let values = widest > 0 ? [widest, widest / 2, widest / 4] : []
            return CircleLegend(title: name, entries: values.map { ($0, maxRadius * ($0 / widest).squareRoot()) })
        }
        let plot = try MatrixPlot.withLegend(legend, input: input, options: options, cellValues: summary.mean, scale: scale,
                                             priorityRows: top.map(\.row), priorityColumns: top.map(\.column))
        try plot.validate(options.boxes)
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        if widest > 0 {
            let maxRadius = options.maxCircleRatio * plot.cell
            let outline = min(0.25, plot.cell * 0.03)
            for row in 0 ..< plot.rows {
                for column in 0 ..< plot.columns {
                    let index = row * columns + column
                    let radius = maxRadius * (widths[index] / widest).squareRoot()
                    guard radius > 0.05 else { continue }
                    canvas.radialGradientCircle(center: plot.cellCenter(row: row, column: column), radius: radius,
                                                inner: scale.color(summary.lower[index]), outer: scale.color(summary.upper[index]),
                                                stroke: RGB.circleOutline, lineWidth: outline)
                }
            }
        }
        plot.drawBoxes(options.boxes, on: canvas)
        return try FigureRenderer.finish(canvas, plot: plot)
    }
}
