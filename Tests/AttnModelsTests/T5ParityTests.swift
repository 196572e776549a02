import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// T5 against PyTorch + transformers (eager attention): relative position bias, no scaling, RMS
/// norm; v1.0 style (ReLU, tied and rescaled head, d_kv·heads ≠ d_model, three decoder layers)
/// from safetensors and from a sharded pytorch_model.bin, and v1.1 style (gated GELU, no rescale).
@Suite struct T5ParityTests {
    @Test(arguments: ["t5", "t5-bin"])
    func tinySeq2SeqMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.seq2seq])
        let expected = try ArchitectureFixtures.expected("t5")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(output.stacks[.decoder]!.attention.shape == [3, 4, 7, 7])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 14)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "\(folder) logits")
    }

    @Test func gatedFeedForwardWithoutRescaleMatchesPyTorch() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("t5-gated"))
        let expected = try ArchitectureFixtures.expected("t5-gated")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, "t5-gated") == 4)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "t5-gated logits")
    }

    /// mT5 (model_type "mt5"): T5 v1.1's layers, and no rescaled output although transformers 5
    /// writes tie_word_embeddings: true into its config.
    @Test func mt5MatchesPyTorch() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("mt5"))
        #expect(model.summary.architecture == "mt5")
        let expected = try ArchitectureFixtures.expected("mt5")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, "mt5") == 3)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "mt5 logits")
    }

    /// Mesh TensorFlow's buckets: exact for small distances, logarithmic beyond, capped at the last.
    @Test func relativePositionBuckets() {
        // Bidirectional, 32 buckets, max distance 128: 16 per direction, 8 exact.
        #expect(T5Model.bucket(0, bidirectional: true, buckets: 32, maxDistance: 128) == 0)
        #expect(T5Model.bucket(-3, bidirectional: true, buckets: 32, maxDistance: 128) == 3)
        #expect(T5Model.bucket(3, bidirectional: true, buckets: 32, maxDistance: 128) == 19)
        #expect(T5Model.bucket(-8, bidirectional: true, buckets: 32, maxDistance: 128) == 8)
        #expect(T5Model.bucket(-1000, bidirectional: true, buckets: 32, maxDistance: 128) == 15)
        #expect(T5Model.bucket(1000, bidirectional: true, buckets: 32, maxDistance: 128) == 31)
        // Causal: keys after the query all fall in bucket 0.
        #expect(T5Model.bucket(5, bidirectional: false, buckets: 32, maxDistance: 128) == 0)
        #expect(T5Model.bucket(-20, bidirectional: false, buckets: 32, maxDistance: 128) == 17)
    }
}
