import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Tokenizers read from GGUF metadata against transformers' tokenizer loaded from the same file
/// (fixtures by Tools/reference/make_gguf_tokenizer_fixtures.py).
@Suite struct GGUFTokenizerTests {
    static let folder = Fixtures.url("gguf")

    struct Document: Decodable {
        var tokenizers: [Entry]
    }

    struct Entry: Decodable {
        var name: String
        var file: String
        var vocab_size: Int
        var bos_token: String?
        var eos_token: String?
        var cases: [TokenizerFixtures.Case]

        var entry: TokenizerFixtures.Entry {
            TokenizerFixtures.Entry(name: name, file: file, vocab_size: vocab_size, cases: cases)
        }
    }

    static func document() throws -> Document {
        try JSONDecoder().decode(Document.self, from: Data(contentsOf: folder.appendingPathComponent("tokenizer-parity.json")))
    }

    static func url(of entry: Entry) -> URL {
        entry.name == "smollm2" ? TokenizerFixtures.repositoryRoot.appendingPathComponent(entry.file)
            : folder.appendingPathComponent(entry.file)
    }

    /// Byte-level BPE per pre-tokenizer name and SentencePiece BPE: ids, tokens, spans, words,
    /// segments and special tokens equal transformers'.
    @Test(arguments: ["bpe-default", "bpe-llama-bpe", "bpe-qwen2", "bpe-gpt-4o", "spm-llama", "spm-llama-eos", "smollm2"])
    func tokenizerMatchesTransformers(name: String) throws {
        let entry = try #require(try Self.document().tokenizers.first { $0.name == name })
        let url = Self.url(of: entry)
        if name == "smollm2" { _ = try Fixtures.realGGUF() }
        let tokenizer = try TokenizerLoader.load(folder: url)
        #expect(tokenizer.vocabularySize == entry.vocab_size)
        #expect(tokenizer.family == (name.hasPrefix("spm") ? .unigram : .byteLevelBPE))
        #expect(tokenizer.sourceFiles == [url])
        let failures = TokenizerFixtures.check(tokenizer, entry.entry)
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    /// Special tokens typed in a chat prompt stay whole, and decoding gives the text back.
    @Test func smolLM2ChatPromptKeepsItsSpecialTokens() throws {
        let tokenizer = try TokenizerLoader.load(folder: Fixtures.realGGUF().deletingLastPathComponent())
        let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        let encoding = try tokenizer.encode(prompt)
        // SmolLM2 adds no BOS; the typed control tokens are single tokens (ids 1 and 2).
        #expect(encoding.ids.filter { $0 < 17 } == [1, 2, 1])
        #expect(encoding.tokens.filter { $0.id < 17 }.map(\.text) == ["<|im_start|>", "<|im_end|>", "<|im_start|>"])
        #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: false) == prompt)
        #expect(tokenizer.id(for: "<|im_end|>") == 2)
    }
}
