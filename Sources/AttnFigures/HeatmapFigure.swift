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

    /// The strongest cells drawn `enlargement` times larger on top of the grid, with their value
    /// written inside when there is room for it. Each stays inside the grid and over its own cell,
    /// and covers neither another enlarged cell nor another top cell's own cell (neighbouring top
    /// cells, as on a diagonal, would otherwise hide each other's values): it moves aside (its cell
    /// at an edge or a corner of it), then shrinks towards its own size; only when even its own
    /// cell is covered is it outlined without a value.
    static func drawTopCells(_ top: [(row: Int, column: Int)], plot: MatrixPlot, on canvas: Canvas) {
        let options = plot.options
        let owns = top.map { plot.cellRect(row: $0.row, column: $0.column) }
        var placed: [Rect] = []
        for (index, (row, column)) in top.enumerated() {
            let value = Double(plot.value(row: row, column: column))
            let color = plot.scale.color(value)
            let text = String(format: "%.2f", value)
            let own = owns[index]
            let others = owns.indices.filter { $0 > index }.map { owns[$0] }
            func fits(_ rect: Rect) -> Bool { !placed.contains { $0.intersects(rect) } && !others.contains { $0.intersects(rect) } }
            var full = plot.cell * options.enlargement
            if options.annotateTopCells { full = max(full, plot.measurer.width(text, size: min(plot.fontSize, max(4, full * 0.36))) + 3) }
            full = min(full, plot.grid.width, plot.grid.height)
            var chosen: (rect: Rect, side: Double)?
            for step in 0 ... 4 where chosen == nil {
                let side = max(plot.cell, full - (full - plot.cell) * Double(step) / 4)
                let slack = max(side - plot.cell, 0)
                let candidates = [0.5, 0, 1].flatMap { fx in [0.5, 0, 1].map { fy in (fx, fy) } }.map { fx, fy in
                    Rect(x: min(max(own.x - slack * fx, plot.grid.x), plot.grid.maxX - side),
                         y: min(max(own.y - slack * fy, plot.grid.y), plot.grid.maxY - side), width: side, height: side)
                }
                if let rect = candidates.first(where: fits) { chosen = (rect, side) }
            }
            guard let (rect, side) = chosen else {
                canvas.stroke(own, .ink, lineWidth: 0.5)
                continue
            }
            placed.append(rect)
            canvas.fill(rect, color)
            canvas.stroke(rect, .ink, lineWidth: 0.5)
            let font = min(plot.fontSize, max(4, side * 0.36))
            if options.annotateTopCells, plot.measurer.width(text, size: font) + 2 <= side {
                canvas.text(text, x: rect.midX, y: rect.midY, size: font, anchor: .middle, color: color.contrastingText)
            }
        }
    }
}
