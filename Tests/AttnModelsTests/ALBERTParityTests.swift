import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// ALBERT (factorised embeddings, one layer shared by three depths) against PyTorch + transformers.
@Suite struct ALBERTParityTests {
    @Test(arguments: ["albert", "albert-bin"])
    func tinyMaskedLanguageModelMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.maskedLM])
        #expect(model.summary.layers == 3)
        let expected = try ArchitectureFixtures.expected("albert")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 5)
        expectClose(try model.languageModelLogits(output, positions: Array(input.ids.indices)), try expected.tensor("logits"),
                    within: 1e-4, "\(folder) masked-LM logits")
    }
}
