import Foundation
import Testing

/// `attnlab scan` with its files (scan JSON with both traces, the scan view, the scan figure), then
/// `attnlab view` and `attnlab figure --kind scan` on the JSON, as a user runs them; bad input is
/// one error line and leaves no file.
@Suite(.serialized) struct ScanCommandTests {
    static let target = ["--model", CLI.miniLM, "--text", "the eminem tune was totally awesome.",
                         "--pair", "dude, that song from eminem was sick!"]
    static let source = ["--source-pair", "dude, that song from eminem was terrific!"]

    @Test func scanWritesItsFilesAndTheyAreReadBack() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (json, page, figure) = (folder.appendingPathComponent("scan.json"), folder.appendingPathComponent("scan.html"),
                                    folder.appendingPathComponent("scan.png"))
        let scan = try CLI.run(["scan"] + Self.target + Self.source + ["--threads", "2", "--top", "3",
                                "--out", json.path, "--view", page.path, "--figure", figure.path])
        #expect(scan.status == 0, "\(scan.stderr)")
        let lines = scan.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("target 0.6790, source 0.8088 (normalised: 0 = target, 1 = source)"), "\(scan.stdout)")
        #expect(lines.contains { $0.hasPrefix("4.11  +0.0341") }, "the strongest head is 4.11: \(scan.stdout)")
        #expect(lines.filter { $0.range(of: #"^ *\d+\.\d+ +[+-]0\.\d{4}"#, options: .regularExpression) != nil }.count == 3, "--top 3")

        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
        #expect(object["target"] as? String == "sick" && object["source"] as? String == "terrific", "named by the words that differ")
        let traces = object["traces"] as? [String: String]
        #expect(traces?.keys.sorted() == ["source", "target"], "both traces are kept")
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.contains("AttnLab.boot('scan')") && !html.contains("<script src"))
        #expect(try Data(contentsOf: figure).prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "a PNG")

        let view = try CLI.run(["view", json.path, "--out", folder.appendingPathComponent("again.html").path, "--mode", "light"])
        #expect(view.status == 0 && view.stdout.contains("scan view, 6 × 12 cells"), "\(view.stdout)\(view.stderr)")
        let svg = try CLI.run(["figure", "--kind", "scan", json.path, "--raw", "--out", folder.appendingPathComponent("raw.svg").path])
        #expect(svg.status == 0, "\(svg.stderr)")
        let text = try String(contentsOf: folder.appendingPathComponent("raw.svg"), encoding: .utf8)
        #expect(text.contains("+0.034") && text.contains("target sick 0.6790"), "raw effects and the values in the caption")
    }

    @Test func badInputIsOneErrorAndNoFile() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("scan.json").path, page = folder.appendingPathComponent("scan.html").path
        func expectError(_ arguments: [String], status: Int32 = 1, _ fragment: String) throws {
            let result = try CLI.run(arguments)
            #expect(result.status == status, "\(arguments): status \(result.status), \(result.stderr)")
            #expect(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
            if status == 1 {
                #expect(result.stderr.split(separator: "\n").count == 1, "one error line: \(result.stderr)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "\(arguments) left a file")
        }
        try expectError(["scan"] + Self.target + Self.source + ["--layers", "9", "--out", out, "--view", page], "layer 9 is out of range")
        try expectError(["scan"] + Self.target + Self.source + ["--metric", "p:nothing", "--out", out], "the similarity task has no probabilities for p(nothing)")
        try expectError(["scan"] + Self.target + Self.source + ["--figure", folder.appendingPathComponent("x.gif").path], status: 2, "end the file name with .png, .pdf or .svg")
        try expectError(["scan"] + Self.target + Self.source + ["--view", folder.appendingPathComponent("x.png").path], status: 2, "end the file name with .html")
        try expectError(["scan"] + Self.target + ["--out", out], status: 2, "a patching scan needs a source")
        try expectError(["scan"] + Self.target + Self.source + ["--mode", "ablate"], status: 2, "an ablation scan zeroes each site and reads no source")
        try expectError(["scan"] + Self.target + Self.source + ["--site", "scores"], status: 2, "a scan patches head, resid, attn or mlp sites")
        try expectError(["scan"] + Self.target + Self.source + ["--stack", "decoder", "--out", out], "has no decoder stack")
        try expectError(["view", folder.appendingPathComponent("missing.json").path, "--out", page], "cannot open the file")
        try expectError(["figure", "--kind", "scan", "Experiments/paraphrase-eminem.yaml", "--out", folder.appendingPathComponent("x.png").path], "not a scan")
        try expectError(["figure", "--kind", "heatmap", "--raw", "Experiments/paraphrase-eminem.yaml", "--out", folder.appendingPathComponent("x.png").path],
                        status: 2, "--raw is for --kind scan")
    }
}
