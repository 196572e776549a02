import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnViews

/// The scan view opened in headless Chromium: a head scan with a source, a word scan, and an
/// ablation scan (no source); its `#selftest` checks the grid's colours, the values and ranking
/// shown, the raw toggle, hover, opening cells into the head views of target and source, the
/// hover mirrored between them, and export. Bad input is refused before any page is written.
@Suite(.serialized)
struct ScanViewTests {
    static let folder = BrowserTests.folder

    /// Target: the synthetic pair; source: "sick" replaced by "terrific", the heads' attention of another seed.
    static let target = SyntheticTraces.pair()
    static let source: Trace = {
        var trace = SyntheticTraces.pair()
        let other = SyntheticTraces.make(tokens: trace.tokens, inputs: trace.inputs, layers: 2, heads: 4, headDim: 16, seed: 9)
        trace.stacks = other.stacks
        let sick = trace.tokens.firstIndex { $0.text == "sick" }!
        trace.tokens[sick].text = "terrific"
        trace.tokens[sick].display = "terrific"
        trace.inputs.b = trace.inputs.b!.replacingOccurrences(of: "sick", with: "terrific")
        trace.outputs = TraceOutputs(similarity: 0.81)
        return trace
    }()

    /// 2 layers × 4 heads; 1.3 is the strongest (normalised 0.75), 0.2 the most negative.
    static func headScan(source: Bool = true) -> ScanResult {
        ScanResult(stack: .encoder, site: .head, mode: source ? .patch : .ablate, metric: "similarity", target: "eminem/sick",
                   source: source ? "eminem/terrific" : nil, targetValue: 0.68, sourceValue: source ? 0.8 : nil,
                   layers: [0, 1], columns: ["0", "1", "2", "3"],
                   effects: [[0.01, -0.002, -0.03, 0.004], [0.02, 0.0, 0.012, 0.09]])
    }

    /// Layer × word over the pair's words, one cell skipped.
    static func wordScan() -> ScanResult {
        let columns = Array(ScanPayload.wordStarts(target).sorted { $0.value < $1.value }.map(\.key).prefix(6))
        let effects = [0, 1].map { layer in columns.indices.map { Double(($0 + 1) * (layer + 1)) * (($0 % 2 == 0) ? 0.01 : -0.005) } }
        return ScanResult(stack: .encoder, site: .residual, mode: .patch, metric: "similarity", target: "eminem/sick",
                          source: "eminem/terrific", targetValue: 0.68, sourceValue: 0.8, layers: [0, 1], columns: columns,
                          effects: effects, skipped: ["1,2"])
    }

    func write(_ scan: ScanResult, source: Trace?, name: String, options: ScanView.Options = ScanView.Options()) throws -> URL {
        let url = Self.folder.appendingPathComponent("\(name).html")
        try ScanView.write(scan, target: Self.target, source: source, options: options, to: url)
        return url
    }

    static let checks = ["first draw", "no markup from tokens", "grid of layers × columns", "canvas painted", "strongest cell fully coloured",
                         "colours follow the sign", "target and source values shown", "ranked cells listed", "hover shows a cell",
                         "click opens the head views", "head views drawn", "ranked row opens its cell", "export SVG", "export PNG"]
    static let pairChecks = ["raw toggle", "toggle back", "target and source side by side", "element ids stay unique",
                             "hover mirrors to the other side", "leaving clears both sides"]

    func expectPassed(_ result: Chromium.SelfTest, expecting names: [String], _ label: String) {
        #expect(result.errors.isEmpty, "\(label): console errors \(result.errors)")
        #expect(result.failures.isEmpty, "\(label): failed checks \(result.failures)")
        let missing = Set(names).subtracting(result.checkNames)
        #expect(missing.isEmpty, "\(label): checks not run \(missing.sorted())")
        #expect(result.passed, "\(label)")
    }

    @Test func headScan() throws {
        let result = try Chromium.selfTest(try write(Self.headScan(), source: Self.source, name: "scan-heads"), windowSize: (1300, 900))
        expectPassed(result, expecting: Self.checks + Self.pairChecks, "scan view of heads")
        #expect(result.facts["strongest"] as? String == "1.3")
        #expect(result.facts["cells"] as? Int == 8)
        #expect(result.facts["values"] as? String == "normalized")
        #expect(result.facts["open"] as? [Int] == [1, 3], "the ranked row opened the strongest cell")
        #expect(result.facts["mirrored"] as? [String] == ["sick", "terrific"], "hovering sick in the target shows terrific in the source")
        let file = BrowserTests.screenshots.appendingPathComponent("view-scan-heads.png")
        try Chromium.screenshot(try write(Self.headScan(), source: Self.source, name: "shot-scan-heads"), to: file, width: 1200, height: 900)
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
        #expect(size > 15_000, "screenshot \(file.path) is \(size) bytes: is the view blank?")
    }

    @Test func wordScanOpensTheWordsTokens() throws {
        let result = try Chromium.selfTest(try write(Self.wordScan(), source: Self.source, name: "scan-words", options: ScanView.Options(mode: .light, raw: true)), windowSize: (1300, 900))
        expectPassed(result, expecting: Self.checks + Self.pairChecks, "scan view of words")
        #expect(result.facts["values"] as? String == "raw")
    }

    @Test func ablationScanHasOnlyTheTarget() throws {
        let result = try Chromium.selfTest(try write(Self.headScan(source: false), source: nil, name: "scan-ablation", options: ScanView.Options(cell: "")), windowSize: (1300, 900))
        expectPassed(result, expecting: Self.checks, "scan view of an ablation")
        #expect(result.facts["values"] as? String == "raw", "an ablation has no source to normalise by")
    }

    @Test func pageIsSelfContained() throws {
        let page = String(decoding: try ScanView.render(Self.headScan(), target: Self.target, source: Self.source), as: UTF8.self)
        let withoutNamespace = page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
        for pattern in ["<script src", "<link", "http://", "https://", "@import", "url("] {
            #expect(!withoutNamespace.contains(pattern), "scan page contains \(pattern)")
        }
        #expect(page.contains("AttnLab.boot('scan')"))
        // The payload cannot end its script element, whatever the tokens hold.
        let reader = try PageReader(Data(page.utf8))
        for forbidden in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            #expect(!reader.payloadText.contains(forbidden), "payload contains \(forbidden.unicodeScalars.first!.value)")
        }
    }

    @Test func scanFileRoundTripsAndDraws() throws {
        let url = Self.folder.appendingPathComponent("scan.json")
        try ScanFile(result: Self.headScan(), target: Self.target, source: Self.source).write(to: url)
        let file = try ScanFile.read(url)
        #expect(file.result == Self.headScan())
        #expect(file.target?.tokens == Self.target.tokens && file.source?.tokens == Self.source.tokens)
        let attention = file.target!.stacks[.encoder]!.attention.scalars, original = Self.target.stacks[.encoder]!.attention.scalars
        #expect(zip(attention, original).map { abs($0 - $1) }.max()! < 5e-4, "float16 keeps the attention within 5e-4")
        #expect(file.target?.stacks[.encoder]?.query == nil, "only attention is kept")
        _ = try ScanView.render(file)
    }

    @Test func badInputIsRefused() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        let wrongModel = SyntheticTraces.single()   // 3 layers × 4 heads, other tokens: fits the layers, so:
        var moreLayers = Self.headScan()
        moreLayers.layers = [0, 5]
        #expect(message { _ = try ScanView.render(moreLayers, target: Self.target, source: Self.source) }
            .contains("the scan names layer 5, but the target trace has 2 layers"))
        var moreHeads = Self.headScan()
        moreHeads.columns = ["0", "1", "2", "3", "4"]
        moreHeads.effects = moreHeads.effects.map { $0 + [0] }
        moreHeads.normalized = moreHeads.normalized.map { $0 + [nil] }
        #expect(message { _ = try ScanView.render(moreHeads, target: wrongModel, source: nil) }.contains("5 heads per layer, but the target trace has 4"))
        #expect(message { _ = try ScanView.render(Self.headScan(), target: Self.target, source: Self.source, options: ScanView.Options(cell: "7.7")) }
            .contains("the scan has no cell 7.7; name one as the scan does, such as 1.3"))
        #expect(message { _ = try ScanView.render(ScanFile(result: Self.headScan())) }.contains("holds no traces"))
        #expect(message { _ = try ViewRenderer.render(Self.target, view: .scan) }.contains("the scan view draws a scan, not a trace"))
        let url = Self.folder.appendingPathComponent("not-a-scan.json")
        try Data("{\"layers\": [0], \"columns\": [\"0\"]}".utf8).write(to: url)
        #expect(message { _ = try ScanFile.read(url) }.contains("not a scan"))
        try Data("{\"layers\": [0, 1], \"columns\": [\"0\"], \"effects\": [[0.1]], \"normalized\": [[0.1]], \"stack\": \"encoder\", \"site\": \"head\", \"mode\": \"patch\", \"metric\": \"similarity\", \"target\": \"t\", \"target_value\": 0.5, \"skipped\": []}".utf8).write(to: url)
        #expect(message { _ = try ScanFile.read(url) }.contains("effects of 1 rows"))
    }
}
