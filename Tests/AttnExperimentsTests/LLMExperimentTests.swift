import AttnCore
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnModels

/// Experiments on a decoder language model (SmolLM2-135M-Instruct from its GGUF): the second case
/// study end to end, chat inputs rendered with the model's template, and their perturbations.
@Suite(.serialized) struct LLMExperimentTests {
    static let repository = ExecutorTests.repository
    let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-llm-runs-\(UUID().uuidString)")
    var locator: ModelLocator { ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: []) }

    func run(_ yaml: String, id: String) throws -> RunResult {
        let file = runs.appendingPathComponent("\(id).yaml")
        try FileManager.default.createDirectory(at: runs, withIntermediateDirectories: true)
        try Data(yaml.utf8).write(to: file)
        return try Executor.run(try ExperimentParser.load(file), options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: id))
    }

    /// Experiments/capital-cities.yaml: every expectation holds, with the numbers the README quotes.
    @Test func theCapitalCitiesCaseStudyPasses() throws {
        let spec = try ExperimentParser.load(Self.repository.appendingPathComponent("Experiments/capital-cities.yaml"))
        let result = try Executor.run(spec, options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: "capitals"))
        #expect(result.manifest.passed, "\(result.manifest.expectations.filter { !$0.passed })")
        let variants = try result.run.records()
        #expect(variants.map(\.variant.name) == ["france", "country-italy", "country-japan", "country-germany", "distractor", "fact"])
        #expect(variants.map { $0.label ?? "" } == ["ĠParis", "ĠRome", "ĠTokyo", "ĠBerlin", "ĠRome", "ĠParis"])
        let paris = variants.map { record in record.outputs.topk?.last?.watched?.first { $0.token == "ĠParis" }?.probability ?? -1 }
        #expect(abs(paris[0] - 0.7725) < 1e-3 && paris[4] < 0.001 && abs(paris[5] - 0.9125) < 1e-3, "\(paris)")
        // One prediction per variant: after the last token.
        #expect(variants.allSatisfy { $0.outputs.topk?.count == 1 })
    }

    /// A chat input is rendered by the model's template (special tokens recognised as such), and
    /// a perturbation edits the message inside the rendered prompt.
    @Test func chatInputsAreRenderedPerModel() throws {
        let result = try run("""
            name: chat-capitals
            models:
              - { id: SmolLM2-135M-Instruct, name: smollm2, task: causal-lm }
            inputs:
              - id: ask
                chat: true
                messages:
                  - { role: system, content: Answer in one word. }
                  - { role: user, content: What is the capital of France? }
              - { id: short, chat: true, a: What is the capital of Japan? }
            perturbations:
              - { id: italy, replace: { France: Italy } }
            expect:
              - { variant: ask/base, output: "logit-diff:Paris,London", above: 2 }
              - { variant: ask/italy, output: "logit-diff:Rome,Paris", above: 2 }
            """, id: "chat")
        #expect(result.manifest.passed, "\(result.manifest.expectations.filter { !$0.passed })")
        let records = try result.run.records()
        let base = try #require(records.first { $0.variant.path == "ask/base" })
        #expect(base.variant.a == "<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
        let baseTrace = try result.run.trace(base)
        #expect(baseTrace.tokens.first?.id == 1 && baseTrace.tokens.filter { $0.text == "<|im_start|>" }.count == 3)
        let italy = try #require(records.first { $0.variant.path == "ask/italy" })
        #expect(italy.variant.a.contains("What is the capital of Italy?<|im_end|>"))
        let short = try #require(records.first { $0.variant.path == "short/base" })
        #expect(short.variant.a.contains("<|im_start|>user\nWhat is the capital of Japan?<|im_end|>"))
    }

    /// A model without a chat template fails the run, naming the model, the input and what to do.
    @Test func aChatInputForAModelWithoutATemplate() throws {
        let yaml = """
            name: no-template
            models:
              - { id: \(Self.repository.path)/Tests/attnlabTests/Fixtures/models/gpt2, name: tiny }
            inputs:
              - { id: ask, chat: true, a: hello }
            """
        #expect { try run(yaml, id: "none") } throws: { error in
            "\(error)".contains("model tiny, input ask") && "\(error)".contains("has no chat template")
        }
    }
}

/// `chat: true` inputs and `logit-diff:` outputs in experiment files.
@Suite struct ChatInputParserTests {
    static let head = """
        name: x
        models:
          - { id: m, task: causal-lm }

        """

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try ExperimentParser.parse(Self.head + yaml, file: "x.yaml")
            return []
        } catch let error as ExperimentError {
            return error.problems.map { "\($0.line): \($0.key): \($0.message)" }
        } catch {
            return ["\(error)"]
        }
    }

    @Test func readsMessagesAndLogitDifferences() throws {
        let experiment = try ExperimentParser.parse(Self.head + """
            inputs:
              - id: ask
                chat: true
                messages:
                  - { role: system, content: Be brief. }
                  - { role: user, content: What is the capital of France? }
              - { id: one, chat: true, a: Hello there }
              - { id: plain, a: The capital of France is }
            expect:
              - { variant: ask/base, output: "logit-diff:ĠParis,ĠRome", above: 1 }
              - { variant: plain/base, output: "p:ĠParis", above: 0.5 }
            """, file: "x.yaml")
        #expect(experiment.inputs.prefix(100)[0].messages == [ChatMessage(role: "system", content: "Be brief."),
                                                  ChatMessage(role: "user", content: "What is the capital of France?")])
        #expect(experiment.inputs.prefix(100)[1].messages == [ChatMessage(role: "user", content: "Hello there")])
        #expect(experiment.inputs.prefix(100)[2].messages == nil && experiment.inputs.prefix(100)[2].a == "The capital of France is")
        #expect(experiment.expectations[0].check == .above(.logitDifference("ĠParis", "ĠRome"), 1))
        #expect(experiment.expectations[1].check == .above(.probability("ĠParis"), 0.5))
    }

    @Test func badChatInputsAreNamed() {
        let messagesWithoutChat = problems("inputs:\n  - { id: a, a: hi, messages: [{ role: user, content: hi }] }\n")
        #expect(messagesWithoutChat.contains { $0.contains("inputs[0].messages: messages are a chat: add chat: true") }, "\(messagesWithoutChat)")
        let falseChat = problems("inputs:\n  - { id: a, chat: false, a: hi }\n")
        #expect(falseChat.contains { $0.contains("write chat: true") }, "\(falseChat)")
        let noRole = problems("inputs:\n  - id: a\n    chat: true\n    messages:\n      - { content: hi }\n")
        #expect(noRole.contains { $0.contains("inputs[0].messages[0]: missing \"role\"") }, "\(noRole)")
        let pair = problems("inputs:\n  - { id: a, chat: true, a: hi, b: there }\n")
        #expect(pair.contains { $0.contains("inputs[0].b: a chat input is one conversation") }, "\(pair)")
        let empty = problems("inputs:\n  - { id: a, chat: true }\n")
        #expect(empty.contains { $0.contains("a chat input needs messages") }, "\(empty)")
    }
}
