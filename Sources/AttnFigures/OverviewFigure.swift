import AttnCore
import Foundation

/// Every layer × head of a stack as small multiples on one page, for a paper's appendix: one row
/// per layer, one column per head, each panel a query × key heatmap without token labels. By
/// default each head is scaled to its own maximum (so that weak heads still show their pattern);
/// `sharedScale` puts all on one scale.
enum OverviewFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        guard let stack = input.stack else {
            throw FigureError("the overview needs attention [layers, heads, queries, keys]", hint: "build the input with FigureInputs.make(kind: .overview, …)")
        }
        try FigureInputs.checkStack(stack, name: "the attention")
        let (layers, heads, rows, columns) = (stack.shape[0], stack.shape[1], stack.shape[2], stack.shape[3])
        let measurer = TextMeasurer()
        let f = options.fontSize
        let width = options.width ?? 505
        let padding = MatrixPlot.padding
        let title = MatrixPlot.oneLine(options.title ?? input.defaultTitle)

        let size = rows * columns
        var headMaxima = [Float](repeating: 0, count: layers * heads)
        stack.withUnsafeBufferPointer { all in
            for panel in 0 ..< layers * heads {
                var largest = -Float.infinity
                for i in panel * size ..< (panel + 1) * size { largest = max(largest, all[i]) }
                headMaxima[panel] = largest
            }
        }
        let overall = headMaxima.max() ?? 1
        let sharedScale = ColorScale(options: options, values: [0, overall], kind: .overview)
        let ticks: [(position: Double, text: String)] = options.sharedScale
            ? ColorBarTicks.ticks(for: sharedScale, count: 5).map { ($0.position, $0.text) }
            : [(0, MatrixPlot.format(options.minimum ?? 0)), (1, "max")]
        let tickFont = f - 1
        let rightWidth = 8 + 6 + 4 + (ticks.map { measurer.width($0.text, size: tickFont) }.max() ?? 0) + padding
        let layerLabels = (0 ..< layers).map { "Layer \($0)" }
        let layerLabelWidth = layerLabels.map { measurer.width($0, size: f) }.max() ?? 0
        let left = padding + layerLabelWidth + 4
        let available = width - left - rightWidth
        let gap = max(1.5, min(4, available / Double(heads) * 0.06))
        let panelWidth = (available - gap * Double(heads - 1)) / Double(heads)
        guard panelWidth >= 4 else {
            throw FigureError("a \(Int(width))-point page is too narrow for \(heads) heads", location: "--width",
                              hint: "use --width page (505) or wider")
        }
        let panelHeight = panelWidth * Double(rows) / Double(columns)
        let headLabels = (0 ..< heads).map { head -> String in
            let long = "Head \(head)"
            return measurer.width(long, size: f) <= panelWidth ? long : "\(head)"
        }
        let headFont = min(f, max(4, panelWidth * 0.6))
        var notes = input.notes
        notes.append("\(rows) queries (rows) × \(columns) keys (columns) per panel; "
            + (options.sharedScale ? "one colour scale for all heads." : "each head scaled to its own maximum."))
        let pageText = PageText(title: title, notes: notes, fontSize: f, width: width, measurer: measurer)
        let top = padding + pageText.titleBand + f * 1.6
        let gridHeight = Double(layers) * panelHeight + Double(layers - 1) * gap
        let notesTop = top + max(gridHeight, 60) + 2
        let height = notesTop + max(pageText.notesHeight, tickFont) + padding

        let canvas = try Canvas(format: format, width: width, height: height, dpi: options.dpi, title: title)
        pageText.drawTitle(on: canvas, width: width)
        var panels: [[Rect]] = []
        for layer in 0 ..< layers {
            var row: [Rect] = []
            let y = top + Double(layer) * (panelHeight + gap)
            canvas.text(layerLabels[layer], x: left - 4, y: y + panelHeight / 2, size: f, anchor: .end)
            for head in 0 ..< heads {
                let x = left + Double(head) * (panelWidth + gap)
                let rect = Rect(x: x, y: y, width: panelWidth, height: panelHeight)
                row.append(rect)
                let panel = layer * heads + head
                var scale = sharedScale
                if !options.sharedScale {
                    scale = ColorScale(options: options, values: [0, headMaxima[panel]], kind: .overview)
                }
                let colors = stack.withUnsafeBufferPointer { all in
                    (panel * size ..< (panel + 1) * size).map { scale.color(Double(all[$0])) }
                }
                canvas.cellImage(colors, rows: rows, columns: columns, in: rect)
                // The frame lies just outside the panel so that it hides no cell.
                canvas.stroke(rect.insetBy(-0.15), RGB(0.7, 0.7, 0.7), lineWidth: 0.3)
            }
            panels.append(row)
        }
        for head in 0 ..< heads {
            let x = left + Double(head) * (panelWidth + gap) + panelWidth / 2
            canvas.text(headLabels[head], x: x, y: top - f * 0.8, size: headFont, anchor: .middle)
        }
        let bar = Rect(x: left + Double(heads) * (panelWidth + gap) - gap + 8, y: top, width: 6, height: max(gridHeight, 60))
        canvas.verticalGradient(bar, steps: 32) { options.colorMap.color(at: $0) }
        canvas.stroke(bar, .grey, lineWidth: 0.3)
        for tick in ticks {
            let y = bar.maxY - tick.position * bar.height
            canvas.line(from: (bar.maxX, y), to: (bar.maxX + 2, y), .grey, lineWidth: 0.3)
            canvas.text(tick.text, x: bar.maxX + 3.5, y: y, size: tickFont)
        }
        pageText.drawNotes(on: canvas, top: notesTop)
        let data = try canvas.finish()
        return RenderedFigure(data: data, format: format, width: width, height: height, scale: canvas.pixelsPerPoint,
                              grid: nil, panels: panels, panelCell: (panelWidth / Double(columns), panelHeight / Double(rows)))
    }
}
