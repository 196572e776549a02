import AttnCore
import Foundation

/// One head (or a mean of heads) as a query × key grid: token labels, the strongest cells
/// enlarged and annotated, a gamma colour scale, optional sentence A/B dividers
/// (question-context mode) and boxes around named regions.
enum HeatmapFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        let matrix = input.matrices[0]
        let columns = matrix.shape[1]
        let top = FigureRenderer.topCells(matrix.scalars, columns: columns, count: options.topCount)
        let scale = ColorScale(options: options, values: matrix.scalars)
        let plot = try MatrixPlot(input: input, options: options, cellValues: matrix.scalars, scale: scale, legend: nil,
                                  priorityRows: top.map(\.row), priorityColumns: top.map(\.column))
        try plot.validate(options.boxes)
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        drawTopCells(top, plot: plot, on: canvas)
        plot.drawBoxes(options.boxes, on: canvas)
        return try FigureRenderer.finish(canvas, plot: plot)
    }

    /// The strongest cells drawn `enlargement` times larger on top of the grid, the strongest last
    /// (on top), with their value written inside when there is room for it.
    static func drawTopCells(_ top: [(row: Int, column: Int)], plot: MatrixPlot, on canvas: Canvas) {
        let options = plot.options
        for (row, column) in top.reversed() {
            let value = Double(plot.value(row: row, column: column))
            let color = plot.scale.color(value)
            let text = String(format: "%.2f", value)
            let font = min(plot.fontSize, max(4, plot.cell * options.enlargement * 0.36))
            var side = plot.cell * options.enlargement
            if options.annotateTopCells { side = max(side, plot.measurer.width(text, size: font) + 3) }
            let (cx, cy) = plot.cellCenter(row: row, column: column)
            // Kept inside the grid so that it never covers a label.
            let x = min(max(cx - side / 2, plot.grid.x), plot.grid.maxX - side)
            let y = min(max(cy - side / 2, plot.grid.y), plot.grid.maxY - side)
            let rect = Rect(x: x, y: y, width: min(side, plot.grid.width), height: min(side, plot.grid.height))
            canvas.fill(rect, color)
            canvas.stroke(rect, .ink, lineWidth: 0.5)
            if options.annotateTopCells {
                canvas.text(text, x: rect.midX, y: rect.midY, size: font, anchor: .middle, color: color.contrastingText)
            }
        }
    }
}
