/// SentencePiece's way with spaces (T5, Marian): spaces become `▁` (U+2581), a `▁` is put before the
/// text, and each word starts at a `▁`.
struct MetaspacePreTokenizer: PreTokenizer {
    /// When to put `▁` before a piece of text that does not start with one.
    enum PrependScheme: String, Sendable {
        /// Before every piece (the pieces are cut around added tokens).
        case always
        /// Only before the piece that starts the text.
        case first
        case never
    }

    var replacement: Unicode.Scalar
    var prependScheme: PrependScheme

    /// A `▁` before the text; spaces are replaced one for one.
    var growth: TextGrowth { .plus(1) }
    /// Cut before each `▁` (Hugging Face's `MergedWithNext`).
    var splitWords: Bool

    func split(_ text: NormalizedText) -> [NormalizedText] {
        var text = text
        text.replaceEach { $0 == " " ? .one(replacement) : .keep }
        let prepend: Bool
        switch prependScheme {
        case .always: prepend = true
        case .first: prepend = text.originalOffset == 0
        case .never: prepend = false
        }
        if prepend, text.scalars.first != replacement { text.prepend([replacement]) }
        guard splitWords else { return [text] }
        return text.split(behavior: .mergedWithNext) { $0 == replacement }
    }

    /// Reads a `Metaspace` object: `replacement`, `prepend_scheme` (or the older `add_prefix_space`),
    /// `split`.
    init(json: TokenizerJSON) throws {
        replacement = try MetaspacePreTokenizer.replacementScalar(json)
        prependScheme = try MetaspacePreTokenizer.prependScheme(json)
        splitWords = try json.optionalBool("split") ?? true
    }

    init(replacement: Unicode.Scalar = "▁", prependScheme: PrependScheme, splitWords: Bool) {
        self.replacement = replacement
        self.prependScheme = prependScheme
        self.splitWords = splitWords
    }

    static func replacementScalar(_ json: TokenizerJSON) throws -> Unicode.Scalar {
        let text = try json.optionalString("replacement") ?? "▁"
        guard text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first else {
            throw TokenizerError.invalidFile(json.file, key: json.childPath("replacement"),
                                             "should be one character, found \"\(text)\"", hint: "SentencePiece uses \"▁\"")
        }
        return scalar
    }

    static func prependScheme(_ json: TokenizerJSON) throws -> PrependScheme {
        if let name = try json.optionalString("prepend_scheme") {
            guard let scheme = PrependScheme(rawValue: name) else {
                throw TokenizerError.invalidFile(json.file, key: json.childPath("prepend_scheme"),
                                                 "should be \"always\", \"first\" or \"never\", found \"\(name)\"")
            }
            return scheme
        }
        return try json.optionalBool("add_prefix_space") ?? true ? .always : .never
    }
}

/// Metaspace tokens joined back into text: `▁` is a space, and the space put before the text is
/// dropped.
struct MetaspaceDecoder: TokenDecoder {
    var replacement: Unicode.Scalar
    var prependScheme: MetaspacePreTokenizer.PrependScheme

    func display(_ token: String) -> String { Self.displayForm(token, replacement: replacement) }

    /// A token as it reads in a view: the leading `▁` dropped, other `▁` as spaces, a `▁` alone as `␣`.
    static func displayForm(_ token: String, replacement: Unicode.Scalar = "▁") -> String {
        let text = String(String.UnicodeScalarView(token.unicodeScalars.map { $0 == replacement ? " " : $0 }))
        return DisplayForm.visible(DisplayForm.droppingOneLeading(" ", from: text))
    }

    func decode(_ tokens: [String]) -> String {
        var text = ""
        for (index, token) in tokens.enumerated() {
            var piece = String(String.UnicodeScalarView(token.unicodeScalars.map { $0 == replacement ? " " : $0 }))
            if index == 0, prependScheme != .never, piece.hasPrefix(" ") { piece.removeFirst() }
            text += piece
        }
        return text
    }
}
