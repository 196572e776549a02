import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// MarianMT (sinusoidal positions, scaled embeddings, swish) against PyTorch + transformers, from
/// bfloat16 safetensors and a bfloat16 pytorch_model.bin that also carries the sinusoidal tables.
@Suite struct MarianParityTests {
    @Test(arguments: ["marian", "marian-bin"])
    func tinyTranslationModelMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.seq2seq])
        let expected = try ArchitectureFixtures.expected("marian")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 14)
        let logits = try model.languageModelLogits(output, positions: Array(input.decoderIds!.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "\(folder) logits")
    }

    /// The sinusoidal table equals the one old checkpoints store (sines, then cosines).
    @Test func sinusoidalPositionsMatchTheStoredTable() throws {
        let checkpoint = try PyTorchCheckpoint(path: ArchitectureFixtures.url("marian-bin/pytorch_model.bin").path)
        let stored = try checkpoint.tensor("model.encoder.embed_positions.weight")
        let computed = MarianModel.sinusoids(positions: stored.shape[0], dim: stored.shape[1])
        // The stored table is bfloat16: 8 bits of mantissa.
        expectClose(computed, stored, within: 4e-3, "sinusoids")
        #expect(computed[0, 0] == 0 && computed[0, 16] == 1)
    }
}
