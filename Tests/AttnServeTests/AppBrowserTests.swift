import AttnCore
import AttnExperiments
import Foundation
import Testing
@testable import AttnServe

/// The app in real headless Chromium, driven over the DevTools protocol as a person would use it:
/// open it with the token, perturb a word by typing its replacement, ablate a head, pin an
/// expectation, save as experiment; then `attnlab run` the saved file and compare every number.
@Suite(.serialized)
struct AppBrowserTests {
    /// Screenshots go here; set ATTNLAB_SCREENSHOTS to keep them (docs/images/app.png is made so).
    static let screenshots: URL = {
        let url = ProcessInfo.processInfo.environment["ATTNLAB_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-app-screenshots")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["ATTNLAB_BIN"] { return URL(fileURLWithPath: path) }
        let candidates = [Bundle.main.bundleURL.appendingPathComponent("attnlab"),
                          Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("attnlab"),
                          ServerHarness.repository.appendingPathComponent(".build/debug/attnlab")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    @Test func exploreAblateSaveAndReproduce() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let record = try await offPool { try Self.explore(server) }
            // What the app showed, variant by variant, against what `attnlab run` computes from the saved file.
            let run = try Self.run(record.file, in: server.project)
            #expect(run.status == 0, "attnlab run: \(run.output)")
            let printed = try #require(run.output.split(separator: "\n").first { $0.hasPrefix("run: ") }.map { String($0.dropFirst(5)) })
            let folder = printed.hasPrefix("/") ? URL(fileURLWithPath: printed) : server.project.appendingPathComponent(printed)
            let ranRun = try RunFolder(folder)
            let manifest = ranRun.manifest
            let variants = try ranRun.records()
            #expect(Set(variants.map(\.variant.path)) == Set(record.variants.map(\.path)), "the run's variants")
            #expect(manifest.passed)
            for shown in record.variants {
                let ran = try #require(variants.first { $0.variant.path == shown.path }, "\(shown.path) was not run")
                #expect(ran.outputs == shown.outputs, "\(shown.path): outputs")
                #expect(ran.label == shown.label, "\(shown.path): label")
                let ranTrace = try ranRun.trace(ran)
                let servedTrace = try await APITests.trace(server, shown.trace)
                #expect(ranTrace.stacks == servedTrace.stacks, "\(shown.path): every attention weight, query, key and value")
                #expect(ranTrace.outputs == servedTrace.outputs, "\(shown.path): outputs")
                #expect(ranTrace.tokens == servedTrace.tokens, "\(shown.path): tokens")
                #expect(ranTrace.interventions == servedTrace.interventions, "\(shown.path): interventions")
            }
            #expect(record.variants.contains { $0.path.contains("+") } == record.savedIntervention)
        }
    }

    struct ShownVariant: Sendable {
        var path: String
        var trace: String
        var outputs: TraceOutputs
        var label: String?
    }

    struct Record: Sendable {
        var file: String
        var variants: [ShownVariant]
        var savedIntervention: Bool
    }

    /// How long a step may take: the whole suite runs beside this test on two loaded cores.
    static let patience: TimeInterval = 240

    /// The person's session; returns what the page showed when it saved.
    static func explore(_ server: ServerHarness) throws -> Record {
        let browser = try HeadlessBrowser.launch(width: 1500, height: 1900)
        defer { browser.close() }
        try browser.navigate(server.address, timeout: Self.patience)
        #expect(try browser.evaluate("location.search") as? String == "", "the token left the address")
        try browser.wait("window.AttnLabApp && AttnLabApp.updates >= 1", timeout: 180)
        #expect(try text(browser, ".card[data-role=base] [data-output=similarity]") == "similarity 0.6790")

        // Click "sick" in sentence B and type its replacement, letter by letter.
        _ = try browser.evaluate("document.querySelector('.word[data-word=\"sick\"][data-segment=\"1\"]').click()")
        try browser.wait("document.activeElement && document.activeElement.id === 'replacement'", timeout: patience)
        for letter in "terrific" {
            try browser.send("Input.insertText", ["text": String(letter)])
        }
        try browser.wait("AttnLabApp.idle() && document.querySelector('.card[data-variant=\"terrific\"]') && AttnLabApp.result().variants.length === 2", timeout: patience)
        #expect(try text(browser, ".card[data-variant=terrific] [data-output=similarity]") == "similarity 0.8088")
        #expect(try text(browser, ".card[data-variant=terrific] .label") == "paraphrase")
        #expect((try browser.evaluate("document.querySelectorAll('#changed-heads tr').length") as? Int ?? 0) > 2)
        // The views are the static pages' (APITests compares their bytes), each in a sandboxed frame,
        // loaded before the update counts as done.
        let frames = try browser.evaluate("JSON.stringify(AttnLabApp.frames())") as? String ?? "{}"
        let shownTraces = try browser.evaluate("JSON.stringify(AttnLabApp.result().variants.map(v => v.trace))") as? String ?? "[]"
        struct Frame: Decodable { var src: String?; var kind: String?; var trace: String?; var loaded: Bool; var drawn: Int? }
        let state = try JSONDecoder().decode([String: Frame].self, from: Data(frames.utf8))
        let traces = try JSONDecoder().decode([String].self, from: Data(shownTraces.utf8))
        #expect(state["left"]?.trace == traces[0] && state["right"]?.trace == traces[1], "the frames show base and variant: \(frames)")
        #expect(state.values.allSatisfy { $0.loaded && $0.kind == "head" && ($0.src ?? "").hasPrefix("/api/view?") }, "\(frames)")
        // Typing sends each frame the new trace's data, which its own view code draws.
        #expect((state["right"]?.drawn ?? 0) >= 1, "\(frames)")
        #expect(try browser.evaluate("document.getElementById('frame-left').getAttribute('sandbox')") as? String == "allow-scripts allow-downloads")

        // A patching scan from the variant into the base; a cell opens that head for source and target.
        _ = try browser.evaluate("document.getElementById('scan-run').click()")
        try browser.wait("document.querySelectorAll('#scan-grid .cell').length === 72", timeout: patience)
        let scan = try browser.evaluate("document.querySelector('#scan .muted').textContent") as? String ?? ""
        #expect(scan.hasPrefix("similarity: target 0.6790, source 0.8088"), "\(scan)")
        _ = try browser.evaluate("document.querySelector('#scan-grid [data-cell=\"5.4\"]').click()")
        try browser.wait("document.getElementById('view-note').textContent.includes('layer 5, head 4')", timeout: patience)
        try browser.wait("AttnLabApp.frames().left.trace === AttnLabApp.result().variants[1].trace && AttnLabApp.frames().right.trace === AttnLabApp.result().variants[0].trace && AttnLabApp.frames().left.drawn >= 2 && AttnLabApp.frames().right.drawn >= 2", timeout: patience)
        #expect(try browser.evaluate("document.getElementById('caption-left').textContent") as? String == "terrific (source)")
        #expect(try browser.evaluate("document.getElementById('caption-right').textContent") as? String == "base (target)")

        // Pin "this must stay paraphrase", then ablate a head and watch the output change.
        _ = try browser.evaluate("document.querySelector('.card[data-variant=\"terrific\"] .pin-label').click()")
        try browser.wait("AttnLabApp.idle() && document.querySelector('#pinned .pass')", timeout: patience)
        let before = try text(browser, ".card[data-variant=terrific] [data-output=similarity]")
        _ = try browser.evaluate("document.querySelector('#heads-grid [data-head=\"5.4\"]').click()")
        try browser.wait("AttnLabApp.idle() && document.querySelector('.card[data-role=\"variant+intervention\"]')", timeout: patience)
        let ablated = try text(browser, ".card[data-role=\"variant+intervention\"] [data-output=similarity]")
        #expect(ablated != before && ablated.hasPrefix("similarity "), "ablating 5.4: \(before) → \(ablated)")
        #expect(try browser.evaluate("document.querySelector('#heads-grid [data-head=\"5.4\"]').classList.contains('ablated')") as? Bool == true)
        try browser.wait("AttnLabApp.idle() && AttnLabApp.frames().left.loaded && AttnLabApp.frames().right.loaded", timeout: patience)
        try Data(browser.screenshot(fullPage: true)).write(to: screenshots.appendingPathComponent("app.png"))

        // Save as experiment. Until the experiment parser reads `interventions:`, the app refuses to
        // write a file `attnlab run` would refuse, and the experiment is saved without the ablation.
        let supportsInterventions = ExperimentParser.topLevelKeys.contains("interventions")
        _ = try browser.evaluate("document.getElementById('save-name').value = 'from-the-app'; document.getElementById('save').click()")
        try browser.wait("document.querySelector('#saved-path, #save-error')", timeout: patience)
        if !supportsInterventions {
            #expect(try text(browser, "#save-error").contains("interventions"), "the refusal names what the parser lacks")
            _ = try browser.evaluate("document.getElementById('clear-ablation').click()")
            try browser.wait("AttnLabApp.idle() && !document.querySelector('.card[data-role=\"variant+intervention\"]')", timeout: patience)
            _ = try browser.evaluate("document.getElementById('save').click()")
            try browser.wait("document.querySelector('#saved-path')", timeout: patience)
        }
        #expect(try text(browser, "#saved-path").hasPrefix("wrote Experiments/from-the-app.yaml"))

        let result = try #require(try browser.evaluate("JSON.stringify(AttnLabApp.result().variants.map(v => ({path: v.path, trace: v.trace, outputs: v.outputs, label: v.label})))") as? String)
        struct Shown: Decodable { var path: String; var trace: String; var outputs: TraceOutputs; var label: String? }
        let shown = try JSONDecoder().decode([Shown].self, from: Data(result.utf8))
        return Record(file: "Experiments/from-the-app.yaml",
                      variants: shown.map { ShownVariant(path: $0.path, trace: $0.trace, outputs: $0.outputs, label: $0.label) },
                      savedIntervention: supportsInterventions)
    }

    /// Text typed into the page stays text: no element, no script.
    @Test func typedMarkupStaysText() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            try await offPool { () throws in
                let browser = try HeadlessBrowser.launch()
                defer { browser.close() }
                try browser.navigate(server.address, timeout: Self.patience)
                try browser.wait("window.AttnLabApp && AttnLabApp.updates >= 1", timeout: 180)
                let markup = "<img src=x onerror=\"window.__attnlabInjected=1\"> <script>window.__attnlabInjected=2</script> &amp; done"
                let literal = String(data: try JSONSerialization.data(withJSONObject: [markup]), encoding: .utf8)!
                _ = try browser.evaluate("AttnLabApp.type('text-a', \(literal)[0])")
                try browser.wait("AttnLabApp.result().variants[0].a.includes('onerror')")
                usleep(300_000)
                #expect(try browser.evaluate("document.querySelectorAll('main img, main script').length") as? Int == 0)
                #expect(try browser.evaluate("window.__attnlabInjected === undefined") as? Bool == true)
                let words = try browser.evaluate("Array.from(document.querySelectorAll('.word')).map(w => w.textContent).join(' ')") as? String ?? ""
                #expect(words.contains("<") && words.contains("img"), "the words show the markup as text: \(words)")
            }
        }
    }

    static func text(_ browser: HeadlessBrowser, _ selector: String) throws -> String {
        let literal = String(data: try JSONSerialization.data(withJSONObject: [selector]), encoding: .utf8)!
        return try browser.evaluate("(document.querySelector(\(literal)[0]) || {}).textContent || ''") as? String ?? ""
    }

    static func run(_ file: String, in folder: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = ["run", file]
        process.currentDirectoryURL = folder
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
