import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// GPT-2 against PyTorch + transformers (eager attention), from safetensors and from a float16
/// pytorch_model.bin whose tied lm_head.weight shares the embeddings' storage.
@Suite struct GPT2ParityTests {
    @Test(arguments: ["gpt2", "gpt2-bin"])
    func tinyLanguageModelMatchesPyTorch(folder: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(folder))
        #expect(model.taskHeads == [.causalLM])
        let expected = try ArchitectureFixtures.expected("gpt2")
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, folder) == 5)
        let logits = try model.languageModelLogits(output, positions: Array(input.ids.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "\(folder) next-token logits")
    }

    @Test func attentionIsCausal() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("gpt2"))
        let output = try model.forward(ModelInput(ids: [5, 6, 7, 8]), capture: [])
        let attention = try #require(output.stacks[.encoder]).attention
        for l in 0 ..< 2 { for h in 0 ..< 4 { for q in 0 ..< 4 {
            for k in 0 ..< 4 where k > q { #expect(attention[l, h, q, k] == 0) }
            #expect(abs((0 ... q).map { attention[l, h, q, $0] }.reduce(0, +) - 1) < 1e-5)
        } } }
    }
}
