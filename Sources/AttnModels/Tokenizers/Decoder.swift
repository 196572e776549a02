import Foundation

/// The last stage: how tokens read, alone (in views: `##nem` shows as `nem`) and joined back into text.
protocol TokenDecoder: Sendable {
    /// One model token as a person reads it.
    func display(_ token: String) -> String
    /// Tokens joined back into text.
    func decode(_ tokens: [String]) -> String
}

/// The `"type"` values of `decoder` in tokenizer.json.
enum TokenDecoderType: String, CaseIterable, Sendable {
    case wordPiece = "WordPiece"
    // Known to Hugging Face, not built here yet.
    case byteLevel = "ByteLevel"
    case metaspace = "Metaspace"
    case bpe = "BPEDecoder"
    case ctc = "CTC"
    case sequence = "Sequence"
    case replace = "Replace"
    case fuse = "Fuse"
    case strip = "Strip"
    case byteFallback = "ByteFallback"

    static let supported: [TokenDecoderType] = [.wordPiece]
}

enum TokenDecoderFactory {
    /// Builds the decoder that `json` (the `decoder` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any TokenDecoder {
        let typeName = try json.required("type").string()
        guard let type = TokenDecoderType(rawValue: typeName), TokenDecoderType.supported.contains(type) else {
            throw TokenizerError.unsupportedType("decoder", typeName, file: json.file, key: json.childPath("type"),
                                                 known: TokenDecoderType(rawValue: typeName) != nil,
                                                 supported: TokenDecoderType.supported.map(\.rawValue))
        }
        switch type {
        case .wordPiece:
            return WordPieceDecoder(prefix: try json.optionalString("prefix") ?? "##",
                                    cleanup: try json.optionalBool("cleanup") ?? true)
        default:
            throw TokenizerError.unsupportedType("decoder", typeName, file: json.file, key: json.childPath("type"),
                                                 known: true, supported: TokenDecoderType.supported.map(\.rawValue))
        }
    }
}

/// Tokens as they read when nothing says otherwise (no `decoder` in tokenizer.json).
struct PlainTokenDecoder: TokenDecoder {
    func display(_ token: String) -> String { token }
    func decode(_ tokens: [String]) -> String { tokens.joined(separator: " ") }
}

/// WordPiece: a `##` piece continues the previous word; other tokens start a new one.
struct WordPieceDecoder: TokenDecoder {
    var prefix: String
    /// Remove the spaces that tokenization put before punctuation and contractions.
    var cleanup: Bool

    func display(_ token: String) -> String {
        token.hasPrefix(prefix) && token.count > prefix.count ? String(token.dropFirst(prefix.count)) : token
    }

    func decode(_ tokens: [String]) -> String {
        var text = ""
        for (index, token) in tokens.enumerated() {
            var piece = token
            if index > 0 {
                if piece.hasPrefix(prefix) {
                    piece.removeFirst(prefix.count)
                } else {
                    piece = " " + piece
                }
            }
            text += cleanup ? Self.cleanUp(piece) : piece
        }
        return text
    }

    /// Hugging Face's `cleanup`: the spaces that BERT's pre-tokenization introduces.
    static func cleanUp(_ text: String) -> String {
        var result = text
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            result = result.replacingOccurrences(of: from, with: to)
        }
        return result
    }
}
