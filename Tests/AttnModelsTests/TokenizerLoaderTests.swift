import Foundation
import Testing
@testable import AttnModels

/// Broken or unusual tokenizer files give an error naming the file, the key and the fix.
struct TokenizerLoaderTests {
    static var tinyFile: URL { TokenizerFixtures.folder.appendingPathComponent("tiny/bert-uncased/tokenizer.json") }

    /// Writes the tiny uncased tokenizer.json, changed by `edit`, into a new folder; returns the file.
    static func brokenTokenizer(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        try brokenTokenizer(from: "tiny/bert-uncased/tokenizer.json", edit)
    }

    /// The fixture tokenizer.json at `path` (relative to the fixture folder), changed by `edit`.
    static func brokenTokenizer(from path: String, _ edit: (inout [String: Any]) -> Void) throws -> URL {
        let source = TokenizerFixtures.folder.appendingPathComponent(path)
        var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any])
        edit(&root)
        let file = try makeTokenizerTestFolder().appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: root).write(to: file)
        return file
    }

    static func loadError(_ file: URL) -> TokenizerError? {
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        do {
            _ = try TokenizerLoader.load(folder: file.deletingLastPathComponent())
            return nil
        } catch let error as TokenizerError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    @Test func invalidJSONNamesTheFileLineAndColumn() throws {
        let file = try makeTokenizerTestFolder().appendingPathComponent("tokenizer.json")
        try Data("{\n  \"version\": \"1.0\",\n  \"model\": {\"type\": \"WordPiece\",, }\n}\n".utf8).write(to: file)
        let error = try #require(Self.loadError(file))
        #expect(error.kind == .invalidJSON)
        #expect(error.file == file.path)
        #expect(error.description.contains("line 3, column 33"), "\(error)")
        #expect(error.description.contains("re-download"))
    }

    @Test func unknownNormalizerTypeNamesTheKeyAndTheSupportedTypes() throws {
        let file = try Self.brokenTokenizer { $0["normalizer"] = ["type": "FancyNormalizer"] }
        let error = try #require(Self.loadError(file))
        #expect(error.kind == .unsupportedType)
        #expect(error.file == file.path)
        #expect(error.key == "normalizer.type")
        #expect(error.description.contains("unknown normalizer type \"FancyNormalizer\""), "\(error)")
        #expect(error.description.contains("BertNormalizer"))
    }

    @Test func nestedUnknownTypeNamesItsPath() throws {
        let file = try Self.brokenTokenizer {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFD"], ["type": "Lowercased"]]]
        }
        let error = try #require(Self.loadError(file))
        #expect(error.key == "normalizer.normalizers[1].type", "\(error)")
    }

    @Test func typesKnownToHuggingFaceButNotBuiltAreReportedAsNotSupportedYet() throws {
        let preTokenizer = try #require(Self.loadError(try Self.brokenTokenizer {
            $0["pre_tokenizer"] = ["type": "Punctuation", "behavior": "Isolated"]
        }))
        #expect(preTokenizer.key == "pre_tokenizer.type")
        #expect(preTokenizer.description.contains("\"Punctuation\" is not supported by AttnLab yet"), "\(preTokenizer)")
        #expect(preTokenizer.description.contains("ByteLevel, Metaspace"), "\(preTokenizer)")

        let model = try #require(Self.loadError(try Self.brokenTokenizer {
            $0["model"] = ["type": "WordLevel", "vocab": [:] as [String: Any], "unk_token": "[UNK]"]
        }))
        #expect(model.key == "model.type")
        #expect(model.description.contains("\"WordLevel\" is not supported"), "\(model)")
        #expect(model.description.contains("WordPiece, BPE, Unigram"), "\(model)")
    }

    @Test func missingVocabularyNamesTheKey() throws {
        let file = try Self.brokenTokenizer { root in
            var model = root["model"] as? [String: Any] ?? [:]
            model.removeValue(forKey: "vocab")
            root["model"] = model
        }
        let error = try #require(Self.loadError(file))
        #expect(error.kind == .invalidValue)
        #expect(error.key == "model.vocab")
        #expect(error.description == "\(file.path): model.vocab: is missing; the file is not a complete Hugging Face tokenizer.json; re-download it")
    }

    @Test func valueOfTheWrongTypeNamesTheKey() throws {
        let file = try Self.brokenTokenizer { root in
            var normalizer = root["normalizer"] as? [String: Any] ?? [:]
            normalizer["lowercase"] = "yes"
            root["normalizer"] = normalizer
        }
        let error = try #require(Self.loadError(file))
        #expect(error.key == "normalizer.lowercase")
        #expect(error.message == "should be true or false, found a string")
    }

    @Test func unknownTokenMissingFromTheVocabulary() throws {
        let file = try Self.brokenTokenizer { root in
            var model = root["model"] as? [String: Any] ?? [:]
            model["unk_token"] = "[NOPE]"
            root["model"] = model
        }
        let error = try #require(Self.loadError(file))
        #expect(error.key == "model.vocab")
        #expect(error.message.contains("\"[NOPE]\" is not in the vocabulary"), "\(error)")
    }

    @Test func templateNamingAnUndefinedSpecialToken() throws {
        let file = try Self.brokenTokenizer { root in
            var processor = root["post_processor"] as? [String: Any] ?? [:]
            processor["single"] = [["SpecialToken": ["id": "<s>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]]
            root["post_processor"] = processor
        }
        let error = try #require(Self.loadError(file))
        #expect(error.key == "post_processor.single[0].SpecialToken.id", "\(error)")
        #expect(error.message.contains("\"<s>\""))
    }

    @Test func folderWithoutTokenizerFiles() throws {
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect {
            _ = try TokenizerLoader.load(folder: folder)
        } throws: { error in
            guard let error = error as? TokenizerError else { return false }
            return error.kind == .missingFile && error.file == folder.path
                && error.message == "has no tokenizer.json, vocab.txt, vocab.json with merges.txt, or source.spm"
        }
    }

    @Test func vocabularyFileWithoutItsUnknownToken() throws {
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("[CLS]\n[SEP]\nhello\n".utf8).write(to: folder.appendingPathComponent("vocab.txt"))
        #expect {
            _ = try TokenizerLoader.load(folder: folder)
        } throws: { error in
            (error as? TokenizerError)?.description.contains("\"[UNK]\" is not in the vocabulary") == true
        }
    }

    @Test func jsonReaderKeepsTypesAndDecodesEscapes() throws {
        let text = #"{"a": "caf\u00e9 \ud83d\ude00\n\t\"", "b": [1, -2.5e-3, true, false, null], "c": {}}"#
        let json = try TokenizerJSON.parse(Data(text.utf8), file: "x.json")
        #expect(try json.required("a").string() == "café 😀\n\t\"")
        let items = try json.required("b").array()
        #expect(try items[0].int() == 1)
        #expect(throws: TokenizerError.self) { try items[1].int() }
        #expect(try items[2].bool() == true)
        #expect(throws: TokenizerError.self) { try items[0].bool() }  // 1 is not true
        #expect(items[4].isNull)
        #expect(json["b"]?.path == "b")
        #expect(try json.required("c").objectMembers().isEmpty)
    }
    // MARK: Bounded work per input

    @Test func aSequenceOfFiftyByteLevelStagesIsRefusedWhenLoaded() throws {
        // Each ByteLevel stage spells every byte of a non-ASCII character as a character of its own:
        // 50 of them made one sentence 2 GB in 20 s.
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false]
        let file = try Self.brokenTokenizer(from: "bpe/gpt2/tokenizer.json") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": Array(repeating: byteLevel, count: 50)]
        }
        let error = try #require(Self.loadError(file))
        #expect(error.key == "normalizer and pre_tokenizer")
        #expect(error.description.contains("these stages can make a text 1.3e+30 times longer (at most 256 allowed"), "\(error)")
    }

    @Test func nestedSequencesAreRefusedBeyondEightLevels() throws {
        var nested: [String: Any] = ["type": "Lowercase"]
        for _ in 0 ..< 9 { nested = ["type": "Sequence", "normalizers": [nested]] }
        let file = try Self.brokenTokenizer { $0["normalizer"] = nested }
        let error = try #require(Self.loadError(file))
        #expect(error.description.contains("Sequence stages nest more than 8 deep"), "\(error)")
        // A replacement that grows every character 300-fold is refused too.
        let replace = try Self.brokenTokenizer {
            $0["normalizer"] = ["type": "Replace", "pattern": ["String": "a"], "content": String(repeating: "b", count: 300)]
        }
        #expect(Self.loadError(replace)?.description.contains("times longer") == true)
    }

    @Test func aTextLongerThanAMillionCharactersIsAnError() throws {
        let tokenizer = try TokenizerLoader.load(tokenizerFile: Self.tinyFile)
        let error = try #require(throws: TokenizerError.self) {
            try tokenizer.encode(String(repeating: "a", count: 1_000_001), pair: nil, maxLength: nil, truncate: false)
        }
        #expect(error.kind == .textTooLong)
    }

    @Test func aFIFOInPlaceOfATokenizerFileIsRefused() throws {
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(mkfifo(folder.appendingPathComponent("tokenizer.json").path, 0o600) == 0)
        let error = try #require(throws: TokenizerError.self) { try TokenizerLoader.load(folder: folder) }
        #expect(error.kind == .missingFile)
        #expect(error.description.contains("is a FIFO (named pipe), not a regular file"), "\(error)")
    }
}
