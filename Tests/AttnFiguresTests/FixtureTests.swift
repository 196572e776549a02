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
}
