import AttnCore
import Foundation
import Testing
@testable import AttnFigures

/// Token labels never overlap and never leave the page, however many tokens there are.
struct LayoutTests {
    func plot(_ input: FigureInput, width: Double, priority: [Int] = []) throws -> MatrixPlot {
        var options = FigureOptions()
        options.width = width
        let matrix = input.matrices[0]
        return try MatrixPlot(input: input, options: options, cellValues: matrix.scalars,
                              scale: ColorScale(options: options, values: matrix.scalars), legend: nil,
                              priorityRows: priority, priorityColumns: priority)
    }

    /// Checks spacing and bounds of the labels a plot shows.
    func expectReadable(_ plot: MatrixPlot, _ context: String) {
        #expect(plot.labelFont >= MatrixPlot.minimumLabelFont, "\(context): labels smaller than the minimum")
        for axis in [plot.shownRows, plot.shownColumns] {
            #expect(axis == axis.sorted())
            for (a, b) in zip(axis, axis.dropFirst()) {
                #expect(Double(b - a) * plot.cell >= plot.labelFont * 1.05, "\(context): labels \(a) and \(b) overlap")
            }
        }
        for row in plot.shownRows {
            let width = plot.measurer.width(plot.rowLabelTexts[row], size: plot.labelFont)
            #expect(plot.grid.x - MatrixPlot.tickGap - width >= 0, "\(context): row label \(row) leaves the page")
        }
        for column in plot.shownColumns {
            let height = plot.measurer.width(plot.columnLabelTexts[column], size: plot.labelFont)
            #expect(plot.grid.maxY + MatrixPlot.tickGap + height <= plot.pageHeight, "\(context): column label \(column) leaves the page")
        }
        #expect(plot.grid.maxX <= plot.pageWidth && plot.colorBar.maxX <= plot.pageWidth)
    }

    @Test(arguments: [240.0, 505.0])
    func labelsOf128TokensDoNotOverlap(width: Double) throws {
        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(Fixtures.long, name: "long")],
                                          selections: [HeadSelection(layer: 0, heads: .list([5]))])
        let strongest = [70, 71, 3]
        let plot = try plot(input, width: width, priority: strongest)
        expectReadable(plot, "128 tokens at \(width) pt")
        #expect(plot.shownRows.count < 128)
        #expect(plot.shownRows.contains(70), "the strongest cell's token is labelled")
        #expect(!plot.shownRows.contains(71), "a label next to a labelled token is dropped")
    }

    @Test func aShortSentenceLabelsEveryToken() throws {
        let input = try Fixtures.input(.heatmap)
        let plot = try plot(input, width: 240)
        expectReadable(plot, "a pair at 240 pt")
        #expect(plot.shownRows.count == input.rowLabels.count && plot.shownColumns.count == input.columnLabels.count)
        #expect(plot.labelFont <= plot.cell / 1.15 + 1e-9)
    }

    @Test func longInputsGetSparseLabelsEvenWhenTheyWouldFit() throws {
        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(SyntheticTraces.long(count: 70, layers: 1, heads: 1), name: "long")])
        let plot = try plot(input, width: 1400)
        expectReadable(plot, "70 tokens at 1400 pt")
        #expect(plot.shownRows == Array(stride(from: 0, to: 70, by: 10)))
    }

    @Test func aNarrowPageThinsLabelsOfAShortInput() throws {
        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(SyntheticTraces.long(count: 60, layers: 1, heads: 1), name: "long")])
        let plot = try plot(input, width: 150)
        expectReadable(plot, "60 tokens at 150 pt")
        #expect(plot.shownRows.count < 60)
    }

    @Test func longLabelsAreCutWithAnEllipsis() throws {
        var input = try Fixtures.input(.heatmap)
        input.rowLabels[3] = String(repeating: "supercalifragilistic", count: 4)
        let plot = try plot(input, width: 240)
        #expect(plot.rowLabelTexts[3].hasSuffix("…"))
        expectReadable(plot, "a long label")
    }

    @Test func colourBarTicksAreRoundAndApart() {
        let scale = ColorScale(map: .blues, minimum: 0, maximum: 0.83, gamma: 1.5)
        let ticks = ColorBarTicks.ticks(for: scale, count: 5)
        #expect(ticks.map(\.text) == ["0.00", "0.25", "0.50", "0.75"])
        for (a, b) in zip(ticks, ticks.dropFirst()) { #expect(b.position - a.position >= 0.08) }
        let gammaScale = ColorScale(map: .blues, minimum: 0, maximum: 1, gamma: 3)
        #expect(ColorBarTicks.ticks(for: gammaScale, count: 11).first?.text != "0.1", "ticks crowd at the bottom")
    }

    @Test func gammaKeepsWeakAttentionPale() {
        let linear = ColorScale(map: .blues, minimum: 0, maximum: 1, gamma: 1)
        let steep = ColorScale(map: .blues, minimum: 0, maximum: 1, gamma: 1.5)
        #expect(abs(steep.position(0.25) - 0.125) < 1e-9)
        #expect(steep.color(0.25).luminance > linear.color(0.25).luminance)
        #expect(steep.color(1) == linear.color(1))
    }
}
