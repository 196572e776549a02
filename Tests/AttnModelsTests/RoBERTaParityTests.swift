import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// RoBERTa against PyTorch + transformers (eager attention), from safetensors and from a float32
/// pytorch_model.bin.
@Suite struct RoBERTaParityTests {
    @Test(arguments: ["roberta", "roberta-bin"])
    func tinyClassifierMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.classification])
        #expect(model.labels == ["NEGATIVE", "POSITIVE"])
        let expected = try ArchitectureFixtures.expected("roberta")
        let output = try model.forward(ArchitectureFixtures.input(expected), capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 5)
        expectClose(try model.classificationLogits(output), try expected.tensor("logits"), within: 1e-4, "\(folder) logits")
    }

    /// Padding keeps the padding index as its position, so real tokens keep theirs: the padded run
    /// matches PyTorch, and no token attends to padding.
    @Test func paddingKeepsPositionsAndIsMaskedOut() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("roberta"))
        let expected = try ArchitectureFixtures.expected("roberta.padded")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.hidden])
        try ArchitectureFixtures.compareStacks(output, expected, "padded")
        expectClose(try model.classificationLogits(output), try expected.tensor("logits"), within: 1e-4, "padded logits")
        let attention = output.stacks[.encoder]!.attention
        let real = input.attentionMask!.filter { $0 }.count
        for l in 0 ..< 2 { for h in 0 ..< 4 { for q in 0 ..< real { for k in real ..< input.ids.count {
            #expect(attention[l, h, q, k] == 0)
        } } } }
    }

    @Test func maskedLanguageModelHead() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("roberta-mlm"))
        #expect(model.taskHeads == [.maskedLM])
        let expected = try ArchitectureFixtures.expected("roberta-mlm")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.hidden])
        try ArchitectureFixtures.compareStacks(output, expected, "roberta-mlm")
        expectClose(try model.languageModelLogits(output, positions: Array(input.ids.indices)), try expected.tensor("logits"),
                    within: 1e-4, "masked-LM logits")
    }

    /// Positions start after the padding index, so the model takes max_position_embeddings - 2 tokens.
    @Test func inputLengthLimitAccountsForThePaddingOffset() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("roberta"))
        #expect(model.summary.maxPositions == 40)
        #expect(throws: ModelError.self) { try model.forward(ModelInput(ids: [Int](repeating: 5, count: 41)), capture: []) }
        _ = try model.forward(ModelInput(ids: [Int](repeating: 5, count: 40)), capture: [])
    }
}
