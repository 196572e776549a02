import AttnCore
import Testing
@testable import AttnExperiments

/// A draft written as YAML reads back, through the parser, as the same experiment: whatever the
/// texts hold.
@Suite struct ExperimentDraftTests {
    static let awkward = [
        "the eminem tune was totally awesome.", "quote \" and backslash \\ and 'single'", "line\nbreak\tand tab\r",
        "# not a comment: nor a key", "- not a list", "  leading and trailing  ", "{braces} [brackets] & *star !tag %percent @at `tick`",
        "emoji 👩🏽‍🚀 and é and 東京", "separators \u{2028} \u{2029} \u{85} bom \u{FEFF} nul-free \u{7} \u{1B}[31m", "yes", "null", "~", "0.75", "",
    ]

    func draft(a: String, b: String? = nil, word: String = "sick") -> ExperimentDraft {
        ExperimentDraft(
            name: "draft-test", description: "saved \"live\": \(a)",
            models: [.init(id: "sentence-transformers/all-MiniLM-L6-v2", task: .similarity, threshold: 0.75, labels: ["not-paraphrase", "paraphrase"], topK: 5)],
            inputs: [.init(id: "eminem", a: a, b: b, base: "sick")],
            perturbations: [.init(id: "terrific", kind: "replace", word: word, with: "terrific \"great\"", in: "b"),
                            .init(id: "no-dude", kind: "delete", word: "dude"),
                            .init(id: "really", kind: "insert", word: word, text: "really", after: true, in: "b"),
                            .init(id: "masked", kind: "mask", word: "awesome", in: "a")],
            expectations: [.init(variant: "eminem/terrific", check: "label", label: "paraphrase"),
                           .init(variant: "eminem/terrific", check: "above", output: "similarity", value: 0.1),
                           .init(variant: "eminem/terrific", check: "invariant", output: "similarity", tolerance: 0.05),
                           .init(variant: "eminem/terrific", check: "direction", output: "similarity", direction: "up", value: 0.1),
                           .init(variant: "eminem/*", check: "attention", from: "terrific", to: "awesome", min: 0.3, layer: 5, head: 4)],
            capture: ["qkv"])
    }

    @Test(arguments: awkward)
    func textsReadBackExactly(_ text: String) throws {
        // The parser refuses perturbations that match no input: A has "dude" and "awesome", B "sick".
        let yaml = try draft(a: text + " dude awesome", b: text + " sick!", word: "sick").yaml()
        let experiment = try ExperimentParser.parse(yaml, file: "draft.yaml")
        #expect(experiment.inputs.prefix(100)[0].a == text + " dude awesome")
        #expect(experiment.inputs.prefix(100)[0].b == text + " sick!")
        #expect(experiment.description == "saved \"live\": \(text) dude awesome")
    }

    @Test func everyPartReadsBack() throws {
        let original = draft(a: "the eminem tune was totally awesome.", b: "dude, that song from eminem was sick!")
        let experiment = try ExperimentParser.parse(try original.yaml(), file: "draft.yaml")
        #expect(experiment.name == "draft-test")
        let model = try #require(experiment.models.first)
        #expect(model.id == "sentence-transformers/all-MiniLM-L6-v2" && model.name == "all-MiniLM-L6-v2" && model.task == .similarity)
        #expect(model.threshold == 0.75 && model.labels == ["not-paraphrase", "paraphrase"] && model.topK == 5)
        #expect(experiment.inputs.prefix(100)[0].baseName == "sick")
        #expect(experiment.perturbations.map(\.id) == ["terrific", "no-dude", "really", "masked"])
        #expect(experiment.perturbations.map(\.kind) == [.replace(from: "sick", to: "terrific \"great\""), .delete("dude"),
                                                         .insert(text: "really", anchor: "sick", after: true), .mask("awesome")])
        #expect(experiment.perturbations.map(\.target) == [.b, .both, .b, .a])
        #expect(experiment.expectations.map(\.check) == (try original.expectations.map { try $0.spec().check }))
        #expect(experiment.capture == [.qkv])
        // The planner makes the same variants from the file as from the draft.
        let fromDraft = try original.perturbations.map { try $0.spec() }.compactMap { $0.apply(to: original.inputs[0].spec, maskToken: "[MASK]") }
        let fromFile = experiment.perturbations.compactMap { $0.apply(to: experiment.inputs.prefix(100)[0], maskToken: "[MASK]") }
        #expect(fromDraft == fromFile)
    }

    @Test func interventionsAreWrittenInTheExperimentFileSyntax() throws {
        var draft = draft(a: "a", b: "b")
        draft.interventions = [
            .init(id: "no-4.11", intervention: .ablate([HeadRef(layer: 4, head: 11)], mode: .mean)),
            .init(id: "cut", intervention: .knockout(from: ["terrific"], to: ["awesome"], layers: [5])),
            .init(id: "half", intervention: .scale([HeadRef(layer: 5, head: 4)], by: 0.5), applyTo: ["terrific"]),
            .init(intervention: .ablate([HeadRef(layer: 1, head: 2)])),
        ]
        let yaml = try draft.yaml()
        #expect(yaml.contains("""
        interventions:
          - id: "no-4.11"
            ablate: [4.11]
            mode: mean
          - id: "cut"
            knockout: { from: "terrific", to: "awesome", layers: [5] }
          - id: "half"
            scale: { heads: [5.4], factor: 0.5 }
            apply_to: ["terrific"]
          - id: "ablate-1.2"
            ablate: [1.2]
        """))
        draft.interventions = [.init(intervention: .patch(.head, from: "eminem/terrific"))]
        #expect(throws: ExperimentError.self) { try draft.yaml() }
    }

    @Test func badDraftsAreRefusedWithTheirReason() {
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Perturbation(id: "x", kind: "replace", word: "sick").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Perturbation(id: "../x", kind: "delete", word: "sick").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Perturbation(id: "x", kind: "shout", word: "sick").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Perturbation(id: "x", kind: "delete", word: "sick", in: "c").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Expectation(variant: "terrific", check: "label", label: "x").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Expectation(variant: "a/b", check: "above", output: "similarity").spec() }
        #expect(throws: ExperimentError.self) { try ExperimentDraft.Expectation(variant: "a/b", check: "invariant", output: "similarity").spec() }
    }
}
