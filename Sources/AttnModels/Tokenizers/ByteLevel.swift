import AttnCore

/// GPT-2's byte-level alphabet: every byte is spelt by one printable character, so that a
/// vocabulary of strings can hold any byte sequence. Printable Latin-1 bytes stand for themselves;
/// the others (controls, space, soft hyphen, …) are moved to U+0100 and up in byte order, so a
/// space reads `Ġ` (U+0120) and a newline `Ċ` (U+010A).
enum ByteLevelAlphabet {
    /// The character of each byte.
    static let characterOfByte: [Unicode.Scalar] = {
        var characters = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                characters[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                characters[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return characters
    }()

    /// The byte of each character of the alphabet.
    static let byteOfCharacter: [Unicode.Scalar: UInt8] = {
        var bytes: [Unicode.Scalar: UInt8] = [:]
        for (byte, character) in characterOfByte.enumerated() { bytes[character] = UInt8(byte) }
        return bytes
    }()

    /// The bytes a byte-level token spells; a token with a character outside the alphabet (an added
    /// token) is taken as its own UTF-8, as Hugging Face's decoder does.
    static func bytes(of token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byteOfCharacter[scalar] else { return Array(token.utf8) }
            bytes.append(byte)
        }
        return bytes
    }

    /// Each scalar replaced by the characters of its UTF-8 bytes, all aligned to that scalar.
    static func encode(_ text: inout NormalizedText) {
        text.replaceEach { scalar in
            if scalar.value < 0x80 { return .one(characterOfByte[Int(scalar.value)]) }
            var characters: [Unicode.Scalar] = []
            UTF8.encode(scalar) { characters.append(characterOfByte[Int($0)]) }
            return .many(characters)
        }
    }
}

/// GPT-2's pre-tokenizer: optionally a space before the text, then the words of GPT-2's pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, each turned into
/// byte-level characters.
struct ByteLevelPreTokenizer: PreTokenizer {
    var addPrefixSpace: Bool
    /// Split with GPT-2's pattern (false when a `Split` stage before it already did).
    var useRegex: Bool

    /// A space before the text, then up to 4 characters a scalar (its UTF-8 bytes).
    var growth: TextGrowth { TextGrowth(factor: 4, constant: 4) }

    func split(_ text: NormalizedText) -> [NormalizedText] {
        var text = text
        if addPrefixSpace, text.scalars.first != " " { text.prepend([" "]) }
        let words = useRegex ? GPT2Pattern.split(text) : [text]
        return words.map { word in
            var word = word
            ByteLevelAlphabet.encode(&word)
            return word
        }
    }
}

/// GPT-2's word pattern, matched by hand: the alternatives in order, at each position, with the
/// backtracking of `\s+(?!\S)` (a run of spaces before a word leaves its last space to the word).
enum GPT2Pattern {
    /// `\p{L}`: letters, as the Oniguruma library behind `tokenizers` classes them.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value) }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return UnicodeRules.assigned(scalar, byVersion: oniguruma.major, oniguruma.minor)
        default:
            return false
        }
    }

    /// `\p{N}`: decimal digits, letter numbers and other numbers.
    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return (0x30...0x39).contains(value) }
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber:
            return UnicodeRules.assigned(scalar, byVersion: oniguruma.major, oniguruma.minor)
        default:
            return false
        }
    }

    /// The Unicode version of Oniguruma's tables in `tokenizers` (checked on every code point by
    /// `TokenizerUnicodeTests`).
    static let oniguruma = (major: 16, minor: 0)

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool { UnicodeRules.isWhitespace(scalar) }

    /// The end of the match at `start` (every position matches one alternative or another).
    static func matchEnd(_ s: [Unicode.Scalar], _ start: Int) -> Int {
        let n = s.count
        if s[start] == "'", start + 1 < n {
            switch s[start + 1] {
            case "s", "t", "m", "d": return start + 2
            case "r", "v":
                if start + 2 < n, s[start + 2] == "e" { return start + 3 }
            case "l":
                if start + 2 < n, s[start + 2] == "l" { return start + 3 }
            default: break
            }
        }
        // ` ?X+` for letters, numbers, then everything else that is not a space.
        let isOther: (Unicode.Scalar) -> Bool = { !isSpace($0) && !isLetter($0) && !isNumber($0) }
        for isClass in [isLetter, isNumber, isOther] {
            var position = start
            if s[position] == " " { position += 1 }
            if position < n, isClass(s[position]) {
                while position < n, isClass(s[position]) { position += 1 }
                return position
            }
        }
        // `\s+(?!\S)`, then `\s+`.
        if isSpace(s[start]) {
            var end = start
            while end < n, isSpace(s[end]) { end += 1 }
            if end == n || end - start == 1 { return end }
            return end - 1
        }
        return start + 1  // unreachable: a scalar is a space or not
    }

    /// The words of `text`, in order, covering all of it.
    static func split(_ text: NormalizedText) -> [NormalizedText] {
        var matches: [(range: Range<Int>, isMatch: Bool)] = []
        var position = 0
        while position < text.count {
            let end = matchEnd(text.scalars, position)
            matches.append((position..<end, true))
            position = end
        }
        return text.split(matches: matches, behavior: .isolated)
    }
}

/// Byte-level tokens joined back into text: their bytes, read as UTF-8.
struct ByteLevelDecoder: TokenDecoder {
    /// A byte that is part of a character reads as `\xF0`.
    var growth: TextGrowth { .times(4) }

    func display(_ token: String) -> String { ByteLevelDecoder.displayForm(token) }

    func decode(_ tokens: [String]) -> String {
        String(decoding: tokens.flatMap(ByteLevelAlphabet.bytes(of:)), as: UTF8.self)
    }

    /// How a byte-level token reads in a view: its bytes as text, the leading space (`Ġ`) dropped,
    /// other whitespace and control characters escaped (`\n`, `\t`), a token of spaces only shown
    /// as `␣` per space, and bytes that are only part of a character (a token in the middle of an
    /// emoji) as `\xF0`.
    static func displayForm(_ token: String) -> String {
        let bytes = ByteLevelAlphabet.bytes(of: token)
        var text = ""
        var index = 0
        while index < bytes.count {
            let length = utf8SequenceLength(bytes, at: index)
            if length == 0 {
                text += "\\x" + hexByte(bytes[index])
                index += 1
                continue
            }
            text += String(decoding: bytes[index..<index + length], as: UTF8.self)
            index += length
        }
        return DisplayForm.visible(DisplayForm.droppingOneLeading(" ", from: text))
    }

    /// The length of the valid UTF-8 sequence at `index`, 0 when the bytes there are not one.
    static func utf8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        let slice = Array(bytes[index..<index + length])
        var iterator = slice.makeIterator()
        var decoder = UTF8()
        if case .scalarValue = decoder.decode(&iterator), iterator.next() == nil { return length }
        return 0
    }

    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}

/// Shared rules of the display forms.
enum DisplayForm {
    /// `text` without its first scalar when that is `marker` and something follows it.
    static func droppingOneLeading(_ marker: Unicode.Scalar, from text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.first == marker, scalars.count > 1 else { return text }
        return String(String.UnicodeScalarView(scalars.dropFirst()))
    }

    /// Whitespace and control characters made visible: a text of spaces only as `␣` per space,
    /// newline, tab and carriage return as `\n`, `\t`, `\r`, other controls as `\u{…}`.
    static func visible(_ text: String) -> String {
        if !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 == " " }) {
            return String(repeating: "␣", count: text.unicodeScalars.count)
        }
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}

/// Trims the spaces of byte-level tokens off their spans, Hugging Face's `process_offsets` of the
/// ByteLevel and RobertaProcessing post-processors: `Ġworld` spans `world`, not ` world`. The space
/// added by `add_prefix_space` before the first token is kept.
enum ByteLevelOffsets {
    static func trim(_ tokens: inout [TraceToken], addPrefixSpace: Bool) {
        let space = ByteLevelAlphabet.characterOfByte[0x20]
        func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar == space || UnicodeRules.isWhitespace(scalar) }
        for index in tokens.indices {
            guard var start = tokens[index].start, var end = tokens[index].end else { continue }
            let scalars = Array(tokens[index].text.unicodeScalars)
            var leading = scalars.prefix(while: isSpace).count
            let trailing = scalars.reversed().prefix(while: isSpace).count
            if leading > 0 {
                let isFirst = index == 0 || start == 0
                if isFirst, addPrefixSpace, leading == 1 { leading = 0 }
                start = min(start + leading, end)
            }
            if trailing > 0, end >= trailing { end = max(end - trailing, start) }
            tokens[index].start = start
            tokens[index].end = end
        }
    }
}

/// The ByteLevel post-processor: no special tokens; trims spans when `trim_offsets`.
struct ByteLevelProcessor: PostProcessor {
    var trimOffsets: Bool
    var addPrefixSpace: Bool

    func addedTokenCount(isPair: Bool) -> Int { 0 }

    func process(_ a: [TraceToken], _ b: [TraceToken]?) -> (tokens: [TraceToken], typeIds: [Int]) {
        var a = a, b = b
        if trimOffsets {
            ByteLevelOffsets.trim(&a, addPrefixSpace: addPrefixSpace)
            if b != nil { ByteLevelOffsets.trim(&b!, addPrefixSpace: addPrefixSpace) }
        }
        let tokens = a + (b ?? [])
        return (tokens, tokens.map(\.segment))
    }
}

/// RoBERTa's post-processor: `<s> A </s>` and `<s> A </s> </s> B </s>` (type ids all 0), spans
/// trimmed of spaces when `trim_offsets`.
struct RobertaProcessor: PostProcessor {
    var cls: (token: String, id: Int)
    var sep: (token: String, id: Int)
    var trimOffsets: Bool
    var addPrefixSpace: Bool

    func addedTokenCount(isPair: Bool) -> Int { isPair ? 4 : 2 }

    func process(_ a: [TraceToken], _ b: [TraceToken]?) -> (tokens: [TraceToken], typeIds: [Int]) {
        var a = a, b = b
        if trimOffsets {
            ByteLevelOffsets.trim(&a, addPrefixSpace: addPrefixSpace)
            if b != nil { ByteLevelOffsets.trim(&b!, addPrefixSpace: addPrefixSpace) }
        }
        func special(_ token: (token: String, id: Int), segment: Int) -> TraceToken {
            TraceToken(text: token.token, display: token.token, id: token.id, segment: segment, special: true)
        }
        var tokens = [special(cls, segment: 0)] + a + [special(sep, segment: 0)]
        if let b { tokens += [special(sep, segment: 1)] + b + [special(sep, segment: 1)] }
        // RoBERTa has one token type: every type id is 0, sentence B's too.
        return (tokens, [Int](repeating: 0, count: tokens.count))
    }
}
