import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// DistilBERT against PyTorch + transformers (eager attention), from safetensors and from a
/// pytorch_model.bin in which one weight is a transposed (non-contiguous) view.
@Suite struct DistilBERTParityTests {
    @Test(arguments: ["distilbert", "distilbert-bin"])
    func tinyClassifierMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.classification])
        #expect(model.labels == ["a", "b", "c"])
        let expected = try ArchitectureFixtures.expected("distilbert")
        let output = try model.forward(ArchitectureFixtures.input(expected), capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 5)
        expectClose(try model.classificationLogits(output), try expected.tensor("logits"), within: 1e-4, "\(folder) logits")
    }

    /// A pair's segment ids do not change DistilBERT's output: it has no token types.
    @Test func segmentIdsAreIgnored() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("distilbert"))
        let plain = try model.forward(ModelInput(ids: [2, 5, 3, 7, 3]), capture: [])
        let pair = try model.forward(ModelInput(ids: [2, 5, 3, 7, 3], typeIds: [0, 0, 0, 1, 1]), capture: [])
        #expect(plain.lastHidden == pair.lastHidden)
    }
}
