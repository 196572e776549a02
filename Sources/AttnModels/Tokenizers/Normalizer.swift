/// The first stage of the pipeline: rewrites the text (clean, lowercase, strip accents, Unicode forms)
/// while keeping, for each normalized character, the span of the original text it came from.
protocol TextNormalizer: Sendable {
    func normalize(_ text: inout NormalizedText)
    /// How much longer it can make a text (`.none` unless the stage says otherwise).
    var growth: TextGrowth { get }
}

/// The `"type"` values of `normalizer` in tokenizer.json.
enum NormalizerType: String, CaseIterable, Sendable {
    case bert = "BertNormalizer"
    case lowercase = "Lowercase"
    case nfd = "NFD"
    case nfkd = "NFKD"
    case nfc = "NFC"
    case nfkc = "NFKC"
    case stripAccents = "StripAccents"
    case strip = "Strip"
    case sequence = "Sequence"
    case precompiled = "Precompiled"
    case replace = "Replace"
    case prepend = "Prepend"
    case byteLevel = "ByteLevel"
    // Known to Hugging Face, not built here yet.
    case nmt = "Nmt"

    static let supported: [NormalizerType] = [.bert, .lowercase, .nfd, .nfkd, .nfc, .nfkc, .stripAccents, .strip, .sequence,
                                              .precompiled, .replace, .prepend, .byteLevel]
}

enum NormalizerFactory {
    /// Builds the normalizer that `json` (the `normalizer` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any TextNormalizer {
        try make(json, depth: 0)
    }

    private static func make(_ json: TokenizerJSON, depth: Int) throws -> any TextNormalizer {
        let typeName = try json.required("type").string()
        guard let type = NormalizerType(rawValue: typeName), NormalizerType.supported.contains(type) else {
            throw TokenizerError.unsupportedType("normalizer", typeName, file: json.file, key: json.childPath("type"),
                                                 known: NormalizerType(rawValue: typeName) != nil,
                                                 supported: NormalizerType.supported.map(\.rawValue))
        }
        switch type {
        case .bert:
            return BertNormalizer(cleanText: try json.optionalBool("clean_text") ?? true,
                                  handleChineseCharacters: try json.optionalBool("handle_chinese_chars") ?? true,
                                  stripAccents: try json.optionalBool("strip_accents"),
                                  lowercase: try json.optionalBool("lowercase") ?? true)
        case .lowercase:
            return LowercaseNormalizer()
        case .nfd:
            return UnicodeNormalizer(form: .nfd)
        case .nfkd:
            return UnicodeNormalizer(form: .nfkd)
        case .nfc:
            return UnicodeNormalizer(form: .nfc)
        case .nfkc:
            return UnicodeNormalizer(form: .nfkc)
        case .stripAccents:
            return StripAccentsNormalizer()
        case .strip:
            return StripNormalizer(left: try json.optionalBool("strip_left") ?? true,
                                   right: try json.optionalBool("strip_right") ?? true)
        case .sequence:
            try TextGrowth.checkSequenceDepth(depth, json)
            let stages = try json.required("normalizers").array().map { try make($0, depth: depth + 1) }
            return SequenceNormalizer(stages: stages)
        case .precompiled:
            // Some files have a null or empty charsmap (a SentencePiece model without rules).
            guard let charsmap = json["precompiled_charsmap"], try !charsmap.string().isEmpty else {
                return SequenceNormalizer(stages: [])
            }
            return PrecompiledNormalizer(charsmap: try PrecompiledCharsmap(base64: try charsmap.string(), file: json.file,
                                                                           key: charsmap.path))
        case .replace:
            return ReplaceNormalizer(pattern: try TextPattern(json: try json.required("pattern")),
                                     content: Array(try json.required("content").string().unicodeScalars))
        case .prepend:
            return PrependNormalizer(prefix: Array(try json.required("prepend").string().unicodeScalars))
        case .byteLevel:
            return ByteLevelNormalizer()
        case .nmt:
            throw TokenizerError.unsupportedType("normalizer", typeName, file: json.file, key: json.childPath("type"),
                                                 known: true, supported: NormalizerType.supported.map(\.rawValue))
        }
    }
}

/// BERT's normalizer: remove control characters and turn whitespace into spaces, put spaces around
/// CJK ideographs, strip accents (NFD, then drop nonspacing marks), lowercase; in that order.
struct BertNormalizer: TextNormalizer {
    var cleanText: Bool
    var handleChineseCharacters: Bool
    /// nil: strip accents exactly when lowercasing (the `strip_accents: null` of uncased BERT).
    var stripAccents: Bool?
    var lowercase: Bool

    /// CJK spacing triples a character, NFD makes up to 4 of one, lowercasing up to 3.
    var growth: TextGrowth {
        .times((handleChineseCharacters ? 3 : 1) * ((stripAccents ?? lowercase) ? 4 : 1) * (lowercase ? 3 : 1))
    }

    func normalize(_ text: inout NormalizedText) {
        if cleanText {
            text.replaceEach { scalar in
                if scalar.value == 0 || scalar.value == 0xFFFD || UnicodeRules.isBertControl(scalar) { return .remove }
                if scalar.value != 0x20, UnicodeRules.isWhitespace(scalar) { return .one(" ") }
                return .keep
            }
        }
        if handleChineseCharacters {
            text.replaceEach { scalar in
                UnicodeRules.isChineseCharacter(scalar) ? .many([" ", scalar, " "]) : .keep
            }
        }
        if stripAccents ?? lowercase {
            UnicodeNormalizer(form: .nfd).normalize(&text)
            text.replaceEach { UnicodeRules.isBertNonspacingMark($0) ? .remove : .keep }
        }
        if lowercase {
            LowercaseNormalizer().normalize(&text)
        }
    }
}

/// Full Unicode lowercasing, character by character (`İ` becomes `i̇`, two characters).
struct LowercaseNormalizer: TextNormalizer {
    var growth: TextGrowth { .times(3) }

    func normalize(_ text: inout NormalizedText) {
        text.replaceEach { scalar in
            if scalar.value < 0x80 {
                return (0x41...0x5A).contains(scalar.value) ? .one(Unicode.Scalar(scalar.value + 0x20)!) : .keep
            }
            let lowered = scalar.properties.lowercaseMapping.unicodeScalars
            if lowered.count == 1, let only = lowered.first { return only == scalar ? .keep : .one(only) }
            return .many(Array(lowered))
        }
    }
}

/// Removes combining marks (meant to follow NFD or NFKD).
struct StripAccentsNormalizer: TextNormalizer {
    func normalize(_ text: inout NormalizedText) {
        text.replaceEach { UnicodeRules.isCombiningMark($0) ? .remove : .keep }
    }
}

/// Removes whitespace at the start and/or the end.
struct StripNormalizer: TextNormalizer {
    var left: Bool
    var right: Bool

    func normalize(_ text: inout NormalizedText) {
        var start = 0
        var end = text.count
        if left { while start < end, UnicodeRules.isWhitespace(text.scalars[start]) { start += 1 } }
        if right { while end > start, UnicodeRules.isWhitespace(text.scalars[end - 1]) { end -= 1 } }
        if start == 0 && end == text.count { return }
        text.scalars = Array(text.scalars[start..<end])
        text.alignments = Array(text.alignments[start..<end])
    }
}

/// Several normalizers, one after the other.
struct SequenceNormalizer: TextNormalizer {
    var stages: [any TextNormalizer]

    var growth: TextGrowth { stages.reduce(.none) { $0.then($1.growth) } }

    func normalize(_ text: inout NormalizedText) {
        for stage in stages { stage.normalize(&text) }
    }
}

/// NFD, NFKD, NFC or NFKC, aligned to the original text the way Hugging Face's
/// `unicode-normalization-alignments` crate does it (whose algorithm this follows step by step).
struct UnicodeNormalizer: TextNormalizer {
    enum Form: Sendable { case nfd, nfkd, nfc, nfkc }
    var form: Form

    /// A canonical decomposition has at most 4 scalars, a compatibility one 18 (U+FDFA).
    var growth: TextGrowth { .times(form == .nfd || form == .nfc ? 4 : 18) }

    func normalize(_ text: inout NormalizedText) {
        // Nothing below U+00A0 decomposes, composes or reorders.
        if text.scalars.allSatisfy({ $0.value < 0xA0 }) { return }
        var changes = Self.decompose(text.scalars, compatible: form == .nfkd || form == .nfkc)
        if form == .nfc || form == .nfkc { changes = Self.compose(changes) }
        text.transform(changes)
    }

    /// Decomposes each scalar (the first piece replaces it, change 0; the others are inserted,
    /// change 1), then puts each run of combining marks in canonical order, changes travelling along.
    static func decompose(_ scalars: [Unicode.Scalar], compatible: Bool) -> [(scalar: Unicode.Scalar, change: Int)] {
        var output: [(ccc: UInt8, scalar: Unicode.Scalar, change: Int)] = []
        output.reserveCapacity(scalars.count)
        var pendingStart = 0  // first index not yet in canonical order

        func sortPending() {
            // Stable insertion sort by combining class; runs of marks are a few characters long.
            if output.count - pendingStart > 1 {
                for index in (pendingStart + 1)..<output.count {
                    let item = output[index]
                    var position = index
                    while position > pendingStart, output[position - 1].ccc > item.ccc {
                        output[position] = output[position - 1]
                        position -= 1
                    }
                    output[position] = item
                }
            }
            pendingStart = output.count
        }
        func push(_ scalar: Unicode.Scalar, first: Bool) {
            let ccc = UnicodeRules.combiningClass(scalar)
            if ccc == 0 { sortPending() }
            output.append((ccc, scalar, first ? 0 : 1))
        }

        for scalar in scalars {
            if let pieces = UnicodeRules.decomposition(of: scalar, compatible: compatible) {
                for (index, piece) in pieces.enumerated() { push(piece, first: index == 0) }
            } else {
                push(scalar, first: true)
            }
        }
        sortPending()
        return output.map { ($0.scalar, $0.change) }
    }

    /// Canonical composition of a decomposed sequence. A composite takes the change of its starter
    /// plus that of the absorbed character, minus one (it replaces one more original position).
    static func compose(_ input: [(scalar: Unicode.Scalar, change: Int)]) -> [(scalar: Unicode.Scalar, change: Int)] {
        var output: [(scalar: Unicode.Scalar, change: Int)] = []
        output.reserveCapacity(input.count)
        var composee: (scalar: Unicode.Scalar, change: Int)?
        var lastClass: UInt8?
        var blocked: [(scalar: Unicode.Scalar, change: Int)] = []

        for item in input {
            let ccc = UnicodeRules.combiningClass(item.scalar)
            guard let starter = composee else {
                if ccc != 0 { output.append(item) } else { composee = item }
                continue
            }
            if let last = lastClass {
                if last >= ccc {
                    // Blocked from the starter by a mark of the same or higher class.
                    if ccc == 0 {
                        output.append(starter)
                        output.append(contentsOf: blocked)
                        blocked.removeAll()
                        composee = item
                        lastClass = nil
                    } else {
                        blocked.append(item)
                        lastClass = ccc
                    }
                    continue
                }
                if let composite = UnicodeRules.composition(of: starter.scalar, item.scalar) {
                    composee = (composite, starter.change + item.change - 1)
                } else {
                    blocked.append(item)
                    lastClass = ccc
                }
            } else {
                if let composite = UnicodeRules.composition(of: starter.scalar, item.scalar) {
                    composee = (composite, starter.change + item.change - 1)
                } else if ccc == 0 {
                    output.append(starter)
                    composee = item
                } else {
                    blocked.append(item)
                    lastClass = ccc
                }
            }
        }
        if let starter = composee { output.append(starter) }
        output.append(contentsOf: blocked)
        return output
    }
}

/// Every character written as the byte-level characters of its UTF-8 bytes (GPT-2's alphabet).
struct ByteLevelNormalizer: TextNormalizer {
    var growth: TextGrowth { .times(4) }
    func normalize(_ text: inout NormalizedText) { ByteLevelAlphabet.encode(&text) }
}
