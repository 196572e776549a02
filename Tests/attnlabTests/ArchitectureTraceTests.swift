import AttnCore
import Foundation
import Testing

/// `attnlab trace` on a tiny random model of every architecture, each with a real tokenizer of its
/// family (the numbers are checked by the parity tests; this checks the whole path a user takes).
@Suite struct ArchitectureTraceTests {
    static let models = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/models")

    @Test(arguments: [("gpt2", "causal-lm", "Ġworld"), ("roberta", "masked-lm", "Ġworld"), ("distilbert", "masked-lm", "world"),
                      ("albert", "masked-lm", "world")])
    func encoderAndDecoderOnlyModels(name: String, task: String, token: String) throws {
        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("\(name).safetensors")
        let mask = ["roberta": " <mask>", "gpt2": ""][name] ?? " [MASK]"
        let result = try CLI.run(["trace", "--model", Self.models.appendingPathComponent(name).path,
                                  "--text", "Hello world, attention is\(mask) here.", "--capture", "attention,qkv,hidden", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let trace = try TraceFile.read(out)
        #expect(trace.provenance.architecture == name && trace.provenance.task == task)
        #expect(trace.tokens.contains { $0.text == token && $0.display == "world" })
        let stack = try #require(trace.stacks[.encoder])
        #expect(stack.attention.shape == [2, 2, trace.tokens.count, trace.tokens.count])
        #expect(stack.query != nil && stack.hidden != nil)
        #expect(!(trace.outputs.topk ?? []).isEmpty)
        if name == "gpt2" {   // causal: no token attends to a later one
            for q in 0 ..< trace.tokens.count { for k in (q + 1) ..< trace.tokens.count { #expect(stack.attention[0, 0, q, k] == 0) } }
        }
    }

    @Test(arguments: ["bart", "t5", "marian"])
    func encoderDecoderModelsNeedAndUseTheDecoderText(name: String) throws {
        let model = Self.models.appendingPathComponent(name).path
        let missing = try CLI.run(["trace", "--model", model, "--text", "the cat sat on the mat."])
        #expect(missing.status == 1 && missing.stderr.contains("--decoder-text"), "\(missing.stderr)")

        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("\(name).safetensors")
        let result = try CLI.run(["trace", "--model", model, "--text", "the cat sat on the mat.",
                                  "--decoder-text", "le chat était assis.", "--capture", "qkv", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let trace = try TraceFile.read(out)
        let decoder = try #require(trace.decoderTokens)
        let (ne, nd) = (trace.tokens.count, decoder.count)
        #expect(trace.stacks[.encoder]?.attention.shape == [2, 2, ne, ne])
        #expect(trace.stacks[.decoder]?.attention.shape == [2, 2, nd, nd])
        #expect(trace.stacks[.cross]?.attention.shape == [2, 2, nd, ne])
        #expect(trace.stacks[.cross]?.key?.shape[2] == ne && trace.stacks[.cross]?.query?.shape[2] == nd)
        #expect(trace.outputs.topk?.count == nd)
        #expect(trace.inputs.decoder == "le chat était assis.")
        #expect(decoder.allSatisfy { !$0.display.hasPrefix("▁") && !$0.display.hasPrefix("Ġ") }, "display forms drop the space markers")
    }

    @Test func jsonGivesTheModelsOwnTokenTypeIds() throws {
        // RoBERTa reads a pair as <s> A </s></s> B </s> with every type id 0; BERT's are its segments.
        let roberta = try CLI.run(["trace", "--model", Self.models.appendingPathComponent("roberta").path,
                                   "--text", "one", "--pair", "two", "--format", "json"])
        #expect(roberta.status == 0, "\(roberta.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(roberta.stdout.utf8)) as? [String: Any])
        let types = try #require(json["token_type_ids"] as? [Int])
        let details = try #require(json["token_details"] as? [[String: Any]])
        #expect(!types.isEmpty && types.allSatisfy { $0 == 0 })
        #expect(details.contains { ($0["segment"] as? Int) == 1 }, "the segments still tell A from B")
    }

    /// `tokens` in JSON and in trace files are what transformers' `convert_ids_to_tokens` gives
    /// (recorded with the reference tokenizers of these folders): RoBERTa's `<mask>` without the
    /// space it swallowed, T5's unknown pieces as `<unk>`; the display form stays separate.
    @Test func tokensAreTheVocabularysSpelling() throws {
        let roberta = try CLI.run(["trace", "--model", Self.models.appendingPathComponent("roberta").path,
                                   "--text", "Hello world, attention is <mask> here.", "--format", "json"])
        #expect(roberta.status == 0, "\(roberta.stderr)")
        let robertaJSON = try #require(try JSONSerialization.jsonObject(with: Data(roberta.stdout.utf8)) as? [String: Any])
        #expect(robertaJSON["tokens"] as? [String] == ["<s>", "Hello", "Ġworld", ",", "Ġat", "tention", "Ġi", "s", "<mask>", "Ġhe", "re", ".", "</s>"])

        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("t5.safetensors")
        let t5 = try CLI.run(["trace", "--model", Self.models.appendingPathComponent("t5").path, "--text", "the cat ☃ sat {x}",
                              "--decoder-text", "le chat", "--out", out.path])
        #expect(t5.status == 0, "\(t5.stderr)")
        let trace = try TraceFile.read(out)
        #expect(trace.tokens.map(\.text) == ["▁the", "▁ca", "t", "▁", "<unk>", "▁s", "at", "▁", "<unk>", "x", "<unk>", "</s>"])
        #expect(trace.tokens[4].display == "<unk>" && trace.tokens[4].start == 8 && trace.tokens[4].end == 9)
    }
}
