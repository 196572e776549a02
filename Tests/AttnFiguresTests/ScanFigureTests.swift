import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnFigures

/// The scan figure: cells on a diverging scale centred on 0, the strongest outlined with their value,
/// the target's and the source's values in the caption, cells without a value grey, raw effects on
/// request (and always for an ablation), and a scan given where attention is expected refused.
struct ScanFigureTests {
    /// 6 layers × 12 heads; 4.11 is the strongest (+0.034, normalised 0.26), 0.9 lowers the metric.
    static func heads(source: Bool = true, skipped: [String] = []) -> ScanResult {
        var effects: [[Double]] = []
        for layer in 0 ..< 6 {
            let row: [Double] = (0 ..< 12).map { head in Double((layer * 12 + head) % 7 - 3) * 0.001 }
            effects.append(row)
        }
        effects[4][11] = 0.0341
        effects[5][9] = 0.0205
        effects[0][9] = -0.0099
        return ScanResult(stack: .encoder, site: .head, mode: source ? .patch : .ablate, metric: "similarity", target: "eminem/sick",
                          source: source ? "eminem/terrific" : nil, targetValue: 0.679, sourceValue: source ? 0.8088 : nil,
                          layers: Array(0 ..< 6), columns: (0 ..< 12).map(String.init), effects: effects, skipped: skipped)
    }

    func draw(_ input: FigureInput, _ options: FigureOptions = FigureOptions(), format: FigureFormat = .png) throws -> RenderedFigure {
        var options = options
        options.dpi = 288
        let figure = try FigureRenderer.draw(.scan, input, options: options, format: format)
        Fixtures.keep(figure.data, name: "scan-\(input.scan!.values.rawValue).\(format.rawValue)")
        return figure
    }

    @Test func cellsHaveTheDivergingColourOfTheirValue() throws {
        let scan = Self.heads()
        let input = try FigureInputs.scan(scan)
        var options = FigureOptions()
        options.topCount = 0
        let figure = try draw(input, options)
        let png = try DecodedPNG(figure.data)
        let end = scan.normalized.flatMap { $0 }.compactMap { $0 }.map(abs).max()!
        let scale = ColorScale(map: .rdbu, minimum: -end, maximum: end, gamma: 1)
        for (row, layer) in scan.layers.enumerated() {
            for column in scan.columns.indices {
                let (x, y) = figure.cellCenter(row: row, column: column)!
                let expected = scale.color(scan.normalized[row][column]!)
                #expect(distance(png.color(x: x, y: y), expected) < 0.02, "cell \(layer).\(column)")
            }
        }
        let (x, y) = figure.cellCenter(row: 4, column: 11)!
        #expect(png.color(x: x, y: y).blue > 0.5 && png.color(x: x, y: y).red < 0.3, "towards the source is blue")
        let (x0, y0) = figure.cellCenter(row: 0, column: 9)!
        #expect(png.color(x: x0, y: y0).red > 0.8 && png.color(x: x0, y: y0).blue < 0.8, "away from it is red")
    }

    @Test func strongestCellsAreAnnotatedAndTheValuesCaptioned() throws {
        let scan = Self.heads()
        let svg = SVGFacts(try draw(try FigureInputs.scan(scan), format: .svg).data)
        let normalized = scan.cell(layer: 4, column: "11")!.normalized!
        #expect(svg.texts.contains(String(format: "%.2f", normalized)), "the strongest cell's value is written in it")
        #expect(svg.texts.contains(String(format: "%.2f", scan.cell(layer: 5, column: "9")!.normalized!)))
        let caption = svg.texts.joined(separator: " ")
        #expect(caption.contains("target eminem/sick 0.6790") && caption.contains("source eminem/terrific 0.8088"), "\(caption)")
        #expect(caption.contains("Strongest: 4.11 (0.26)"), "\(caption)")
        #expect(caption.contains("Patching scan of head outputs · eminem/terrific → eminem/sick"), "\(caption)")
        #expect(svg.texts.contains("Head") && svg.texts.contains("Layer 4"))
    }

    @Test func rawEffectsOnRequestAndForAnAblation() throws {
        let raw = try FigureInputs.scan(Self.heads(), values: .raw)
        #expect(raw.scan?.values == .raw && raw.matrices[0][4, 11] == Float(0.0341))
        let svg = SVGFacts(try draw(raw, format: .svg).data)
        #expect(svg.texts.contains("+0.034"))
        #expect(svg.texts.joined(separator: " ").contains("Colour: patched − target"))
        let ablation = try FigureInputs.scan(Self.heads(source: false))
        #expect(ablation.scan?.values == .raw, "an ablation has no source to normalise by")
        #expect(ablation.defaultTitle == "Ablation scan of head outputs · eminem/sick")
    }

    @Test func cellsWithoutAValueAreGrey() throws {
        let input = try FigureInputs.scan(Self.heads(skipped: ["2,3"]))
        #expect(input.scan?.missing == [2 * 12 + 3])
        var options = FigureOptions()
        options.topCount = 0
        let figure = try draw(input, options)
        let png = try DecodedPNG(figure.data)
        let (x, y) = figure.cellCenter(row: 2, column: 3)!
        let colour = png.color(x: x - figure.cell * figure.scale * 0.4, y: y)
        #expect(distance(colour, RGB(0.86, 0.86, 0.86)) < 0.03, "\(colour)")
        let svg = SVGFacts(try draw(input, format: .svg).data)
        #expect(svg.texts.joined(separator: " ").contains("Grey, crossed: no value (not patched"))
    }

    @Test func aScanIsNotAttentionAndViceVersa() throws {
        #expect(throws: FigureError.self) { try FigureInputs.make(kind: .scan, sources: [.trace(Fixtures.pair, name: "pair")]) }
        var broken = Self.heads()
        broken.effects.removeLast()
        #expect(throws: FigureError.self) { try FigureInputs.scan(broken) }
        let heatmap = try Fixtures.input(.heatmap)
        #expect(throws: FigureError.self) { try FigureRenderer.draw(.scan, heatmap, format: .png) }
    }
}
