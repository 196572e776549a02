import AttnCore
import Foundation

/// A key drawn under the colour bar: circles of three sizes and what they measure.
struct CircleLegend {
    var title: String
    /// Values and the radius (points) each is drawn with, largest first.
    var entries: [(value: Double, radius: Double)]
}

/// The title at the top of a page and the notes at its foot, wrapped to the page's width; shared
/// by every kind.
struct PageText {
    let titleLines: [String]
    let titleSize: Double
    let noteLines: [String]
    let fontSize: Double

    init(title: String, notes: [String], fontSize f: Double, width: Double, measurer: TextMeasurer) {
        fontSize = f
        let limit = width - 2 * MatrixPlot.padding
        // A title that does not fit is set smaller (down to the labels' size), then wrapped.
        var size = f + 1.5
        while size > f, measurer.width(title, size: size, bold: true) > limit { size -= 0.5 }
        var lines = title.isEmpty ? [] : MatrixPlot.wrap(title, size: size, width: limit, measurer: measurer, bold: true)
        if lines.count > 2 {
            lines = [lines[0], measurer.truncate(lines[1...].joined(separator: " "), size: size, to: limit, bold: true)]
        }
        titleLines = lines
        titleSize = size
        noteLines = notes.flatMap { MatrixPlot.wrap($0, size: f - 0.5, width: limit, measurer: measurer) }
    }

    /// Height of the title and the space under it.
    var titleBand: Double { titleLines.isEmpty ? 0 : Double(titleLines.count) * titleSize * 1.25 + titleSize * 0.55 }
    var notesHeight: Double { noteLines.isEmpty ? 0 : 2 + Double(noteLines.count) * (fontSize - 0.5) * 1.4 }

    func drawTitle(on canvas: Canvas, width: Double) {
        let size = titleSize
        for (index, line) in titleLines.enumerated() {
            canvas.text(line, x: width / 2, y: MatrixPlot.padding + size * (0.8 + 1.25 * Double(index)), size: size, anchor: .middle, bold: true)
        }
    }

    func drawNotes(on canvas: Canvas, top: Double) {
        let size = fontSize - 0.5
        for (index, line) in noteLines.enumerated() {
            canvas.text(line, x: MatrixPlot.padding, y: top + 2 + size * (0.7 + 1.4 * Double(index)), size: size, color: .grey)
        }
    }
}

/// The layout and the shared parts of every figure that draws one query × key grid: the page
/// size, where each cell is, which token labels fit, the title, axis titles, colour bar, legends,
/// segment dividers, boxes and notes. Each kind draws its cells' extras on top.
struct MatrixPlot {
    let input: FigureInput
    let options: FigureOptions
    /// The values the cells are coloured by, row-major `[rows, columns]`.
    let cellValues: [Float]
    let scale: ColorScale
    let legend: CircleLegend?
    let rows: Int
    let columns: Int

    // Layout, in points.
    let pageWidth: Double
    let pageHeight: Double
    /// The grid of cells.
    let grid: Rect
    let cell: Double
    let fontSize: Double
    let labelFont: Double
    let shownRows: [Int]
    let shownColumns: [Int]
    let rowLabelTexts: [String]
    let columnLabelTexts: [String]
    let title: String
    let pageText: PageText
    let rowAxisTitle: String
    let columnAxisTitle: String
    let colorBar: Rect
    let notesTop: Double
    let segmentBoundary: Int?
    let measurer: TextMeasurer

    static let padding = 6.0
    static let tickGap = 3.0
    static let minimumLabelFont = 4.0

    /// Lays out a grid for `input`, colouring cells by `cellValues`; `priorityRows` and
    /// `priorityColumns` are labelled first when only some labels fit.
    init(input: FigureInput, options: FigureOptions, cellValues: [Float], scale: ColorScale, legend: CircleLegend?,
         priorityRows: [Int] = [], priorityColumns: [Int] = [], measurer: TextMeasurer = TextMeasurer()) throws {
        self.input = input
        self.options = options
        self.cellValues = cellValues
        self.scale = scale
        self.legend = legend
        self.measurer = measurer
        let rows = input.rowLabels.count, columns = input.columnLabels.count
        self.rows = rows
        self.columns = columns
        let f = options.fontSize
        fontSize = f
        let width = options.width ?? 240
        pageWidth = width

        title = Self.oneLine(options.title ?? input.defaultTitle)
        rowAxisTitle = options.rowAxisTitle ?? input.rowAxisTitle
        columnAxisTitle = options.columnAxisTitle ?? input.columnAxisTitle

        if options.mode == .questionContext {
            guard let segments = input.rowSegments, segments == input.columnSegments, let boundary = segments.firstIndex(of: 1),
                  boundary > 0, segments[boundary...].allSatisfy({ $0 == 1 }) else {
                throw FigureError("question-context mode needs a sentence pair on both axes (tokens of sentence A, then of sentence B)",
                                  location: "--mode", hint: "trace a pair (a and b), or draw it in self-attention mode")
            }
            segmentBoundary = boundary
        } else {
            segmentBoundary = nil
        }

        // The right column: colour bar with tick labels, then the legend.
        let tickFont = f - 1
        let tickLabelWidth = ColorBarTicks.ticks(for: scale, count: 5).map { measurer.width($0.text, size: tickFont) }.max() ?? 0
        var rightWidth = 8 + 6 + 2 + 2 + tickLabelWidth
        if let legend {
            let entryWidth = legend.entries.map { 2 * max($0.radius, 1) + 4 + measurer.width(Self.format($0.value), size: tickFont) }.max() ?? 0
            rightWidth = max(rightWidth, 8 + max(entryWidth, measurer.width(legend.title, size: tickFont, bold: true)))
        }
        rightWidth += Self.padding

        let segmentBand = segmentBoundary == nil ? 0 : f * 1.8
        let axisBand = f * 1.7
        let interval = max(1, options.labelInterval)
        let rowLabels = input.rowLabels.map(Self.oneLine), columnLabels = input.columnLabels.map(Self.oneLine)
        /// Labels longer than nine ems are cut with an ellipsis.
        func truncated(_ label: String, _ size: Double) -> String {
            measurer.truncate(label, size: size, to: max(30, size * 9))
        }

        // Label font and which labels show depend on the cell size, which depends on how wide the
        // row labels are. Start from the widest margin (all labels at full size), which always
        // holds the labels chosen for its cell size; then tighten the margin while the labels
        // chosen for the larger cells still fit in it.
        struct Choice { var font: Double; var rows: [Int]; var columns: [Int] }
        let sparseByCount = rows > options.sparseLabelThreshold || columns > options.sparseLabelThreshold
        func choose(cell: Double) -> Choice {
            let fits = cell / 1.15
            guard sparseByCount || fits < Self.minimumLabelFont else {
                return Choice(font: min(f, fits), rows: Array(0 ..< rows), columns: Array(0 ..< columns))
            }
            let font = max(Self.minimumLabelFont, min(f, cell * Double(interval) / 1.15))
            let spacing = max(1, Int((font * 1.1 / cell).rounded(.up)))
            let step = max(interval, spacing)
            return Choice(font: font, rows: Self.sparse(count: rows, step: step, spacing: spacing, priority: priorityRows),
                          columns: Self.sparse(count: columns, step: step, spacing: spacing, priority: priorityColumns))
        }
        let fixedLeft = Self.padding + (rowAxisTitle.isEmpty ? 0 : axisBand) + segmentBand + Self.tickGap
        func left(for choice: Choice) -> Double {
            fixedLeft + (choice.rows.map { measurer.width(truncated(rowLabels[$0], choice.font), size: choice.font) }.max() ?? 0)
        }
        func cellSize(left: Double) throws -> Double {
            let cell = (width - left - rightWidth) / Double(columns)
            guard cell >= 0.25 else {
                throw FigureError("a \(Int(width))-point page is too narrow for \(columns) columns and these labels",
                                  location: "--width", hint: "use at least \(Int(left + rightWidth + 0.25 * Double(columns)) + 1) points, or --width page")
            }
            return cell
        }
        var leftWidth = left(for: Choice(font: f, rows: Array(0 ..< rows), columns: []))
        var cell = try cellSize(left: leftWidth)
        var choice = choose(cell: cell)
        for _ in 0 ..< 4 {
            let tighter = left(for: choice)
            guard tighter < leftWidth - 0.01 else { break }
            let tighterCell = try cellSize(left: tighter)
            let tighterChoice = choose(cell: tighterCell)
            guard left(for: tighterChoice) <= tighter + 1e-9 else { break }
            (leftWidth, cell, choice) = (tighter, tighterCell, tighterChoice)
        }
        self.cell = cell
        labelFont = choice.font
        shownRows = choice.rows
        shownColumns = choice.columns
        rowLabelTexts = rowLabels.map { truncated($0, choice.font) }
        columnLabelTexts = columnLabels.map { truncated($0, choice.font) }

        pageText = PageText(title: title, notes: input.notes, fontSize: f, width: width, measurer: measurer)
        let top = Self.padding + pageText.titleBand + segmentBand
        grid = Rect(x: leftWidth, y: top, width: cell * Double(columns), height: cell * Double(rows))
        colorBar = Rect(x: grid.maxX + 8, y: grid.y, width: 6, height: max(grid.height, 60))
        var rightBottom = colorBar.maxY + tickFont
        if let legend {
            rightBottom += 8 + tickFont * 1.6 + legend.entries.reduce(0) { $0 + max(2 * $1.radius, tickFont) + 4 }
        }

        let columnTexts = columnLabelTexts, font = choice.font
        let columnLabelHeight = choice.columns.map { measurer.width(columnTexts[$0], size: font) }.max() ?? 0
        let bottom = grid.maxY + Self.tickGap + columnLabelHeight + (columnAxisTitle.isEmpty ? 0 : axisBand)
        // Notes run the page's full width, so they start below both columns.
        notesTop = max(bottom, rightBottom)
        pageHeight = notesTop + pageText.notesHeight + Self.padding
    }

    /// Lays out a figure whose legend shows circles sized by the cell size the layout yields:
    /// lays out again until the cell size no longer changes.
    static func withLegend(_ legend: (_ cell: Double) -> CircleLegend, input: FigureInput, options: FigureOptions,
                           cellValues: [Float], scale: ColorScale, priorityRows: [Int], priorityColumns: [Int]) throws -> MatrixPlot {
        let measurer = TextMeasurer()
        var cell = 10.0
        var plot: MatrixPlot
        var passes = 0
        repeat {
            plot = try MatrixPlot(input: input, options: options, cellValues: cellValues, scale: scale, legend: legend(cell),
                                  priorityRows: priorityRows, priorityColumns: priorityColumns, measurer: measurer)
            passes += 1
            if abs(plot.cell - cell) < 0.001 { break }
            cell = plot.cell
        } while passes < 6
        return plot
    }

    // MARK: geometry

    func cellRect(row: Int, column: Int) -> Rect {
        Rect(x: grid.x + Double(column) * cell, y: grid.y + Double(row) * cell, width: cell, height: cell)
    }

    func cellCenter(row: Int, column: Int) -> (Double, Double) {
        (grid.x + (Double(column) + 0.5) * cell, grid.y + (Double(row) + 0.5) * cell)
    }

    func value(row: Int, column: Int) -> Float { cellValues[row * columns + column] }

    // MARK: drawing

    /// Draws everything but the kind's extras: cells, labels, titles, colour bar, legend, notes,
    /// segment dividers. Call `drawFinishing` after the extras for boxes.
    func drawBase(on canvas: Canvas) {
        drawCells(on: canvas)
        drawLabels(on: canvas)
        drawTitles(on: canvas)
        drawColorBar(on: canvas)
        if let legend { drawLegend(legend, on: canvas) }
        drawNotes(on: canvas)
    }

    func drawCells(on canvas: Canvas) {
        let colors = cellValues.map { scale.color(Double($0)) }
        if cell >= 6 {
            // Large cells: rectangles with a thin white gap, as seaborn's heatmaps draw them.
            let gap = min(0.8, cell * 0.06)
            for r in 0 ..< rows {
                for c in 0 ..< columns {
                    canvas.fill(cellRect(row: r, column: c).insetBy(gap / 2), colors[r * columns + c])
                }
            }
        } else {
            canvas.cellImage(colors, rows: rows, columns: columns, in: grid)
        }
    }

    func drawLabels(on canvas: Canvas) {
        let sparseRows = shownRows.count < rows, sparseColumns = shownColumns.count < columns
        for r in shownRows {
            let (_, y) = cellCenter(row: r, column: 0)
            let marked = input.markedRows.contains(r)
            if sparseRows { canvas.line(from: (grid.x - 2, y), to: (grid.x, y), .grey, lineWidth: 0.4) }
            canvas.text(rowLabelTexts[r], x: grid.x - Self.tickGap, y: y, size: labelFont, anchor: .end,
                        color: marked ? .accent : .ink, bold: marked)
        }
        for c in shownColumns {
            let (x, _) = cellCenter(row: 0, column: c)
            let marked = input.markedColumns.contains(c)
            if sparseColumns { canvas.line(from: (x, grid.maxY), to: (x, grid.maxY + 2), .grey, lineWidth: 0.4) }
            // Rotated a quarter turn: reads bottom to top, its end at the grid.
            canvas.text(columnLabelTexts[c], x: x, y: grid.maxY + Self.tickGap, size: labelFont, anchor: .end,
                        rotation: -90, color: marked ? .accent : .ink, bold: marked)
        }
    }

    func drawTitles(on canvas: Canvas) {
        let f = fontSize
        pageText.drawTitle(on: canvas, width: pageWidth)
        if !rowAxisTitle.isEmpty {
            let text = measurer.truncate(rowAxisTitle, size: f, to: max(grid.height, 40))
            canvas.text(text, x: Self.padding + f * 0.6, y: grid.midY, size: f, anchor: .middle, rotation: -90, color: .grey)
        }
        if !columnAxisTitle.isEmpty {
            let columnLabelHeight = shownColumns.map { measurer.width(columnLabelTexts[$0], size: labelFont) }.max() ?? 0
            let y = grid.maxY + Self.tickGap + columnLabelHeight + f * 0.9
            let text = measurer.truncate(columnAxisTitle, size: f, to: max(grid.width, 40))
            canvas.text(text, x: grid.midX, y: y, size: f, anchor: .middle, color: .grey)
        }
        if let boundary = segmentBoundary { drawSegments(boundary, on: canvas) }
    }

    /// Question-context mode: a divider between sentence A and B across the grid, and each
    /// sentence's name over its columns and beside its rows.
    func drawSegments(_ boundary: Int, on canvas: Canvas) {
        let f = fontSize
        let names = options.segmentNames + ["Sentence A", "Sentence B"].dropFirst(options.segmentNames.count)
        let split = Double(boundary) * cell
        canvas.line(from: (grid.x + split, grid.y - f * 1.6), to: (grid.x + split, grid.maxY), .ink, lineWidth: 0.9)
        canvas.line(from: (grid.x - f * 1.6 - rowLabelWidth - Self.tickGap, grid.y + split), to: (grid.maxX, grid.y + split), .ink, lineWidth: 0.9)
        let spans = [(0.0, split), (split, grid.width)]
        for (index, span) in spans.enumerated() {
            let length = span.1 - span.0
            guard length > 0 else { continue }
            let name = measurer.truncate(names[index], size: f, to: max(length - 2, 10))
            // Over the columns: the name, centred, with a bracket line under it.
            let bracketY = grid.y - f * 0.5
            canvas.line(from: (grid.x + span.0 + 1, bracketY), to: (grid.x + span.1 - 1, bracketY), .grey, lineWidth: 0.5)
            canvas.text(name, x: grid.x + (span.0 + span.1) / 2, y: grid.y - f * 1.15, size: f, anchor: .middle, bold: true)
            // Beside the rows, left of their labels, reading bottom to top.
            let bandX = grid.x - rowLabelWidth - Self.tickGap - f * 0.5
            canvas.line(from: (bandX, grid.y + span.0 + 1), to: (bandX, grid.y + span.1 - 1), .grey, lineWidth: 0.5)
            canvas.text(name, x: bandX - f * 0.7, y: grid.y + (span.0 + span.1) / 2, size: f, anchor: .middle, rotation: -90, bold: true)
        }
    }

    var rowLabelWidth: Double {
        shownRows.map { measurer.width(rowLabelTexts[$0], size: labelFont) }.max() ?? 0
    }

    func drawColorBar(on canvas: Canvas) {
        canvas.verticalGradient(colorBar, steps: 32) { scale.map.color(at: $0) }
        canvas.stroke(colorBar, .grey, lineWidth: 0.3)
        let tickFont = fontSize - 1
        for tick in ColorBarTicks.ticks(for: scale, count: 5) {
            let y = colorBar.maxY - tick.position * colorBar.height
            canvas.line(from: (colorBar.maxX, y), to: (colorBar.maxX + 2, y), .grey, lineWidth: 0.3)
            canvas.text(tick.text, x: colorBar.maxX + 3.5, y: y, size: tickFont, color: .ink)
        }
    }

    func drawLegend(_ legend: CircleLegend, on canvas: Canvas) {
        let tickFont = fontSize - 1
        let x = colorBar.x
        var y = colorBar.maxY + tickFont + 8
        canvas.text(legend.title, x: x, y: y, size: tickFont, bold: true)
        y += tickFont * 1.2
        let largest = legend.entries.map(\.radius).max() ?? 1
        for entry in legend.entries {
            let height = max(2 * entry.radius, tickFont)
            let center = (x + largest, y + height / 2)
            canvas.circle(center: center, radius: max(entry.radius, 0.2), fill: RGB(0.75, 0.75, 0.75), stroke: .grey, lineWidth: 0.3)
            canvas.text(Self.format(entry.value), x: x + 2 * largest + 4, y: center.1, size: tickFont)
            y += height + 4
        }
    }

    func drawNotes(on canvas: Canvas) {
        pageText.drawNotes(on: canvas, top: notesTop)
    }

    /// Outlines the boxes the options name. Call after the kind's extras so boxes stay on top.
    func drawBoxes(_ boxes: [CellBox], on canvas: Canvas, color: RGB = .accent) {
        for box in boxes {
            let rect = Rect(x: grid.x + Double(box.columns.lowerBound) * cell, y: grid.y + Double(box.rows.lowerBound) * cell,
                            width: Double(box.columns.count) * cell, height: Double(box.rows.count) * cell)
            let lineWidth = min(1.4, max(0.6, cell * 0.15))
            canvas.stroke(rect, .white, lineWidth: lineWidth + 0.8)
            canvas.stroke(rect, color, lineWidth: lineWidth)
            if let label = box.label, !label.isEmpty {
                let size = max(fontSize - 1, 4)
                let width = measurer.width(label, size: size, bold: true)
                // Above the box when that stays on the grid, else below it, else inside its top.
                var placed = Rect(x: min(rect.x, grid.maxX - width - 3), y: rect.y - size * 1.3, width: width + 3, height: size * 1.3)
                if placed.y < grid.y { placed.y = rect.maxY <= grid.maxY - placed.height ? rect.maxY : rect.y }
                canvas.fill(placed, color)
                canvas.text(label, x: placed.x + 1.5, y: placed.midY, size: size, color: .white, bold: true)
            }
        }
    }

    /// Checks that boxes lie within the grid.
    func validate(_ boxes: [CellBox]) throws {
        for box in boxes where box.rows.upperBound >= rows || box.columns.upperBound >= columns {
            throw FigureError("the box \(box.rows.lowerBound)-\(box.rows.upperBound):\(box.columns.lowerBound)-\(box.columns.upperBound) runs past the \(rows) × \(columns) matrix",
                              location: "--box", hint: "rows go from 0 to \(rows - 1), columns from 0 to \(columns - 1)")
        }
    }

    // MARK: helpers

    /// Labels for a crowded axis: the priority indices first, then every `step`-th, each kept only
    /// when it is at least `spacing` cells from every label already kept.
    static func sparse(count: Int, step: Int, spacing: Int, priority: [Int]) -> [Int] {
        var kept: [Int] = []
        let candidates = priority.filter { $0 >= 0 && $0 < count } + Array(stride(from: 0, to: count, by: step))
        for index in candidates where !kept.contains(index) {
            if kept.allSatisfy({ abs($0 - index) >= spacing }) { kept.append(index) }
        }
        return kept.sorted()
    }

    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\t", with: " ")
    }

    static func format(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 0.1 { return String(format: "%.2f", value) }
        if abs(value) >= 0.01 { return String(format: "%.3f", value) }
        return String(format: "%.1e", value)
    }

    /// Breaks `text` at spaces into lines at most `width` wide (a single word wider than that is cut).
    static func wrap(_ text: String, size: Double, width: Double, measurer: TextMeasurer, bold: Bool = false) -> [String] {
        var lines: [String] = [], current = ""
        for word in text.split(separator: " ") {
            let candidate = current.isEmpty ? String(word) : current + " " + word
            if measurer.width(candidate, size: size, bold: bold) <= width {
                current = candidate
            } else if current.isEmpty {
                current = candidate
            } else {
                lines.append(current)
                current = String(word)
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines.map { measurer.truncate($0, size: size, to: width, bold: bold) }
    }
}

/// The ticks of a colour bar: round values, placed along the (gamma-warped) scale, none closer
/// than a label's height to another.
enum ColorBarTicks {
    struct Tick {
        var value: Double
        /// 0 at the bottom of the bar, 1 at the top.
        var position: Double
        var text: String
    }

    static func ticks(for scale: ColorScale, count: Int) -> [Tick] {
        let span = scale.maximum - scale.minimum
        guard span > 0, span.isFinite else { return [] }
        let rough = span / Double(max(count - 1, 1))
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        let decimals = max(0, -Int(floor(log10(step) + 1e-9)) + (step / magnitude == 2.5 ? 1 : 0))
        var values: [Double] = []
        var value = (scale.minimum / step).rounded(.up) * step
        while value <= scale.maximum + step * 1e-6 {
            values.append(value)
            value += step
        }
        // Keep ticks at least 0.08 of the bar apart (they crowd at the bottom when gamma > 1),
        // preferring the larger values.
        var kept: [Tick] = []
        for value in values.reversed() {
            let position = scale.position(value)
            if kept.allSatisfy({ abs($0.position - position) >= 0.08 }) {
                kept.append(Tick(value: value, position: position, text: String(format: "%.\(decimals)f", value)))
            }
        }
        return kept.reversed()
    }
}
