import AttnCore

/// The error every tokenizer operation throws: what was wrong, in which file and key, and what to do.
///
/// `description` is the line the command line prints after `error: `, for example
/// `Models/x/tokenizer.json: normalizer.type: unknown normalizer type "Fancy" (supported: …); …`.
public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for callers that react to it (tests, the `--truncate` hint).
    public enum Kind: Equatable, Sendable {
        /// Neither tokenizer.json nor vocab.txt in the model folder, or a file cannot be read.
        case missingFile
        /// The file is not valid JSON.
        case invalidJSON
        /// A key is missing or has a value of the wrong type or range.
        case invalidValue
        /// A `"type"` this version does not implement (known to Hugging Face or not).
        case unsupportedType
        /// The encoded input has `count` tokens, more than `maxLength`, and truncation was off.
        case tooLong(count: Int, maxLength: Int)
        /// A maximum length too small to hold even the special tokens.
        case maxLengthTooSmall
        /// A text longer than any model reads (`PipelineTokenizer.maximumTextLength` scalars).
        case textTooLong
    }

    public var kind: Kind
    /// The file the problem is in, when there is one.
    public var file: String?
    /// The key path inside the file (`normalizer.type`, `model.vocab`), when there is one.
    public var key: String?
    /// What was wrong.
    public var message: String
    /// What the user can do about it.
    public var hint: String?

    public init(_ kind: Kind, file: String? = nil, key: String? = nil, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.file = file
        self.key = key
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var text = ""
        if let file { text += "\(file): " }
        if let key { text += "\(key): " }
        text += message
        if let hint { text += "; \(hint)" }
        return MessageText.escape(text)
    }

    /// The input is longer than the model accepts and truncation was not asked for.
    public static func tooLong(_ count: Int, _ maxLength: Int) -> TokenizerError {
        TokenizerError(.tooLong(count: count, maxLength: maxLength),
                       "the input is \(count) tokens long, more than the maximum of \(maxLength)",
                       hint: "shorten the text, or pass --truncate to cut it to \(maxLength) tokens")
    }

    static func invalidFile(_ file: String, key: String, _ message: String, hint: String? = nil) -> TokenizerError {
        TokenizerError(.invalidValue, file: file, key: key, message, hint: hint)
    }

    /// A `"type"` value the factory of one pipeline stage does not build.
    static func unsupportedType(_ stage: String, _ type: String, file: String, key: String,
                                known: Bool, supported: [String]) -> TokenizerError {
        let list = supported.joined(separator: ", ")
        let message = known
            ? "\(stage) type \"\(type)\" is not supported by AttnLab yet (supported: \(list))"
            : "unknown \(stage) type \"\(type)\" (supported: \(list))"
        let hint = known
            ? "use a model whose tokenizer uses a supported \(stage), or add it in Sources/AttnModels/Tokenizers/"
            : "check the spelling, or re-download tokenizer.json"
        return TokenizerError(.unsupportedType, file: file, key: key, message, hint: hint)
    }
}
