import Foundation
import Testing
@testable import AttnExperiments

/// Every problem in an experiment file is reported with its line and column, the key, and what is allowed.
@Suite struct ExperimentParserTests {
    func problems(_ yaml: String) -> [ExperimentError.Problem] {
        do {
            _ = try ExperimentParser.parse(yaml, file: "x.yaml")
            return []
        } catch let error as ExperimentError {
            return error.problems
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func readsTheCaseStudy() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Experiments/paraphrase-eminem.yaml")
        let experiment = try ExperimentParser.load(url)
        #expect(experiment.name == "paraphrase-eminem")
        #expect(experiment.models.map(\.name) == ["minilm"])
        #expect(experiment.models[0].threshold == 0.75 && experiment.models[0].task == .similarity)
        #expect(experiment.inputs.map { var input = $0; input.position = nil; return input } == [InputSpec(id: "eminem", a: "the eminem tune was totally awesome.", b: "dude, that song from eminem was sick!", decoder: nil, baseName: "sick")])
        #expect(experiment.perturbations.map(\.id) == ["terrific", "available"])
        #expect(experiment.expectations.count == 8)
        #expect(experiment.capture == [.qkv])
        #expect(experiment.hash.count == 64)
    }

    @Test func listsEveryProblemWithItsLine() {
        let found = problems("""
        name: bad name!
        models:
          - id: m
            task: simlarity
            treshold: 0.7
        inputs:
          - id: one
        perturbations:
          - id: p
            replace: { sick: terrific }
            delete: dude
        expect:
          - variant: one
            label: x
          - variant: one/p
            attention: { from: a, min: 0.3 }
        bogus: 1
        """)
        let described = found.map { "\($0.line):\($0.column) \($0.key): \($0.message)" }
        #expect(described.contains { $0.hasPrefix("1:7 name:") && $0.contains("cannot name a folder") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("4:11 models[0].task:") && $0.contains("choose one of similarity, classification") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("5:5 models[0].treshold:") && $0.contains("unknown key \"treshold\"; allowed: id, name, task, threshold") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("7:5 inputs[0]:") && $0.contains("missing \"a\"") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("9:5 perturbations[0]:") && $0.contains("one kind per perturbation") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("13:14 expect[0].variant:") && $0.contains("input/variant") }, "\(described)")
        #expect(described.contains { $0.contains("expect[1].attention:") && $0.contains("missing \"to\"") }, "\(described)")
        #expect(described.contains { $0.hasPrefix("17:1 bogus:") }, "\(described)")
        #expect(found.count == 8, "\(described)")
    }

    @Test func reportsBrokenYAMLWithItsPosition() {
        let found = problems("name: x\nmodels: [\n  - id: m\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("not valid YAML") == true)
        #expect((found.first?.line ?? 0) >= 2)
    }

    @Test func anEmptyFileSaysWhatIsNeeded() {
        #expect(problems("").first?.message.contains("needs at least name, models and inputs") == true)
    }

    @Test func errorMessageNamesTheFileLineAndColumn() {
        do {
            _ = try ExperimentParser.parse("name: x\nmodels: []\ninputs: []\n", file: "Experiments/x.yaml")
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("Experiments/x.yaml:2:9: models: list at least one model"), "\(error)")
        }
    }

    @Test func aMissingFileIsAnExplainedError() throws {
        let error = try #require(throws: ExperimentError.self) { try ExperimentParser.load(URL(fileURLWithPath: "/no/such/x.yaml")) }
        #expect(error.location == "/no/such/x.yaml" && error.hint == "check the path" && error.problems.isEmpty)
        #expect(error.description == "/no/such/x.yaml: cannot read the experiment file; check the path")
    }

    @Test func expandsReplacementListsIntoOneVariantEach() throws {
        let experiment = try ExperimentParser.parse("""
        name: x
        models: [{id: m}]
        inputs: [{id: i, a: "it was sick"}]
        perturbations:
          - id: adj
            replace: { sick: [terrific, "just great"] }
          - id: gone
            delete: [it, was]
        """, file: "x.yaml")
        #expect(experiment.perturbations.map(\.id) == ["adj-terrific", "adj-just-great", "gone-it", "gone-was"])
    }

    @Test func readsInputsFromCSVAndJSONL() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "id,a,b\none,\"hello, world\",bye\ntwo,\"say \"\"hi\"\"\",\n".write(to: folder.appendingPathComponent("pairs.csv"), atomically: true, encoding: .utf8)
        try "{\"id\": \"three\", \"a\": \"x\", \"b\": \"y\"}\n{\"a\": \"z\"}\n".write(to: folder.appendingPathComponent("more.jsonl"), atomically: true, encoding: .utf8)
        let experiment = try ExperimentParser.parse("""
        name: x
        models: [{id: m}]
        inputs:
          - file: pairs.csv
          - file: more.jsonl
        """, file: "x.yaml", folder: folder)
        #expect(experiment.inputs.map(\.id) == ["one", "two", "three", "more-2"])
        #expect(experiment.inputs[0].a == "hello, world" && experiment.inputs[0].b == "bye")
        #expect(experiment.inputs[1].a == "say \"hi\"" && experiment.inputs[1].b == nil)
    }
}
