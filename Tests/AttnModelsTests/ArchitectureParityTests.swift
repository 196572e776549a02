import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The architecture fixtures written by Tools/reference/make_architecture_fixtures.py.
enum ArchitectureFixtures {
    static func url(_ name: String) -> URL { Fixtures.url("architectures/\(name)") }

    static func expected(_ name: String) throws -> Fixtures.Expected {
        try Fixtures.Expected("architectures/\(name).expected.safetensors")
    }

    /// The model input a fixture was computed on.
    static func input(_ expected: Fixtures.Expected) -> ModelInput {
        ModelInput(ids: expected.ints("ids"),
                   attentionMask: expected.inputs["attention_mask"] == nil ? nil : expected.ints("attention_mask").map { $0 == 1 },
                   decoderIds: expected.inputs["decoder_ids"] == nil ? nil : expected.ints("decoder_ids"))
    }

    /// Compares every tensor of the expectation file that the output has: `attention`, `hidden`,
    /// `query`/`key`/`value` (of the encoder stack, for single-stack models) or `encoder.*`,
    /// `decoder.*`, `cross.*`; attention within 1e-5, the rest within 1e-4. Returns how many
    /// tensors were compared.
    @discardableResult
    static func compareStacks(_ output: ModelOutput, _ expected: Fixtures.Expected, _ what: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var compared = 0
        for name in expected.file.names where name != "logits" {
            let parts = name.split(separator: ".").map(String.init)
            let (kind, field) = parts.count == 2 ? (StackKind(rawValue: parts[0]), parts[1]) : (StackKind.encoder, parts[0])
            let stackKind = try #require(kind, "\(what): \(name) names no stack", sourceLocation: sourceLocation)
            let stack = try #require(output.stacks[stackKind], "\(what): no \(parts[0]) stack", sourceLocation: sourceLocation)
            let actual: Tensor? = switch field {
            case "attention": stack.attention
            case "hidden": stack.hidden
            case "query": stack.query
            case "key": stack.key
            case "value": stack.value
            default: nil
            }
            let tensor = try #require(actual, "\(what): \(name) was not captured", sourceLocation: sourceLocation)
            expectClose(tensor, try expected.tensor(name), within: field == "attention" ? 1e-5 : 1e-4, "\(what) \(name)",
                        sourceLocation: sourceLocation)
            compared += 1
        }
        return compared
    }
}

/// What every architecture shares: registry entries, the same model from either weight format,
/// captures that hold what was asked for, rows of attention that sum to one.
@Suite struct ArchitectureTests {
    static let singleStack = ["gpt2", "roberta", "roberta-mlm", "distilbert", "albert"] + LlamaFamilyParityTests.names
    static let encoderDecoder = ["bart", "marian", "t5", "t5-gated"]

    @Test func registryRunsEveryArchitecture() {
        #expect(Set(["albert", "bart", "bert", "camembert", "distilbert", "gpt2", "marian", "mt5", "roberta", "t5", "xlm-roberta",
                  "llama", "mistral", "qwen2", "qwen3", "gemma", "phi3"])
            .isSubset(of: Set(ModelRegistry.supportedTypes)))
    }

    /// The safetensors and pytorch_model.bin copies load to the same model: same summary, same
    /// parameter count (tied weights that the .bin stores over one storage count once).
    @Test(arguments: ["gpt2", "roberta", "distilbert", "albert", "bart", "t5"])
    func bothWeightFormatsGiveTheSameModel(name: String) throws {
        let safetensors = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let bin = try ModelRegistry.load(folder: ArchitectureFixtures.url("\(name)-bin"))
        #expect(safetensors.summary == bin.summary)
        #expect(safetensors.parameterCount == bin.parameterCount)
        #expect(safetensors.parameterCount > 10_000)
    }

    @Test(arguments: singleStack + encoderDecoder)
    func captureHoldsWhatWasAskedForAndRowsSumToOne(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let input = ModelInput(ids: [2, 7, 9, 11, 3], decoderIds: Self.encoderDecoder.contains(name) ? [1, 4, 6] : nil)
        let bare = try model.forward(input, capture: [])
        let full = try model.forward(input, capture: [.qkv, .hidden])
        let kinds: [StackKind] = Self.encoderDecoder.contains(name) ? [.encoder, .decoder, .cross] : [.encoder]
        #expect(Set(bare.stacks.keys) == Set(kinds))
        for kind in kinds {
            let (plain, captured) = (try #require(bare.stacks[kind]), try #require(full.stacks[kind]))
            #expect(plain.query == nil && plain.hidden == nil)
            #expect(captured.query != nil && captured.key != nil && captured.value != nil)
            #expect((captured.hidden != nil) == (kind != .cross))
            // Capturing more changes nothing in the attention.
            #expect(plain.attention == captured.attention)
            let keys = captured.attention.shape[3]
            for row in stride(from: 0, to: captured.attention.count, by: keys) {
                let sum = captured.attention.scalars[row ..< row + keys].reduce(0, +)
                #expect(abs(sum - 1) < 1e-5, "\(name) \(kind) row sum \(sum)")
            }
        }
        #expect(model.forwardFLOPs(tokens: 5) > 0)
    }

    @Test func weightsOfAnotherArchitectureAreNamedInTheError() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-mismatch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: ArchitectureFixtures.url("gpt2/config.json"), to: folder.appendingPathComponent("config.json"))
        try FileManager.default.copyItem(at: ArchitectureFixtures.url("distilbert/model.safetensors"), to: folder.appendingPathComponent("model.safetensors"))
        let error = try #require(throws: ModelError.self) { try ModelRegistry.load(folder: folder) }
        #expect(error.message.contains("do not fit a GPT-2 model"))
        #expect(error.message.contains("missing tensors: transformer.wte.weight"))
    }

    @Test func decoderIdsOutsideTheVocabularyAreRefused() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("t5"))
        let error = try #require(throws: ModelError.self) { try model.forward(ModelInput(ids: [5, 6], decoderIds: [0, 500]), capture: []) }
        #expect(error.message.contains("decoder token id 500"))
    }
}

/// The parameter count is computed one way for every architecture (the tensors the model holds,
/// tied ones once) and equals PyTorch's `num_parameters()` written by the fixture script.
@Suite struct ParameterCountTests {
    @Test func everyFixtureCountsAsPyTorchDoes() throws {
        let data = try Data(contentsOf: ArchitectureFixtures.url("parameters.json"))
        let expected = try JSONDecoder().decode([String: Int].self, from: data)
        #expect(expected.count >= 24)
        for (name, count) in expected.sorted(by: { $0.key < $1.key }) {
            let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
            #expect(model.parameterCount == count, "\(name)")
        }
    }
}
