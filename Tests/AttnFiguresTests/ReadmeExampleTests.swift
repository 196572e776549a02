import AttnCore
import AttnFigures
import Foundation
import Testing

/// The README's "From Swift" example, line for line (Tools/readme/check_readme.py checks that the
/// README's block is in this file), through the public API only (no @testable): what a package that
/// depends on the AttnLab library can call.
@Suite struct ReadmeExampleTests {
    @Test func theReadmeExampleDrawsAHeatmapAndFindsRegions() throws {
        let trace = SyntheticTraces.pair()       // in the README, a trace read with TraceFile.read
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-readme-\(UUID().uuidString).pdf")
        defer { try? FileManager.default.removeItem(at: url) }

        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(trace, name: "eminem")],
                                          selections: [HeadSelection(layer: 5, heads: .list([4]))])
        var options = FigureOptions()
        options.mode = .questionContext
        let pdf: Data = try FigureRenderer.render(.heatmap, input, options: options, format: .pdf)
        let regions = try RegionDetector.detect(input.matrices[0])      // [Region], strongest first
        try FigureRenderer.write(.heatmap, input, options: options, to: url)  // atomic; nothing on error

        #expect(pdf.starts(with: Data("%PDF".utf8)))
        #expect(try Data(contentsOf: url).starts(with: Data("%PDF".utf8)))
        #expect(zip(regions, regions.dropFirst()).allSatisfy { $0.peak >= $1.peak })
    }
}
