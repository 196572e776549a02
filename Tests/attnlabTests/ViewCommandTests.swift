import AttnCore
import Foundation
import Testing

/// `attnlab view` as a user types it: where the page goes without --out, standard output with
/// --out -, --open, a run's pages into a folder (and not into a file named .html), the compare view
/// of two traces and of a run.
@Suite struct ViewCommandTests {
    static let a = "the eminem tune was totally awesome."

    /// Two traces of the case study, sick and terrific, in a fresh folder.
    static func traces() throws -> URL {
        let folder = try CLI.temporaryFolder()
        for (name, word) in [("eminem", "sick"), ("terrific", "terrific")] {
            let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", a, "--pair", "dude, that song from eminem was \(word)!",
                                      "--out", folder.appendingPathComponent("\(name).trace.safetensors").path])
            #expect(result.status == 0, "\(result.stderr)")
        }
        return folder
    }

    @Test func withoutOutThePageGoesBesideTheUserAndOpens() throws {
        let folder = try Self.traces()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trace = folder.appendingPathComponent("terrific.trace.safetensors").path
        // The current folder, named after the trace and the view.
        let work = folder.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let plain = try CLI.run(["view", trace, "--view", "model"], in: work)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("terrific-model.html").path))

        // --open runs $BROWSER with the page's path.
        let browser = folder.appendingPathComponent("browser.sh"), opened = folder.appendingPathComponent("opened.txt")
        try "#!/bin/sh\necho \"$1\" > \(opened.path)\n".write(to: browser, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: browser.path)
        let open = try CLI.run(["view", trace, "--open"], in: work, environment: ["BROWSER": browser.path])
        #expect(open.status == 0, "\(open.stderr)")
        #expect(try String(contentsOf: opened, encoding: .utf8) == work.appendingPathComponent("terrific-head.html").path + "\n")
        let broken = try CLI.run(["view", trace, "--open"], in: work, environment: ["BROWSER": "/bin/false"])
        #expect(broken.status == 1 && broken.stderr.hasPrefix("error: ") && broken.stderr.contains("wrote the page, but"), "\(broken.stderr)")

        // --out - writes the page to standard output.
        let stdout = try CLI.run(["view", trace, "--out", "-"], in: work)
        #expect(stdout.status == 0 && stdout.stdout.hasPrefix("<!doctype html>") && stdout.stdout.contains("AttnLab.boot('head')"))
    }

    @Test func compareOfTwoTracesAndOfARun() throws {
        let folder = try Self.traces()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (sick, terrific) = (folder.appendingPathComponent("eminem.trace.safetensors").path, folder.appendingPathComponent("terrific.trace.safetensors").path)
        let compare = try CLI.run(["view", sick, terrific, "--view", "compare"], in: folder)
        #expect(compare.status == 0, "\(compare.stderr)")
        let page = try String(contentsOf: folder.appendingPathComponent("eminem-terrific-compare.html"), encoding: .utf8)
        #expect(page.contains("AttnLab.boot('compare')") && page.contains(#""changedTo":"terrific""#))
        let two = try CLI.run(["view", sick, terrific], in: folder)
        #expect(two.status == 2 && two.stderr.contains("add --view compare"), "\(two.stderr)")

        // A run: every perturbed variant against its base, into a folder; a .html name is refused.
        let runs = folder.appendingPathComponent("runs")
        #expect(try CLI.run(["run", "Experiments/paraphrase-eminem.yaml", "--runs", runs.path]).status == 0)
        let run = try #require(try FileManager.default.contentsOfDirectory(at: runs.appendingPathComponent("paraphrase-eminem"), includingPropertiesForKeys: nil).first)
        let refused = try CLI.run(["view", run.path, "--out", folder.appendingPathComponent("x.html").path])
        #expect(refused.status == 2 && refused.stderr.contains("give --out a folder"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("x.html").path), "no folder named x.html")
        let pages = folder.appendingPathComponent("pages")
        let views = try CLI.run(["view", run.path, "--view", "compare", "--out", pages.path])
        #expect(views.status == 0, "\(views.stderr)")
        for name in ["terrific", "available"] {
            #expect(FileManager.default.fileExists(atPath: pages.appendingPathComponent("minilm/eminem/\(name)-compare.html").path))
        }
        #expect(!FileManager.default.fileExists(atPath: pages.appendingPathComponent("minilm/eminem/sick-compare.html").path), "the base has nothing to compare with")
        // The run itself wrote the compare view the experiment lists: base against variant.
        let listed = try String(contentsOf: run.appendingPathComponent("views/minilm/eminem/terrific-compare.html"), encoding: .utf8)
        #expect(listed.contains("AttnLab.boot('compare')") && listed.contains(#""names":["eminem\/sick","eminem\/terrific"]"#))
    }
}
