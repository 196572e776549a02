import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Byte-level BPE (GPT-2, RoBERTa, BART, Llama 3) and SentencePiece-style BPE against Hugging Face's
/// `tokenizers`, from tokenizer.json and from vocab.json + merges.txt.
struct TokenizerBPETests {
    static func tokenizer(_ name: String) throws -> any Tokenizer {
        try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent("bpe/\(name)/tokenizer.json"))
    }

    static func entry(_ name: String) throws -> TokenizerFixtures.Entry {
        try #require(try TokenizerFixtures.document("parity-bpe.json").tokenizers.first { $0.name == name })
    }

    /// Every BPE tokenizer of the fixtures: ids, tokens, spans, words, segments and type ids of every
    /// sentence, pair and truncated input.
    @Test(arguments: ["gpt2", "roberta", "roberta-prefix-space", "gpt2-prefix-space-trim", "llama3-split",
                      "bpe-word-suffix", "bpe-subword-prefix", "llama2-byte-fallback"])
    func matchesHuggingFace(_ name: String) throws {
        let entry = try Self.entry(name)
        let tokenizer = try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent(entry.file))
        #expect(tokenizer.vocabularySize == entry.vocab_size)
        let failures = TokenizerFixtures.check(tokenizer, entry)
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    /// A model folder with vocab.json + merges.txt (and tokenizer_config.json) gives what the same
    /// tokenizer's tokenizer.json gives.
    @Test(arguments: ["gpt2", "roberta", "roberta-prefix-space"])
    func vocabularyAndMergesFilesGiveTheSameTokens(_ name: String) throws {
        let folder = TokenizerFixtures.folder.appendingPathComponent("bpe-files/\(name)")
        let tokenizer = try TokenizerLoader.load(folder: folder)
        #expect(tokenizer.sourceFiles.map(\.lastPathComponent) == ["vocab.json", "merges.txt", "tokenizer_config.json"])
        #expect(tokenizer.family == .byteLevelBPE)
        let entry = try Self.entry(name)
        #expect(tokenizer.vocabularySize == entry.vocab_size)
        let failures = TokenizerFixtures.check(tokenizer, entry)
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
        if name.hasPrefix("roberta") { #expect(tokenizer.maskToken == "<mask>") }
    }

    @Test func displayDropsTheSpaceMarkAndShowsBytesAsText() throws {
        let tokenizer = try Self.tokenizer("gpt2")
        let encoding = try tokenizer.encode("Hello world\n\tcafé 😀")
        let displays = encoding.tokens.map(\.display)
        #expect(encoding.tokens.contains { $0.text.hasPrefix("Ġ") })
        for token in encoding.tokens where token.text.hasPrefix("Ġ") && token.text.count > 1 {
            #expect(!token.display.hasPrefix(" ") && !token.display.hasPrefix("Ġ"), "\(token.text) shows as \(token.display)")
        }
        #expect(displays.contains("\\n") || displays.contains { $0.contains("\\n") }, "\(displays)")
        #expect(!displays.joined().contains("Ċ"))
        // The emoji is cut into byte pieces; what is not a whole character shows as \xNN.
        #expect(displays.joined().contains("\\xF0") || displays.contains("😀"), "\(displays)")

        #expect(ByteLevelDecoder.displayForm("Ġworld") == "world")
        #expect(ByteLevelDecoder.displayForm("world") == "world")
        #expect(ByteLevelDecoder.displayForm("Ġ") == "␣")
        #expect(ByteLevelDecoder.displayForm("ĠĠĠ") == "␣␣")
        #expect(ByteLevelDecoder.displayForm("Ċ") == "\\n")
        #expect(ByteLevelDecoder.displayForm("ĊĊ") == "\\n\\n")
        #expect(ByteLevelDecoder.displayForm("Ġcaf\u{00C3}\u{00A9}") == "café")
        #expect(ByteLevelDecoder.displayForm("ðŁĺ") == "\\xF0\\x9F\\x98")
        #expect(ByteLevelDecoder.displayForm("<|endoftext|>") == "<|endoftext|>")
    }

    @Test func specialTokensKeepTheirSpelling() throws {
        let encoding = try Self.tokenizer("roberta").encode("Hello <mask>", pair: "world")
        #expect(encoding.tokens.map(\.text).first == "<s>")
        #expect(encoding.tokens.filter(\.special).map(\.display) == ["<s>", "</s>", "</s>", "</s>"])
        let mask = try #require(encoding.tokens.first { $0.id == 804 })
        // As convert_ids_to_tokens spells it (the `tokenizers` library's encoding.tokens would give
        // " <mask>", with the space it swallowed).
        #expect(mask.text == "<mask>")
        #expect(mask.display == "<mask>")
        // <mask> swallows the space before it (lstrip), and its span is trimmed back to the word.
        #expect((mask.start, mask.end) == (6, 12))
    }

    @Test func decodeGivesBackTheText() throws {
        for name in ["gpt2", "roberta", "llama3-split"] {
            let tokenizer = try Self.tokenizer(name)
            let text = "Hello world,\n\tcafé 😀 naïve 1234!"
            let encoding = try tokenizer.encode(text)
            #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: true) == text, "\(name)")
        }
        let llama = try Self.tokenizer("llama2-byte-fallback")
        let encoding = try llama.encode("Hello wörld 😀")
        #expect(llama.decode(encoding.ids, skipSpecialTokens: true) == "Hello wörld 😀")
    }

    @Test func familiesFollowTheAlphabet() throws {
        #expect(try Self.tokenizer("gpt2").family == .byteLevelBPE)
        #expect(try Self.tokenizer("llama3-split").family == .byteLevelBPE)
        // BPE over `▁` words reads as SentencePiece.
        #expect(try Self.tokenizer("llama2-byte-fallback").family == .unigram)
        let display = try Self.tokenizer("llama2-byte-fallback").encode("Hello world").tokens.map(\.display)
        #expect(!display.joined().contains("▁"), "\(display)")
        // BPE with `##` pieces and a WordPiece decoder reads as WordPiece.
        let prefixed = try Self.tokenizer("bpe-subword-prefix")
        #expect(prefixed.family == .wordPiece)
        let pieces = try prefixed.encode("unbelievable tokenizers").tokens.filter { $0.text.hasPrefix("##") }
        #expect(!pieces.isEmpty && pieces.allSatisfy { "##" + $0.display == $0.text })
    }

    /// GPT-2's pre-tokenizer on every code point (letters, numbers, spaces as Oniguruma classes them).
    @Test func byteLevelPreTokenizerMatchesHuggingFaceOnEveryCharacter() throws {
        let blocks = try TokenizerUnicodeTests.blocks(file: "unicode-blocks-bpe-unigram.json")
        let expected = try #require(blocks.pre_tokenizers["ByteLevel"])
        let preTokenizer = ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true)
        var mismatches: [String] = []
        for (index, start) in blocks.starts.enumerated() {
            let scalars = TokenizerUnicodeTests.blockScalars(start, blocks.block_size).flatMap { ["a", $0, " "] as [Unicode.Scalar] }
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for piece in preTokenizer.split(NormalizedText(original: scalars)) where !piece.isEmpty {
                hash = TokenizerUnicodeTests.fnv1a(Array(piece.string.utf8) + [0xFF], hash)
            }
            if TokenizerUnicodeTests.hex(hash) != expected[index] { mismatches.append(String(format: "U+%04X", start)) }
        }
        #expect(mismatches.isEmpty, "ByteLevel differs from Hugging Face in the blocks starting at \(mismatches)")
    }

    @Test func bpeDropoutIsRefused() throws {
        let file = try TokenizerLoaderTests.brokenTokenizer(from: "bpe/gpt2/tokenizer.json") { root in
            var model = root["model"] as? [String: Any] ?? [:]
            model["dropout"] = 0.1
            root["model"] = model
        }
        let error = try #require(TokenizerLoaderTests.loadError(file))
        #expect(error.key == "model.dropout")
        #expect(error.message.contains("random"), "\(error)")
    }

    @Test func mergeOfUnknownTokensNamesTheMerge() throws {
        let file = try TokenizerLoaderTests.brokenTokenizer(from: "bpe/gpt2/tokenizer.json") { root in
            var model = root["model"] as? [String: Any] ?? [:]
            var merges = model["merges"] as? [Any] ?? []
            merges.insert(["Ġzz", "qq"], at: 3)
            model["merges"] = merges
            root["model"] = model
        }
        let error = try #require(TokenizerLoaderTests.loadError(file))
        #expect(error.key == "model.merges[3]", "\(error)")
        #expect(error.message.contains("\"Ġzz\" is not in the vocabulary"), "\(error)")
    }

    @Test func truncatedMergesFileNamesTheLine() throws {
        let source = TokenizerFixtures.folder.appendingPathComponent("bpe-files/gpt2")
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        try Data("#version: 0.2\nĠ t\nh\n".utf8).write(to: folder.appendingPathComponent("merges.txt"))
        #expect {
            _ = try TokenizerLoader.load(folder: folder)
        } throws: { error in
            guard let error = error as? TokenizerError else { return false }
            return error.key == "line 3" && error.file?.hasSuffix("merges.txt") == true
        }
    }
}
