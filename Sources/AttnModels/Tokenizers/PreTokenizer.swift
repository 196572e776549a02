/// The second stage: cuts normalized text into words. Each word is tokenized on its own by the model,
/// and its index among the words is the `word` of its tokens.
protocol PreTokenizer: Sendable {
    /// Cuts one piece into pieces; empty pieces are dropped by the caller.
    func split(_ text: NormalizedText) -> [NormalizedText]
    /// How much longer it can make a text, all pieces together (`.none` unless the stage says otherwise).
    var growth: TextGrowth { get }
}

/// The `"type"` values of `pre_tokenizer` in tokenizer.json.
enum PreTokenizerType: String, CaseIterable, Sendable {
    case bert = "BertPreTokenizer"
    case whitespace = "Whitespace"
    case whitespaceSplit = "WhitespaceSplit"
    case sequence = "Sequence"
    case byteLevel = "ByteLevel"
    case metaspace = "Metaspace"
    case split = "Split"
    // Known to Hugging Face, not built here yet.
    case punctuation = "Punctuation"
    case digits = "Digits"
    case charDelimiterSplit = "CharDelimiterSplit"
    case unicodeScripts = "UnicodeScripts"
    case fixedLength = "FixedLength"

    static let supported: [PreTokenizerType] = [.bert, .whitespace, .whitespaceSplit, .sequence, .byteLevel, .metaspace, .split]
}

enum PreTokenizerFactory {
    /// Builds the pre-tokenizer that `json` (the `pre_tokenizer` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any PreTokenizer {
        try make(json, depth: 0)
    }

    private static func make(_ json: TokenizerJSON, depth: Int) throws -> any PreTokenizer {
        let typeName = try json.required("type").string()
        guard let type = PreTokenizerType(rawValue: typeName), PreTokenizerType.supported.contains(type) else {
            throw TokenizerError.unsupportedType("pre-tokenizer", typeName, file: json.file, key: json.childPath("type"),
                                                 known: PreTokenizerType(rawValue: typeName) != nil,
                                                 supported: PreTokenizerType.supported.map(\.rawValue))
        }
        switch type {
        case .bert:
            return BertPreTokenizer()
        case .whitespace:
            return WhitespacePreTokenizer()
        case .whitespaceSplit:
            return WhitespaceSplitPreTokenizer()
        case .sequence:
            try TextGrowth.checkSequenceDepth(depth, json)
            return SequencePreTokenizer(stages: try json.required("pretokenizers").array().map { try make($0, depth: depth + 1) })
        case .byteLevel:
            return ByteLevelPreTokenizer(addPrefixSpace: try json.optionalBool("add_prefix_space") ?? true,
                                         useRegex: try json.optionalBool("use_regex") ?? true)
        case .metaspace:
            return try MetaspacePreTokenizer(json: json)
        case .split:
            let behaviorJSON = try json.required("behavior")
            let name = try behaviorJSON.string()
            guard let behavior = NormalizedText.DelimiterBehavior(rawValue: name) else {
                throw TokenizerError.invalidFile(json.file, key: behaviorJSON.path, "unknown split behavior \"\(name)\"",
                                                 hint: "use Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous")
            }
            return SplitPreTokenizer(pattern: try TextPattern(json: try json.required("pattern")), behavior: behavior,
                                     invert: try json.optionalBool("invert") ?? false)
        default:
            throw TokenizerError.unsupportedType("pre-tokenizer", typeName, file: json.file, key: json.childPath("type"),
                                                 known: true, supported: PreTokenizerType.supported.map(\.rawValue))
        }
    }
}

/// BERT's pre-tokenizer: split on whitespace (dropped), then every punctuation character is a word.
struct BertPreTokenizer: PreTokenizer {
    func split(_ text: NormalizedText) -> [NormalizedText] {
        text.split(behavior: .removed, where: UnicodeRules.isWhitespace).flatMap {
            $0.split(behavior: .isolated, where: UnicodeRules.isBertPunctuation)
        }
    }
}

/// Words are runs of word characters or runs of other non-space characters (`\w+|[^\w\s]+`).
struct WhitespacePreTokenizer: PreTokenizer {
    func split(_ text: NormalizedText) -> [NormalizedText] {
        enum Kind { case word, other, space }
        func kind(_ scalar: Unicode.Scalar) -> Kind {
            if UnicodeRules.isWordCharacter(scalar) { return .word }
            return UnicodeRules.isWhitespace(scalar) ? .space : .other
        }
        var pieces: [NormalizedText] = []
        var index = 0
        let scalars = text.scalars
        while index < scalars.count {
            let current = kind(scalars[index])
            var end = index + 1
            while end < scalars.count, kind(scalars[end]) == current { end += 1 }
            if current != .space { pieces.append(text.slice(index..<end)) }
            index = end
        }
        return pieces
    }
}

/// Split on whitespace only.
struct WhitespaceSplitPreTokenizer: PreTokenizer {
    func split(_ text: NormalizedText) -> [NormalizedText] {
        text.split(behavior: .removed, where: UnicodeRules.isWhitespace)
    }
}

/// Several pre-tokenizers, each applied to every piece the previous one produced.
struct SequencePreTokenizer: PreTokenizer {
    var stages: [any PreTokenizer]

    var growth: TextGrowth { stages.reduce(.none) { $0.then($1.growth) } }

    func split(_ text: NormalizedText) -> [NormalizedText] {
        var pieces = [text]
        for stage in stages {
            pieces = pieces.flatMap { stage.split($0).filter { !$0.isEmpty } }
        }
        return pieces
    }
}

/// Cuts at the matches of a literal or a regular expression (`invert`: the matches are the words).
struct SplitPreTokenizer: PreTokenizer {
    var pattern: TextPattern
    var behavior: NormalizedText.DelimiterBehavior
    var invert: Bool

    func split(_ text: NormalizedText) -> [NormalizedText] {
        var matches: [(range: Range<Int>, isMatch: Bool)] = []
        var position = 0
        for range in pattern.matches(in: text.scalars) {
            if position < range.lowerBound { matches.append((position..<range.lowerBound, invert)) }
            matches.append((range, !invert))
            position = range.upperBound
        }
        if position < text.count { matches.append((position..<text.count, invert)) }
        return text.split(matches: matches, behavior: behavior)
    }
}
