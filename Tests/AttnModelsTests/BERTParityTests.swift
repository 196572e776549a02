import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// BERT against PyTorch + transformers (eager attention): attention within 1e-5, hidden states and
/// logits within 1e-4.
@Suite struct BERTParityTests {
    @Test func tinyClassifierMatchesPyTorch() throws {
        let model = try ModelRegistry.load(folder: Fixtures.url("tiny-bert-classifier"))
        let expected = try Fixtures.Expected("tiny-bert-classifier.expected.safetensors")
        let output = try model.forward(ModelInput(ids: expected.ints("ids"), typeIds: expected.ints("token_type_ids")),
                                       capture: [.qkv, .hidden])
        let stack = try #require(output.stacks[.encoder])
        expectClose(stack.attention, try expected.tensor("attention"), within: 1e-5, "attention")
        expectClose(try #require(stack.hidden), try expected.tensor("hidden"), within: 1e-4, "hidden states")
        expectClose(try #require(stack.query), try expected.tensor("query"), within: 1e-4, "queries")
        expectClose(try #require(stack.key), try expected.tensor("key"), within: 1e-4, "keys")
        expectClose(try #require(stack.value), try expected.tensor("value"), within: 1e-4, "values")
        expectClose(try model.classificationLogits(output), try expected.tensor("logits"), within: 1e-4, "logits")
        #expect(model.labels == ["negative", "neutral", "positive"])
    }

    @Test func paddingIsMaskedOut() throws {
        let model = try ModelRegistry.load(folder: Fixtures.url("tiny-bert-classifier"))
        let expected = try Fixtures.Expected("tiny-bert-classifier.padded.expected.safetensors")
        let mask = expected.ints("attention_mask").map { $0 == 1 }
        let output = try model.forward(ModelInput(ids: expected.ints("ids"), typeIds: expected.ints("token_type_ids"), attentionMask: mask),
                                       capture: [.hidden])
        let stack = try #require(output.stacks[.encoder])
        expectClose(stack.attention, try expected.tensor("attention"), within: 1e-5, "attention with padding")
        expectClose(try model.classificationLogits(output), try expected.tensor("logits"), within: 1e-4, "logits with padding")
        // No real token attends to padding.
        let n = mask.count
        for l in 0 ..< 2 { for h in 0 ..< 4 { for q in 0 ..< 8 { for k in 8 ..< n {
            #expect(stack.attention[l, h, q, k] == 0)
        } } } }
    }

    @Test func legacyGammaBetaNamesAndTiedDecoder() throws {
        let model = try ModelRegistry.load(folder: Fixtures.url("tiny-bert-mlm"))
        #expect(model.taskHeads.contains(.maskedLM))
        let expected = try Fixtures.Expected("tiny-bert-mlm.expected.safetensors")
        let ids = expected.ints("ids")
        let output = try model.forward(ModelInput(ids: ids), capture: [.hidden])
        expectClose(output.stacks[.encoder]!.attention, try expected.tensor("attention"), within: 1e-5, "attention")
        let logits = try model.languageModelLogits(output, positions: Array(ids.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "masked-LM logits")
    }

    @Test func attentionRowsSumToOne() throws {
        let model = try ModelRegistry.load(folder: Fixtures.url("tiny-bert-classifier"))
        let output = try model.forward(ModelInput(ids: [2, 5, 6, 7, 3]), capture: [])
        let attention = output.stacks[.encoder]!.attention
        for row in stride(from: 0, to: attention.count, by: 5) {
            let sum = attention.scalars[row ..< row + 5].reduce(0, +)
            #expect(abs(sum - 1) < 1e-5)
        }
    }
}
