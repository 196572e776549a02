import AttnCore
import Foundation
import Testing
@testable import AttnFigures

/// The committed trace files: the synthetic translation the README's cross figure is drawn from.
/// Run with `ATTNLAB_WRITE_FIXTURES=1` to write them again after changing `SyntheticTraces`.
struct FixtureTests {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    @Test func translationFixtureIsTheSyntheticTrace() throws {
        let trace = SyntheticTraces.seq2seq()
        if ProcessInfo.processInfo.environment["ATTNLAB_WRITE_FIXTURES"] == "1" {
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/translation.trace.safetensors")
            try TraceFile.write(trace, to: source)
        }
        let stored = try TraceFile.read(Self.folder.appendingPathComponent("translation.trace.safetensors"))
        #expect(stored.tokens == trace.tokens)
        #expect(stored.decoderTokens == trace.decoderTokens)
        #expect(stored.stacks[.cross]?.attention.maxAbsDifference(trace.stacks[.cross]!.attention) == 0)
    }

    @Test func crossFigureFromTheFixtureFile() throws {
        let stored = try TraceFile.read(Self.folder.appendingPathComponent("translation.trace.safetensors"))
        let input = try FigureInputs.make(kind: .cross, sources: [.trace(stored, name: "translation.trace.safetensors")],
                                          selections: [HeadSelection(layer: 0, heads: .list([1]))])
        #expect(input.rowLabels.first == "<pad>" && input.columnLabels.last == "</s>")
        #expect(input.rowAxisTitle == "Decoder tokens (queries)")
        let pdf = PDFFacts(try FigureRenderer.render(.cross, input, format: .pdf))
        #expect(pdf.pageCount == 1 && pdf.embedsDejaVu)
    }

    /// The README's cross figure (layer 1, head 1): its three strongest cells are neighbours on the
    /// diagonal, and each keeps its value; no enlarged cell covers another or another's own cell.
    @Test func neighbouringTopCellsKeepTheirValues() throws {
        let stored = try TraceFile.read(Self.folder.appendingPathComponent("translation.trace.safetensors"))
        let input = try FigureInputs.make(kind: .cross, sources: [.trace(stored, name: "translation")],
                                          selections: [HeadSelection(layer: 1, heads: .list([1]))])
        let matrix = input.matrices[0]
        let top = FigureRenderer.topCells(matrix.scalars, columns: matrix.shape[1], count: 3)
        #expect(zip(top, top.dropFirst()).contains { abs($0.row - $1.row) <= 1 && abs($0.column - $1.column) <= 1 }, "the case needs neighbouring cells")
        let texts = SVGFacts(try FigureRenderer.render(.cross, input, format: .svg)).texts
        for cell in top {
            let value = String(format: "%.2f", matrix[cell.row, cell.column])
            let expected = top.filter { String(format: "%.2f", matrix[$0.row, $0.column]) == value }.count
            #expect(texts.filter { $0 == value }.count == expected, "value \(value) of cell \(cell.row), \(cell.column)")
        }
    }
}

