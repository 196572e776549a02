import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// SentencePiece Unigram tokenizers (T5, Marian) against Hugging Face's `tokenizers` and
/// transformers' MarianTokenizer, and the SentencePiece files behind them.
struct TokenizerUnigramTests {
    static func tokenizer(_ name: String) throws -> any Tokenizer {
        try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent("unigram/\(name)/tokenizer.json"))
    }

    static var marianFolder: URL { TokenizerFixtures.folder.appendingPathComponent("marian") }

    @Test(arguments: ["t5", "t5-legacy", "unigram-byte-fallback"])
    func matchesHuggingFace(_ name: String) throws {
        let entry = try #require(try TokenizerFixtures.document("parity-unigram.json").tokenizers.first { $0.name == name })
        let tokenizer = try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent(entry.file))
        #expect(tokenizer.vocabularySize == entry.vocab_size)
        #expect(tokenizer.family == .unigram)
        let failures = TokenizerFixtures.check(tokenizer, entry)
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    struct MarianDocument: Decodable {
        var folder: String
        var vocab_size: Int
        var cases: [MarianCase]
    }

    struct MarianCase: Decodable {
        var side: String
        var a: String
        var ids: [Int]
        var tokens: [String]
    }

    /// Marian without tokenizer.json: source.spm (source side) and target.spm (target side) with the
    /// ids of vocab.json, against transformers' MarianTokenizer (ids and tokens, `<unk>` for unknown
    /// pieces; it has no spans).
    @Test(arguments: TokenizerSide.allCases)
    func marianSentencePieceFilesMatchTransformers(_ side: TokenizerSide) throws {
        let url = TokenizerFixtures.folder.appendingPathComponent("parity-marian.json")
        let document = try JSONDecoder().decode(MarianDocument.self, from: Data(contentsOf: url))
        let tokenizer = try TokenizerLoader.load(folder: Self.marianFolder, side: side)
        #expect(tokenizer.vocabularySize == document.vocab_size)
        #expect(tokenizer.family == .unigram)
        #expect(tokenizer.sourceFiles.first?.lastPathComponent == (side == .source ? "source.spm" : "target.spm"))
        var failures: [String] = []
        for testCase in document.cases where testCase.side == side.rawValue {
            let encoding = try tokenizer.encode(testCase.a)
            if encoding.ids != testCase.ids || encoding.tokens.map(\.text) != testCase.tokens {
                failures.append("\(String(reflecting: testCase.a)): ids \(encoding.ids) != \(testCase.ids)\n  tokens \(encoding.tokens.map(\.text)) != \(testCase.tokens)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(12).joined(separator: "\n"))")
    }

    /// T5 and BART tokenize the decoder's text with the same tokenizer; Marian with target.spm.
    @Test func targetSideIsTheSameTokenizerUnlessMarian() throws {
        let folder = TokenizerFixtures.folder.appendingPathComponent("unigram/t5")
        let text = "Le renard brun, the quick fox."
        let source = try TokenizerLoader.load(folder: folder, side: .source)
        let target = try TokenizerLoader.load(folder: folder, side: .target)
        #expect(try source.encode(text).ids == target.encode(text).ids)
        #expect(target.sourceFiles.map(\.lastPathComponent) == ["tokenizer.json"])

        let marianSource = try TokenizerLoader.load(folder: Self.marianFolder, side: .source)
        let marianTarget = try TokenizerLoader.load(folder: Self.marianFolder, side: .target)
        let french = "La bibliothèque est là-bas"
        #expect(try marianSource.encode(french).ids != marianTarget.encode(french).ids)
        // One vocabulary (vocab.json) for both sides: an id means the same piece on either side.
        #expect(marianSource.vocabularySize == marianTarget.vocabularySize)
        #expect(marianSource.token(for: 5) == marianTarget.token(for: 5))
    }

    @Test func marianSpansPointIntoTheOriginalText() throws {
        let tokenizer = try TokenizerLoader.load(folder: Self.marianFolder)
        let text = "  Café   naïve\u{00A0}ﬁnance!"
        let encoding = try tokenizer.encode(text)
        #expect(encoding.tokens.last?.text == "</s>" && encoding.tokens.last?.special == true)
        let scalars = Array(text.unicodeScalars)
        var words: [Int: (Int, Int)] = [:]
        for token in encoding.tokens where !token.special {
            let word = try #require(token.word), start = try #require(token.start), end = try #require(token.end)
            let previous = words[word]
            words[word] = (min(previous?.0 ?? start, start), max(previous?.1 ?? end, end))
        }
        let rebuilt = words.keys.sorted().map { key -> String in
            let (start, end) = words[key]!
            return String(String.UnicodeScalarView(scalars[start..<end]))
        }
        // A word's `▁` stands for the spaces before it, as in Hugging Face's spans.
        #expect(rebuilt == ["Café", "   naïve", "\u{00A0}ﬁnance!"], "\(rebuilt)")
    }

    @Test func sentencePieceModelFileIsRead() throws {
        let model = try SentencePieceModelFile(url: Self.marianFolder.appendingPathComponent("source.spm"))
        #expect(model.modelType == 1)
        #expect(model.pieces[model.unknownID ?? -1].text == "<unk>")
        #expect(model.pieces.contains { $0.type == .control && $0.text == "</s>" })
        #expect(model.pieces.filter { $0.type == .normal }.allSatisfy { $0.score < 0 })
        #expect(!model.charsmap.isEmpty && model.addDummyPrefix && model.removeExtraWhitespaces)
    }

    @Test func truncatedSentencePieceModelIsAClearError() throws {
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "tokenizer_config.json", "target.spm"] {
            try FileManager.default.copyItem(at: Self.marianFolder.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let whole = try Data(contentsOf: Self.marianFolder.appendingPathComponent("source.spm"))
        try whole.prefix(whole.count / 2).write(to: folder.appendingPathComponent("source.spm"))
        #expect {
            _ = try TokenizerLoader.load(folder: folder)
        } throws: { error in
            guard let error = error as? TokenizerError else { return false }
            return error.file?.hasSuffix("source.spm") == true && error.message.contains("not a valid SentencePiece model")
                && error.description.contains("truncated")
        }
        // The other side still loads.
        #expect(try TokenizerLoader.load(folder: folder, side: .target).family == .unigram)
    }

    @Test func corruptCharsmapIsAClearError() throws {
        let file = try TokenizerLoaderTests.brokenTokenizer(from: "unigram/t5-legacy/tokenizer.json") { root in
            var normalizer = root["normalizer"] as? [String: Any] ?? [:]
            var stages = normalizer["normalizers"] as? [[String: Any]] ?? []
            stages[0]["precompiled_charsmap"] = "not base64 at all!"
            normalizer["normalizers"] = stages
            root["normalizer"] = normalizer
        }
        let error = try #require(TokenizerLoaderTests.loadError(file))
        #expect(error.key == "normalizer.normalizers[0].precompiled_charsmap", "\(error)")
        #expect(error.message == "is not valid base64")

        let short = try TokenizerLoaderTests.brokenTokenizer(from: "unigram/t5-legacy/tokenizer.json") { root in
            var normalizer = root["normalizer"] as? [String: Any] ?? [:]
            var stages = normalizer["normalizers"] as? [[String: Any]] ?? []
            stages[0]["precompiled_charsmap"] = Data([0xFF, 0xFF, 0, 0, 1, 2, 3, 4]).base64EncodedString()
            normalizer["normalizers"] = stages
            root["normalizer"] = normalizer
        }
        let shortError = try #require(TokenizerLoaderTests.loadError(short))
        #expect(shortError.message.contains("not a SentencePiece charsmap"), "\(shortError)")
    }

    @Test func unknownIdOutsideTheVocabularyIsAClearError() throws {
        let file = try TokenizerLoaderTests.brokenTokenizer(from: "unigram/t5-legacy/tokenizer.json") { root in
            var model = root["model"] as? [String: Any] ?? [:]
            model["unk_id"] = 100_000
            root["model"] = model
        }
        let error = try #require(TokenizerLoaderTests.loadError(file))
        #expect(error.key == "model.vocab")
        #expect(error.message.contains("unknown id 100000"), "\(error)")
    }

    @Test func displayDropsTheSpaceMark() throws {
        let tokenizer = try Self.tokenizer("t5")
        let encoding = try tokenizer.encode("Hello world, café")
        #expect(encoding.tokens.contains { $0.text.hasPrefix("▁") })
        for token in encoding.tokens where !token.special {
            #expect(!token.display.contains("▁"), "\(token.text) shows as \(token.display)")
        }
        #expect(encoding.tokens.last?.display == "</s>")
        #expect(MetaspaceDecoder.displayForm("▁world") == "world")
        #expect(MetaspaceDecoder.displayForm("▁") == "␣")
        #expect(MetaspaceDecoder.displayForm("New▁York") == "New York")
    }

    @Test func decodeGivesBackTheNormalizedText() throws {
        let tokenizer = try Self.tokenizer("t5")
        let encoding = try tokenizer.encode("Hello world, the quick brown fox.")
        #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: true) == "Hello world, the quick brown fox.")
        let marian = try TokenizerLoader.load(folder: Self.marianFolder)
        let ids = try marian.encode("Hello   world").ids
        #expect(marian.decode(ids, skipSpecialTokens: true) == "Hello world")
    }

    /// The nmt_nfkc charsmap (the T5 fixture's) on every code point, applied as Hugging Face's
    /// Precompiled normalizer does and as SentencePiece does: the whole block as one text, and each
    /// character alone (between spaces).
    @Test func precompiledNormalizerMatchesHuggingFaceOnEveryCharacter() throws {
        let blocks = try TokenizerUnicodeTests.blocks(file: "unicode-blocks-bpe-unigram.json")
        let data = try Data(contentsOf: TokenizerFixtures.folder.appendingPathComponent("unigram/t5/tokenizer.json"))
        let json = try TokenizerJSON.parse(data, file: "t5")
        let charsmap = try PrecompiledCharsmap(base64: try json.required("normalizer").required("precompiled_charsmap").string(),
                                               file: "t5", key: "normalizer")
        let sentencePiece = SentencePieceNormalizer(charsmap: charsmap, addDummyPrefix: true, removeExtraWhitespaces: true,
                                                    escapeWhitespaces: true)
        let stages: [(String, Bool, any TextNormalizer)] = [
            ("Precompiled(nmt_nfkc)", false, PrecompiledNormalizer(charsmap: charsmap)),
            ("Precompiled(nmt_nfkc) spaced", true, PrecompiledNormalizer(charsmap: charsmap)),
            // SentencePiece's own way with the same rules (Marian's spm files).
            ("SentencePiece(nmt_nfkc)", false, sentencePiece),
            ("SentencePiece(nmt_nfkc) spaced", true, sentencePiece),
        ]
        for (name, spaced, normalizer) in stages {
            let expected = try #require(blocks.normalizers[name])
            var mismatches: [String] = []
            for (index, start) in blocks.starts.enumerated() {
                var scalars = TokenizerUnicodeTests.blockScalars(start, blocks.block_size)
                if spaced { scalars = Array(scalars.map { String($0) }.joined(separator: " ").unicodeScalars) }
                var text = NormalizedText(original: scalars)
                normalizer.normalize(&text)
                if TokenizerUnicodeTests.hex(TokenizerUnicodeTests.fnv1a(text.string.utf8)) != expected[index] {
                    mismatches.append(String(format: "U+%04X", start))
                }
            }
            #expect(mismatches.isEmpty, "\(name) differs from Hugging Face in the blocks starting at \(mismatches)")
        }
    }
}
