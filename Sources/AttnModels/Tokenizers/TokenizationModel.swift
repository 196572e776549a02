/// The third stage: turns one word (normalized, pre-tokenized) into vocabulary tokens.
protocol TokenizationModel: Sendable {
    /// Tokens of one word; each token's `range` indexes the word's scalars.
    func tokenize(_ word: ArraySlice<Unicode.Scalar>) -> [ModelToken]
    func id(for token: String) -> Int?
    func token(for id: Int) -> String?
    /// One more than the largest id of the model's vocabulary.
    var vocabularySize: Int { get }
    var family: TokenizerFamily { get }
}

/// A token produced by the model, placed in the word it came from.
struct ModelToken: Sendable, Equatable {
    var id: Int
    var text: String
    /// Scalar range in the (normalized) word.
    var range: Range<Int>
}

/// The `"type"` values of `model` in tokenizer.json.
enum TokenizationModelType: String, CaseIterable, Sendable {
    case wordPiece = "WordPiece"
    case bpe = "BPE"
    case unigram = "Unigram"
    // Known to Hugging Face, not built here yet.
    case wordLevel = "WordLevel"

    static let supported: [TokenizationModelType] = [.wordPiece, .bpe, .unigram]
}

enum TokenizationModelFactory {
    /// Builds the model that `json` (the `model` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any TokenizationModel {
        let typeName: String
        if let type = json["type"] {
            typeName = try type.string()
        } else if json["max_input_chars_per_word"] != nil {
            // Files written by old versions of `tokenizers` leave out the type of a WordPiece model.
            typeName = TokenizationModelType.wordPiece.rawValue
        } else {
            throw TokenizerError.invalidFile(json.file, key: json.childPath("type"), "is missing",
                                             hint: "the model section must say which model it is (\"WordPiece\", \"BPE\", \"Unigram\")")
        }
        guard let type = TokenizationModelType(rawValue: typeName), TokenizationModelType.supported.contains(type) else {
            throw TokenizerError.unsupportedType("model", typeName, file: json.file, key: json.childPath("type"),
                                                 known: TokenizationModelType(rawValue: typeName) != nil,
                                                 supported: TokenizationModelType.supported.map(\.rawValue))
        }
        switch type {
        case .wordPiece:
            return try WordPieceModel(json: json)
        case .bpe:
            return try BPEModel(json: json, family: .byteLevelBPE)
        case .unigram:
            return try UnigramModel(json: json)
        case .wordLevel:
            throw TokenizerError.unsupportedType("model", typeName, file: json.file, key: json.childPath("type"),
                                                 known: true, supported: TokenizationModelType.supported.map(\.rawValue))
        }
    }
}

/// A vocabulary key compared byte for byte. Swift's `String` equality treats canonically equivalent
/// text as equal (`"e\u{301}" == "é"`); Hugging Face's vocabularies do not, and neither may we.
struct VocabularyKey: Hashable, Sendable {
    let utf8: [UInt8]

    init(_ text: String) { utf8 = Array(text.utf8) }
    init(utf8: [UInt8]) { self.utf8 = utf8 }

    var string: String { String(decoding: utf8, as: UTF8.self) }

    static func == (a: VocabularyKey, b: VocabularyKey) -> Bool { a.utf8 == b.utf8 }
    func hash(into hasher: inout Hasher) {
        utf8.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
