import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// BART against PyTorch + transformers (eager attention), teacher-forced: encoder, decoder and
/// cross stacks with q/k/v and hidden states, and the LM logits; from safetensors and from a
/// pytorch_model.bin whose q/k/v projections are views into one storage.
@Suite struct BARTParityTests {
    @Test(arguments: ["bart", "bart-bin"])
    func tinySeq2SeqMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.seq2seq])
        let expected = try ArchitectureFixtures.expected("bart")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 14)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "\(folder) logits")
    }

    /// Padding in the encoder's input is hidden from the encoder's and the decoder's cross-attention.
    @Test func encoderPaddingIsMaskedOutOfCrossAttention() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("bart"))
        let expected = try ArchitectureFixtures.expected("bart.padded")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, "padded") == 2)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "padded logits")
        let cross = output.stacks[.cross]!.attention
        #expect(cross.shape == [2, 4, 5, 8])
        for l in 0 ..< 2 { for h in 0 ..< 4 { for q in 0 ..< 5 { for k in 6 ..< 8 { #expect(cross[l, h, q, k] == 0) } } } }
    }

    /// The decoder's self-attention is causal; its rows, and the cross-attention's, sum to one.
    @Test func decoderIsCausal() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("bart"))
        let output = try model.forward(ModelInput(ids: [0, 5, 6, 2], decoderIds: [2, 0, 5]), capture: [])
        let decoder = output.stacks[.decoder]!.attention
        let cross = output.stacks[.cross]!.attention
        for l in 0 ..< 2 { for h in 0 ..< 4 { for q in 0 ..< 3 {
            for k in 0 ..< 3 where k > q { #expect(decoder[l, h, q, k] == 0) }
            #expect(abs((0 ..< 3).map { decoder[l, h, q, $0] }.reduce(0, +) - 1) < 1e-5)
            #expect(abs((0 ..< 4).map { cross[l, h, q, $0] }.reduce(0, +) - 1) < 1e-5)
        } } }
    }

    /// Without decoder ids the decoder reads the input shifted right after decoder_start_token_id,
    /// as transformers does for BART.
    @Test func defaultDecoderInputIsTheShiftedInput() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("bart"))
        let implicit = try model.forward(ModelInput(ids: [0, 5, 6, 2]), capture: [])
        let explicit = try model.forward(ModelInput(ids: [0, 5, 6, 2], decoderIds: [2, 0, 5, 6]), capture: [])
        #expect(implicit.lastHidden == explicit.lastHidden)
        #expect(model.forwardFLOPs(tokens: 16) > 0)
    }
}
