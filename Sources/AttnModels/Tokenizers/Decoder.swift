import Foundation

/// The last stage: how tokens read, alone (in views: `##nem` shows as `nem`) and joined back into text.
protocol TokenDecoder: Sendable {
    /// One model token as a person reads it.
    func display(_ token: String) -> String
    /// Tokens joined back into text.
    func decode(_ tokens: [String]) -> String
    /// How much longer it can make a token or text (`.none` unless the stage says otherwise).
    var growth: TextGrowth { get }
}

/// The `"type"` values of `decoder` in tokenizer.json.
enum TokenDecoderType: String, CaseIterable, Sendable {
    case wordPiece = "WordPiece"
    case byteLevel = "ByteLevel"
    case metaspace = "Metaspace"
    case sequence = "Sequence"
    case replace = "Replace"
    case fuse = "Fuse"
    case strip = "Strip"
    case byteFallback = "ByteFallback"
    // Known to Hugging Face, not built here yet.
    case bpe = "BPEDecoder"
    case ctc = "CTC"

    static let supported: [TokenDecoderType] = [.wordPiece, .byteLevel, .metaspace, .sequence, .replace, .fuse, .strip,
                                                .byteFallback]
}

enum TokenDecoderFactory {
    /// Builds the decoder that `json` (the `decoder` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any TokenDecoder {
        try make(json, depth: 0)
    }

    private static func make(_ json: TokenizerJSON, depth: Int) throws -> any TokenDecoder {
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
        case .byteLevel:
            return ByteLevelDecoder()
        case .metaspace:
            return MetaspaceDecoder(replacement: try MetaspacePreTokenizer.replacementScalar(json),
                                    prependScheme: try MetaspacePreTokenizer.prependScheme(json))
        case .sequence:
            try TextGrowth.checkSequenceDepth(depth, json)
            return SequenceDecoder(stages: try json.required("decoders").array().map { try make($0, depth: depth + 1) })
        case .replace:
            let pattern = try json.required("pattern")
            guard let literal = try pattern.optionalString("String") else {
                throw TokenizerError.unsupportedType("decoder", "Replace with a regular expression", file: json.file,
                                                     key: pattern.path, known: true, supported: ["Replace with a String pattern"])
            }
            return ReplaceDecoder(pattern: literal, content: try json.required("content").string())
        case .fuse:
            return FuseDecoder()
        case .strip:
            return StripDecoder(content: try json.required("content").string(),
                                start: try json.optionalInt("start") ?? 0, stop: try json.optionalInt("stop") ?? 0)
        case .byteFallback:
            return ByteFallbackDecoder()
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

/// A decoder made of steps that each rewrite the list of tokens (Hugging Face's `decode_chain`);
/// `Sequence` runs them in order. The display form of a token is the chain run on it alone.
protocol ChainDecoder: TokenDecoder {
    func decodeChain(_ tokens: [String]) -> [String]
}

extension ChainDecoder {
    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }
}

extension ByteLevelDecoder: ChainDecoder {
    func decodeChain(_ tokens: [String]) -> [String] { [decode(tokens)] }
}

extension MetaspaceDecoder: ChainDecoder {
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { index, token in
            var piece = String(String.UnicodeScalarView(token.unicodeScalars.map { $0 == replacement ? " " : $0 }))
            if index == 0, prependScheme != .never, piece.hasPrefix(" ") { piece.removeFirst() }
            return piece
        }
    }
}

extension WordPieceDecoder: ChainDecoder {
    func decodeChain(_ tokens: [String]) -> [String] { [decode(tokens)] }
}

struct SequenceDecoder: TokenDecoder {
    var stages: [any TokenDecoder]

    var growth: TextGrowth { stages.reduce(.none) { $0.then($1.growth) } }

    func decodeChain(_ tokens: [String]) -> [String] {
        var tokens = tokens
        for stage in stages {
            if let chain = stage as? any ChainDecoder {
                tokens = chain.decodeChain(tokens)
            } else {
                tokens = [stage.decode(tokens)]
            }
        }
        return tokens
    }

    func decode(_ tokens: [String]) -> String { decodeChain(tokens).joined() }

    /// The display form of the first stage that changes how tokens read (ByteLevel, Metaspace,
    /// WordPiece); else the token as the chain turns it (Llama: `Replace ▁`, `ByteFallback`).
    func display(_ token: String) -> String {
        for stage in stages where stage is ByteLevelDecoder || stage is MetaspaceDecoder || stage is WordPieceDecoder {
            return stage.display(token)
        }
        if stages.contains(where: { ($0 as? ReplaceDecoder)?.pattern == "▁" }) {
            return MetaspaceDecoder.displayForm(token)
        }
        return token
    }
}

/// Replaces a literal in every token (Llama: `▁` by a space).
struct ReplaceDecoder: ChainDecoder {
    var pattern: String
    var content: String

    var growth: TextGrowth { .times(content.unicodeScalars.count) }

    func display(_ token: String) -> String { token }
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { $0.replacingOccurrences(of: pattern, with: content) }
    }
}

/// All tokens into one.
struct FuseDecoder: ChainDecoder {
    func display(_ token: String) -> String { token }
    func decodeChain(_ tokens: [String]) -> [String] { [tokens.joined()] }
}

/// Removes `start` leading and `stop` trailing occurrences of `content` from each token.
struct StripDecoder: ChainDecoder {
    var content: String
    var start: Int
    var stop: Int

    func display(_ token: String) -> String { token }
    func decodeChain(_ tokens: [String]) -> [String] {
        tokens.map { token in
            var characters = Array(token)
            var removed = 0
            while removed < start, let first = characters.first, String(first) == content {
                characters.removeFirst()
                removed += 1
            }
            removed = 0
            while removed < stop, let last = characters.last, String(last) == content {
                characters.removeLast()
                removed += 1
            }
            return String(characters)
        }
    }
}

/// Runs of `<0xAB>` byte tokens read as the UTF-8 text they spell (U+FFFD for each byte of a
/// run that is not valid UTF-8).
struct ByteFallbackDecoder: ChainDecoder {
    func display(_ token: String) -> String { token }

    static func byte(_ token: String) -> UInt8? {
        let scalars = Array(token.unicodeScalars)
        guard scalars.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(String(String.UnicodeScalarView(scalars[3..<5])), radix: 16)
    }

    func decodeChain(_ tokens: [String]) -> [String] {
        var result: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                result.append(text)
            } else {
                result.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = Self.byte(token) {
                pending.append(byte)
            } else {
                flush()
                result.append(token)
            }
        }
        flush()
        return result
    }
}
