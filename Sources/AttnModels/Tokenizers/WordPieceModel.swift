import Foundation

/// BERT's WordPiece: the longest vocabulary entry that starts the word, then the longest entry that
/// continues it (spelt with the `##` prefix), and so on; a word with a piece not in the vocabulary,
/// or longer than `maxInputCharactersPerWord`, becomes one unknown token spanning the whole word.
struct WordPieceModel: TokenizationModel {
    let vocabulary: [VocabularyKey: Int]
    /// Token text by id; nil where the vocabulary has a gap.
    let tokensByID: [String?]
    let unknownToken: String
    let unknownID: Int
    let continuingSubwordPrefix: String
    private let prefixBytes: [UInt8]
    let maxInputCharactersPerWord: Int
    /// The longest vocabulary entry, in scalars: no longer piece can match, so none is tried.
    let longestEntry: Int

    var family: TokenizerFamily { .wordPiece }
    var vocabularySize: Int { tokensByID.count }

    /// - Parameters: `file` and `key` name where the vocabulary came from, for errors.
    init(vocabulary: [VocabularyKey: Int], unknownToken: String, continuingSubwordPrefix: String = "##",
         maxInputCharactersPerWord: Int = 100, file: String, key: String) throws {
        guard !vocabulary.isEmpty else {
            throw TokenizerError.invalidFile(file, key: key, "the vocabulary is empty",
                                             hint: "re-download the tokenizer files")
        }
        guard let unknownID = vocabulary[VocabularyKey(unknownToken)] else {
            throw TokenizerError.invalidFile(file, key: key, "the unknown token \"\(unknownToken)\" is not in the vocabulary",
                                             hint: "words the vocabulary cannot spell need it; fix unk_token or the vocabulary")
        }
        let largestID = vocabulary.values.max() ?? 0
        // A tokenizer.json with a wild id would otherwise make us allocate a gigantic table.
        guard largestID < 50_000_000, vocabulary.values.allSatisfy({ $0 >= 0 }) else {
            throw TokenizerError.invalidFile(file, key: key, "token ids must be between 0 and 50,000,000",
                                             hint: "re-download the tokenizer files")
        }
        var tokensByID = [String?](repeating: nil, count: largestID + 1)
        var longest = 0
        var keysByID = [VocabularyKey?](repeating: nil, count: largestID + 1)
        for (key, id) in vocabulary {
            // Two tokens with one id: keep the smaller, so that the choice does not depend on hashing.
            if let existing = keysByID[id], !key.utf8.lexicographicallyPrecedes(existing.utf8) { continue }
            keysByID[id] = key
        }
        for (key, id) in vocabulary {
            longest = max(longest, key.string.unicodeScalars.count)
            if keysByID[id] == key { tokensByID[id] = key.string }
        }
        self.vocabulary = vocabulary
        self.tokensByID = tokensByID
        self.unknownToken = unknownToken
        self.unknownID = unknownID
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.prefixBytes = Array(continuingSubwordPrefix.utf8)
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
        self.longestEntry = longest
    }

    /// Reads the `model` object of tokenizer.json.
    init(json: TokenizerJSON) throws {
        let vocabularyJSON = try json.required("vocab")
        var vocabulary: [VocabularyKey: Int] = [:]
        let members = try vocabularyJSON.objectMembers()
        vocabulary.reserveCapacity(members.count)
        for (token, id) in members { vocabulary[VocabularyKey(token)] = try id.int() }
        let maxCharacters = try json.optionalInt("max_input_chars_per_word") ?? 100
        guard maxCharacters > 0 else {
            throw TokenizerError.invalidFile(json.file, key: json.childPath("max_input_chars_per_word"),
                                             "must be a positive number of characters")
        }
        try self.init(vocabulary: vocabulary,
                      unknownToken: try json.optionalString("unk_token") ?? "[UNK]",
                      continuingSubwordPrefix: try json.optionalString("continuing_subword_prefix") ?? "##",
                      maxInputCharactersPerWord: maxCharacters,
                      file: json.file, key: vocabularyJSON.path)
    }

    /// Reads a vocab.txt: one token a line, its id the line number from 0.
    static func readVocabularyFile(_ url: URL) throws -> [VocabularyKey: Int] {
        let data = try TokenizerLoader.readFile(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.invalidFile(url.path, key: "(file)", "is not UTF-8 text", hint: "re-download vocab.txt")
        }
        var vocabulary: [VocabularyKey: Int] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }  // the final newline
        vocabulary.reserveCapacity(lines.count)
        for (index, line) in lines.enumerated() {
            // Like transformers' load_vocab: only the line break is removed.
            var token = String(line)
            if token.hasSuffix("\r") { token.removeLast() }
            vocabulary[VocabularyKey(token)] = index
        }
        return vocabulary
    }

    func tokenize(_ word: ArraySlice<Unicode.Scalar>) -> [ModelToken] {
        let count = word.count
        let unknown = [ModelToken(id: unknownID, text: unknownToken, range: 0..<count)]
        if count > maxInputCharactersPerWord { return unknown }
        // The word's UTF-8 bytes, and where each scalar starts in them.
        var bytes: [UInt8] = []
        var byteOffsets: [Int] = []
        bytes.reserveCapacity(count * 2)
        byteOffsets.reserveCapacity(count + 1)
        for scalar in word {
            byteOffsets.append(bytes.count)
            UTF8.encode(scalar) { bytes.append($0) }
        }
        byteOffsets.append(bytes.count)

        var tokens: [ModelToken] = []
        var start = 0
        while start < count {
            var end = min(count, start + longestEntry)
            var match: ModelToken?
            while start < end {
                var candidate = start > 0 ? prefixBytes : []
                candidate.append(contentsOf: bytes[byteOffsets[start]..<byteOffsets[end]])
                if let id = vocabulary[VocabularyKey(utf8: candidate)] {
                    match = ModelToken(id: id, text: String(decoding: candidate, as: UTF8.self), range: start..<end)
                    break
                }
                end -= 1
            }
            guard let match else { return unknown }
            tokens.append(match)
            start = end
        }
        return tokens
    }

    func id(for token: String) -> Int? { vocabulary[VocabularyKey(token)] }

    func token(for id: Int) -> String? {
        id >= 0 && id < tokensByID.count ? tokensByID[id] : nil
    }
}
