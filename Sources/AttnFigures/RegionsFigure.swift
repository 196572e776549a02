import AttnCore
import Foundation

/// A heatmap with the key regions `RegionDetector` finds outlined and numbered (R1 is the
/// region with the strongest peak).
enum RegionsFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        let matrix = input.matrices[0]
        let regions = try RegionDetector.detect(matrix, options: options.regionOptions)
        let scale = ColorScale(options: options, values: matrix.scalars)
        let seeds = regions.flatMap(\.seeds)
        let plot = try MatrixPlot(input: input, options: options, cellValues: matrix.scalars, scale: scale, legend: nil,
                                  priorityRows: seeds.map(\.row), priorityColumns: seeds.map(\.column))
        try plot.validate(options.boxes)
        let canvas = try Canvas(format: format, width: plot.pageWidth, height: plot.pageHeight, dpi: options.dpi, title: plot.title)
        plot.drawBase(on: canvas)
        let boxes = regions.enumerated().map { CellBox(rows: $0.element.rows, columns: $0.element.columns, label: "R\($0.offset + 1)") }
        plot.drawBoxes(boxes, on: canvas)
        plot.drawBoxes(options.boxes, on: canvas, color: .ink)
        return try FigureRenderer.finish(canvas, plot: plot)
    }
}
