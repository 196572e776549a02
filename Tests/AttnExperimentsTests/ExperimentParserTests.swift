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
        #expect(Array(experiment.inputs).map { var input = $0; input.position = nil; return input } == [InputSpec(id: "eminem", a: "the eminem tune was totally awesome.", b: "dude, that song from eminem was sick!", decoder: nil, baseName: "sick")])
        #expect(experiment.perturbations.map(\.id) == ["terrific", "available"])
        #expect(experiment.expectations.count == 18)
        #expect(experiment.interventions.map(\.id) == ["top3", "top1", "all-heads", "no-4.11", "no-5.4", "no-links"])
        #expect(experiment.scans.map(\.id) == ["heads"] && experiment.attributions.count == 2)
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
        #expect(described.contains { $0.hasPrefix("1:7 name:") && $0.contains("cannot name a file or folder") }, "\(described)")
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
        #expect(error.description == "/no/such/x.yaml: cannot open the file (No such file or directory); check the path")
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
        let inputs = Array(experiment.inputs)
        #expect(inputs.map(\.id) == ["one", "two", "three", "more-2"])
        #expect(inputs[0].a == "hello, world" && inputs[0].b == "bye")
        #expect(inputs[1].a == "say \"hi\"" && inputs[1].b == nil)
    }
    // MARK: Names that become paths

    @Test func namesThatWouldLeaveTheirFolderAreRefused() throws {
        let long = String(repeating: "x", count: 200)
        let found = problems("""
        name: ../../escaped
        models:
          - id: Models/x/..
          - id: /abs/model
            name: /etc
          - id: m
            name: ""
        inputs:
          - id: "a\\0b"
            a: text
          - id: \(long)
            a: text
          - id: .hidden
            a: text
        perturbations:
          - id: p
            replace: { text: ["\(String(repeating: "y", count: 130))"] }
        """).map { "\($0.line):\($0.column) \($0.key): \($0.message)" }
        func has(_ prefix: String, _ phrase: String) -> Bool { found.contains { $0.hasPrefix(prefix) && $0.contains(phrase) } }
        #expect(has("1:7 name:", #""../../escaped" cannot name a file or folder: it holds a '/' or '\\'"#), "\(found)")
        #expect(has("3:9 models[0].id:", #"".." cannot name a file or folder: it names the folder itself or the one above; give the model a name:"#), "\(found)")
        #expect(has("5:11 models[1].name:", "it holds a '/'"), "\(found)")
        #expect(has("7:11 models[2].name:", "it is empty"), "\(found)")
        #expect(has("9:9 inputs[0].id:", "it holds a NUL character"), "\(found)")
        #expect(has("11:9 inputs[1].id:", "it is 200 bytes long, more than 128"), "\(found)")
        #expect(has("13:9 inputs[2].id:", "it starts with '.'"), "\(found)")
        #expect(has("17:14 perturbations[0].replace:", "more than 128; shorten the replacement or the id"), "\(found)")
        #expect(found.count == 8, "\(found)")
    }

    @Test func aControlCharacterIsOneLineWithItsPosition() throws {
        let error = try #require(throws: ExperimentError.self) { try ExperimentParser.parse("name: x\nmodels: [{id: \u{7}m}]\n", file: "x.yaml") }
        #expect(error.description == "x.yaml:2:15: not valid YAML: control characters are not allowed")
    }

    @Test func aDuplicateKeyIsOneLineWithItsPosition() throws {
        let yaml = "name: x\nmodels: [{id: m}]\ninputs: [{id: i, a: t}]\nname: y\n"
        let error = try #require(throws: ExperimentError.self) { try ExperimentParser.parse(yaml, file: "x.yaml") }
        #expect(error.description == #"x.yaml:1:1: the key "name" appears more than once in the same mapping; keep one"#)
    }
}
