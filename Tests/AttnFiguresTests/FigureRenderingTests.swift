import AttnCore
import Foundation
import Testing
@testable import AttnFigures

/// The inputs every kind is drawn from in these tests, built from the synthetic traces.
enum Fixtures {
    static let pair = SyntheticTraces.pair()
    static let terrific = SyntheticTraces.pair(b: "dude, that song from eminem was terrific!", seed: 8)
    static let seq2seq = SyntheticTraces.seq2seq()
    static let long = SyntheticTraces.long()

    static func input(_ kind: FigureKind) throws -> FigureInput {
        switch kind {
        case .heatmap:
            return try FigureInputs.make(kind: .heatmap, sources: [.trace(pair, name: "pair")],
                                         selections: [HeadSelection(layer: 1, heads: .list([5]))])
        case .cross:
            return try FigureInputs.make(kind: .cross, sources: [.trace(seq2seq, name: "translation")],
                                         selections: [HeadSelection(layer: 0, heads: .list([1]))])
        case .compare:
            return try FigureInputs.make(kind: .compare, sources: [.trace(pair, name: "pair")],
                                         selections: [HeadSelection(layer: 0, heads: .list([1])), HeadSelection(layer: 0, heads: .list([2]))])
        case .stability:
            return try FigureInputs.make(kind: .stability, sources: [.array(SyntheticTraces.runs(of: pair, layer: 1, head: 5, count: 5), name: "runs.npy")],
                                         labels: pair.tokens.map(\.display))
        case .evolution:
            return try FigureInputs.make(kind: .evolution,
                                         sources: [.array(SyntheticTraces.checkpoints(of: pair, layer: 1, head: 5, count: 6), name: "checkpoints.npy")],
                                         labels: pair.tokens.map(\.display))
        case .regions:
            return try FigureInputs.make(kind: .regions, sources: [.trace(pair, name: "pair")],
                                         selections: [HeadSelection(layer: 0, heads: .list([3]))])
        case .overview:
            return try FigureInputs.make(kind: .overview, sources: [.trace(long, name: "long")])
        case .scan:
            return try FigureInputs.scan(ScanFigureTests.heads())
        }
    }

    /// Set `ATTNLAB_FIGURE_DUMP=/some/folder` to keep every figure the tests draw, to look at them.
    static func keep(_ data: Data, name: String) {
        guard let folder = ProcessInfo.processInfo.environment["ATTNLAB_FIGURE_DUMP"] else { return }
        try? data.write(to: URL(fileURLWithPath: folder).appendingPathComponent(name))
    }
}

struct FigureRenderingTests {
    static let cases: [(FigureKind, FigureFormat)] = FigureKind.allCases.flatMap { kind in FigureFormat.allCases.map { (kind, $0) } }

    @Test("every kind draws in every format", arguments: FigureRenderingTests.cases)
    func drawsEveryKindInEveryFormat(kind: FigureKind, format: FigureFormat) throws {
        let input = try Fixtures.input(kind)
        var options = FigureOptions()
        options.dpi = 144
        let figure = try FigureRenderer.draw(kind, input, options: options, format: format)
        Fixtures.keep(figure.data, name: "\(kind.rawValue).\(format.rawValue)")
        switch format {
        case .png:
            let png = try DecodedPNG(figure.data)
            #expect(png.width == Int((figure.width * 2).rounded(.up)))
            #expect(png.height == Int((figure.height * 2).rounded(.up)))
            #expect(Double(png.inkedPixels) > 0.2 * Double(png.width * png.height), "the figure is mostly blank")
        case .pdf:
            let pdf = PDFFacts(figure.data)
            #expect(pdf.isPDF)
            #expect(pdf.pageCount == 1)
            #expect(pdf.embedsDejaVu, "DejaVu Sans is not embedded")
        case .svg:
            let svg = SVGFacts(figure.data)
            #expect(svg.wellFormed)
            #expect(svg.rootName == "svg")
            let expected = kind == .overview || kind == .scan ? "Layer 5" : kind == .cross ? "Klimawandel" : "awesome"
            #expect(svg.texts.contains(expected), "the SVG has no selectable text \"\(expected)\"")
        }
    }

    @Test func heatmapCellsHaveTheColourOfTheirValue() throws {
        let input = try Fixtures.input(.heatmap)
        var options = FigureOptions()
        options.topCount = 0
        options.dpi = 144
        let figure = try FigureRenderer.draw(.heatmap, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let matrix = input.matrices[0]
        let scale = ColorScale(options: options, values: matrix.scalars)
        for row in 0 ..< matrix.shape[0] {
            for column in 0 ..< matrix.shape[1] {
                let (x, y) = figure.cellCenter(row: row, column: column)!
                let expected = scale.color(Double(matrix[row, column]))
                #expect(distance(png.color(x: x, y: y), expected) < 0.02, "cell \(row), \(column)")
            }
        }
    }

    @Test func topCellsAreEnlargedAndAnnotated() throws {
        let input = try Fixtures.input(.heatmap)
        var options = FigureOptions()
        options.dpi = 288
        let figure = try FigureRenderer.draw(.heatmap, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let matrix = input.matrices[0]
        let best = matrix.scalars.indices.max { matrix.scalars[$0] < matrix.scalars[$1] }!
        let (row, column) = (best / matrix.shape[1], best % matrix.shape[1])
        let (x, y) = figure.cellCenter(row: row, column: column)!
        let cell = figure.cell * figure.scale
        let colour = ColorScale(options: options, values: matrix.scalars).color(Double(matrix.scalars[best]))
        // Below the value's text, and 0.3 cell beyond the cell's own edge: still the enlarged cell.
        #expect(distance(png.color(x: x, y: y + 0.8 * cell), colour) < 0.02)
        let svg = SVGFacts(try FigureRenderer.render(.heatmap, input, options: options, format: .svg))
        #expect(svg.texts.contains(String(format: "%.2f", matrix.scalars[best])))
    }

    @Test func compareCircleTakesTheSecondMatrixColour() throws {
        let input = try Fixtures.input(.compare)
        var options = FigureOptions()
        options.dpi = 288
        let figure = try FigureRenderer.draw(.compare, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let (first, second) = (input.matrices[0].scalars, input.matrices[1].scalars)
        let scale = ColorScale(options: options, values: first + second)
        let columns = input.matrices[0].shape[1]
        let widest = first.indices.max { abs(first[$0] - second[$0]) < abs(first[$1] - second[$1]) }!
        let (x, y) = figure.cellCenter(row: widest / columns, column: widest % columns)!
        let cell = figure.cell * figure.scale
        #expect(distance(png.color(x: x, y: y), scale.color(Double(second[widest]))) < 0.02, "circle centre")
        #expect(distance(png.color(x: x - 0.42 * cell, y: y - 0.42 * cell), scale.color(Double(first[widest]))) < 0.02, "cell corner")
    }

    @Test func stabilityCircleRunsFromLowerToUpperBound() throws {
        let input = try Fixtures.input(.stability)
        var options = FigureOptions()
        options.dpi = 288
        let figure = try FigureRenderer.draw(.stability, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let summary = StabilityFigure.summarize(input.matrices, interval: .ci95)
        let scale = ColorScale(options: options, values: summary.mean)
        let widths = zip(summary.lower, summary.upper).map { $1 - $0 }
        let widest = widths.indices.max { widths[$0] < widths[$1] }!
        let columns = input.matrices[0].shape[1]
        let (x, y) = figure.cellCenter(row: widest / columns, column: widest % columns)!
        let cell = figure.cell * figure.scale
        #expect(distance(png.color(x: x, y: y), scale.color(summary.lower[widest])) < 0.03, "centre: lower bound")
        #expect(distance(png.color(x: x - 0.4 * cell, y: y - 0.4 * cell), scale.color(Double(summary.mean[widest]))) < 0.02, "corner: mean")
    }

    @Test func evolutionCellsShowTheMeanAndASparkline() throws {
        let input = try Fixtures.input(.evolution)
        var options = FigureOptions()
        options.dpi = 288
        let figure = try FigureRenderer.draw(.evolution, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let matrices = input.matrices
        let columns = matrices[0].shape[1]
        var mean = [Float](repeating: 0, count: matrices[0].count)
        for matrix in matrices { for i in mean.indices { mean[i] += matrix.scalars[i] / Float(matrices.count) } }
        let scale = ColorScale(options: options, values: mean)
        let strongest = mean.indices.max { mean[$0] < mean[$1] }!
        let (x, y) = figure.cellCenter(row: strongest / columns, column: strongest % columns)!
        let cell = figure.cell * figure.scale
        let corner = png.color(x: x - 0.45 * cell, y: y - 0.45 * cell)
        #expect(distance(corner, scale.color(Double(mean[strongest]))) < 0.02)
        // The sparkline's last point (the dot) sits at the right end of the cell's plotting area.
        let last = Double(matrices.last!.scalars[strongest])
        let low = Double(matrices.flatMap(\.scalars).min()!), high = Double(matrices.flatMap(\.scalars).max()!)
        let inset = 0.14 * cell
        let dotY = y + cell / 2 - inset - (cell - 2 * inset) * (last - low) / (high - low)
        #expect(distance(png.color(x: x + cell / 2 - inset, y: dotY), corner) > 0.3, "no sparkline end where the last value is")
    }

    @Test func regionsAreOutlined() throws {
        let input = try Fixtures.input(.regions)
        var options = FigureOptions()
        options.dpi = 288
        let figure = try FigureRenderer.draw(.regions, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let regions = try RegionDetector.detect(input.matrices[0])
        #expect(!regions.isEmpty)
        let region = regions[0]
        // The middle of the region's bottom edge carries the accent colour.
        let (x, _) = figure.cellCenter(row: region.rows.upperBound, column: (region.columns.lowerBound + region.columns.upperBound) / 2)!
        let (_, y) = figure.cellCenter(row: region.rows.upperBound, column: region.columns.lowerBound)!
        let edge = y + figure.cell * figure.scale / 2
        #expect(distance(png.color(x: x, y: edge), RGB.accent) < 0.05)
    }

    @Test func overviewPanelsAreEachScaledToTheirMaximum() throws {
        let input = try Fixtures.input(.overview)
        var options = FigureOptions()
        options.dpi = 600
        let figure = try FigureRenderer.draw(.overview, input, options: options, format: .png)
        let png = try DecodedPNG(figure.data)
        let stack = input.stack!
        for (layer, head) in [(0, 0), (3, 7), (5, 11)] {
            let panel = stack[layer][head]
            let scale = ColorScale(options: options, values: [0, panel.scalars.max()!], kind: .overview)
            let best = panel.scalars.indices.max { panel.scalars[$0] < panel.scalars[$1] }!
            let (row, column) = (best / 128, best % 128)
            let (x, y) = figure.panelCellCenter(layer: layer, head: head, row: row, column: column)!
            #expect(distance(png.color(x: x, y: y), scale.color(Double(panel.scalars[best]))) < 0.03, "layer \(layer) head \(head)")
        }
    }

    @Test func pdfPageHasTheRequestedWidth() throws {
        var options = FigureOptions()
        options.width = 505
        let figure = try FigureRenderer.draw(.heatmap, try Fixtures.input(.heatmap), options: options, format: .pdf)
        let pdf = PDFFacts(figure.data)
        #expect(pdf.text.contains("/MediaBox [ 0 0 505 "))
    }
}
