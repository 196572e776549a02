import AttnCore
import Foundation

/// Which kind of tokenizer a model uses; views and diffs use it to prettify tokens.
public enum TokenizerFamily: String, Sendable, Codable, CaseIterable {
    /// BERT's WordPiece (`##` marks a piece that continues a word).
    case wordPiece
    /// GPT-2 / RoBERTa / BART byte-level BPE (`Ġ` marks a leading space).
    case byteLevelBPE
    /// SentencePiece (T5 and Marian's Unigram, and BPE over `▁` words as in Llama 2; `▁` marks a
    /// leading space).
    case unigram
}

/// The tokens of one input (a sentence or a pair), with the special tokens the model expects.
public struct Encoding: Sendable, Equatable {
    /// Every token, special ones included, with its span, word and segment.
    public var tokens: [TraceToken]
    /// The vocabulary ids (`tokens.map(\.id)`): the model's `input_ids`.
    public var ids: [Int]
    /// The model's `token_type_ids` (0 for sentence A, 1 for sentence B in BERT).
    public var typeIds: [Int]

    public init(tokens: [TraceToken], ids: [Int], typeIds: [Int]) {
        self.tokens = tokens
        self.ids = ids
        self.typeIds = typeIds
    }

    public var count: Int { ids.count }
}

/// Turns text into the token ids a model reads, keeping where each token came from.
public protocol Tokenizer: Sendable {
    /// Tokenizes sentence A (and B for a pair), adding special tokens by the post-processor.
    ///
    /// `maxLength` counts every token, special ones included. When set and the result is longer:
    /// with `truncate`, tokens are cut from the end (from the longer sentence first for a pair, as
    /// Hugging Face's `longest_first`); without it, `TokenizerError.tooLong` is thrown.
    func encode(_ a: String, pair b: String?, maxLength: Int?, truncate: Bool) throws -> Encoding
    /// The id of a token spelled as in the vocabulary (`"##nem"`, `"[MASK]"`).
    func id(for token: String) -> Int?
    /// The vocabulary spelling of an id.
    func token(for id: Int) -> String?
    /// One more than the largest id, added tokens included (the model's embedding rows).
    var vocabularySize: Int { get }
    /// The mask token of a masked language model (`"[MASK]"` for BERT), nil if there is none.
    var maskToken: String? { get }
    var family: TokenizerFamily { get }
    /// Ids joined back into text (`##` pieces glued to their word), special tokens left out if asked.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The files the tokenizer was read from, for provenance (hash them to pin the tokenizer).
    var sourceFiles: [URL] { get }
}

extension Tokenizer {
    /// Tokenizes without a length limit.
    public func encode(_ a: String, pair b: String? = nil) throws -> Encoding {
        try encode(a, pair: b, maxLength: nil, truncate: false)
    }

    /// The id of `maskToken`.
    public var maskTokenID: Int? { maskToken.flatMap { id(for: $0) } }

    /// Tokenizes text that holds its special tokens already (a rendered chat template), adding none,
    /// as transformers' `apply_chat_template` tokenizes: the special tokens typed in it are found
    /// as such.
    public func encodeRendered(_ text: String, maxLength: Int?, truncate: Bool) throws -> Encoding {
        guard var pipeline = self as? PipelineTokenizer else { return try encode(text, pair: nil, maxLength: maxLength, truncate: truncate) }
        pipeline.postProcessor = nil
        return try pipeline.encode(text, pair: nil, maxLength: maxLength, truncate: truncate)
    }
}

/// A tokenizer made of Hugging Face's pipeline stages: added tokens are found first, then each
/// remaining piece is normalized, cut into words, and each word tokenized by the model; the
/// post-processor adds the special tokens.
struct PipelineTokenizer: Tokenizer {
    var normalizer: (any TextNormalizer)?
    var preTokenizer: (any PreTokenizer)?
    var model: any TokenizationModel
    var postProcessor: (any PostProcessor)?
    var decoder: any TokenDecoder
    var addedVocabulary: AddedVocabulary
    var maskToken: String?
    var sourceFiles: [URL]

    var family: TokenizerFamily { model.family }

    var vocabularySize: Int {
        max(model.vocabularySize, (addedVocabulary.tokensByID.keys.max() ?? -1) + 1)
    }

    func id(for token: String) -> Int? {
        addedVocabulary.idsByContent[VocabularyKey(token)] ?? model.id(for: token)
    }

    func token(for id: Int) -> String? {
        addedVocabulary.tokensByID[id]?.content ?? model.token(for: id)
    }

    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        let tokens = ids.compactMap { id -> String? in
            if skipSpecialTokens, addedVocabulary.tokensByID[id]?.special == true { return nil }
            return token(for: id)
        }
        return decoder.decode(tokens)
    }

    /// The longest text tokenized, in Unicode scalars: far more than any model reads, and with the
    /// growth bound of the stages (`TextGrowth`), a bound on the work and memory of one input.
    static let maximumTextLength = 1_000_000

    func encode(_ a: String, pair b: String?, maxLength: Int?, truncate: Bool) throws -> Encoding {
        for text in [a, b ?? ""] where text.unicodeScalars.count > Self.maximumTextLength {
            throw TokenizerError(.textTooLong, "the text is \(text.unicodeScalars.count) characters long; AttnLab tokenizes at most \(Self.maximumTextLength)",
                                 hint: "shorten it")
        }
        var first = encodeSequence(a, segment: 0)
        var second = b.map { encodeSequence($0, segment: 1) }
        if let maxLength {
            let added = postProcessor?.addedTokenCount(isPair: second != nil) ?? 0
            let total = first.count + (second?.count ?? 0) + added
            if total > maxLength {
                guard truncate else { throw TokenizerError.tooLong(total, maxLength) }
                guard maxLength >= added else {
                    throw TokenizerError(.maxLengthTooSmall,
                                         "a maximum length of \(maxLength) tokens cannot hold the \(added) special tokens",
                                         hint: "use a maximum length of at least \(added + 1)")
                }
                Self.truncateLongestFirst(&first, &second, maxLength: maxLength - added)
            }
        }
        var tokens: [TraceToken]
        let typeIds: [Int]
        if let postProcessor {
            (tokens, typeIds) = postProcessor.process(first, second)
        } else {
            tokens = first + (second ?? [])
            typeIds = tokens.map(\.segment)
        }
        // Tokens are named as the vocabulary spells them, as transformers' `convert_ids_to_tokens`
        // does: an unknown piece is `<unk>`, not the characters it covers, and an `lstrip` token is
        // `<mask>`, not the ` <mask>` it matched (the post-processors trim spans by what matched, so
        // this comes last; the span keeps what matched).
        for index in tokens.indices {
            guard let spelled = token(for: tokens[index].id), spelled != tokens[index].text else { continue }
            tokens[index].text = spelled
            tokens[index].display = addedVocabulary.tokensByID[tokens[index].id] != nil ? spelled : decoder.display(spelled)
        }
        return Encoding(tokens: tokens, ids: tokens.map(\.id), typeIds: typeIds)
    }

    /// One sentence's tokens, without special tokens; spans are relative to `text`.
    func encodeSequence(_ text: String, segment: Int) -> [TraceToken] {
        let original = Array(text.unicodeScalars)
        guard !original.isEmpty else { return [] }

        // 1. Added tokens typed in the raw text; 2. the rest normalized, then normalized added tokens.
        var pieces: [(text: NormalizedText, token: ModelToken?)] = []
        for (piece, token) in addedVocabulary.split(NormalizedText(original: original), normalized: false) {
            if token != nil {
                pieces.append((piece, token))
                continue
            }
            var normalized = piece
            normalizer?.normalize(&normalized)
            pieces.append(contentsOf: addedVocabulary.split(normalized, normalized: true))
        }

        // 3. Words; 4. model tokens. A word's index is its position among all pieces, added tokens included.
        var tokens: [TraceToken] = []
        tokens.reserveCapacity(original.count / 3)
        var wordIndex = 0
        for (piece, addedToken) in pieces {
            if let addedToken {
                let span = piece.originalSpan(of: addedToken.range)
                // The text is what matched (with the spaces an `lstrip` token swallowed, as Hugging
                // Face's `encoding.tokens` spells it) until `encode` names it as the vocabulary does;
                // the display is the token's own spelling.
                let display = addedVocabulary.tokensByID[addedToken.id]?.content ?? addedToken.text
                tokens.append(TraceToken(text: addedToken.text, display: display, id: addedToken.id,
                                         start: span.start, end: span.end, word: wordIndex, segment: segment))
                wordIndex += 1
                continue
            }
            let words = preTokenizer.map { $0.split(piece) } ?? [piece]
            for word in words where !word.isEmpty {
                for modelToken in model.tokenize(word.scalars[...]) {
                    let span = word.originalSpan(of: modelToken.range)
                    tokens.append(TraceToken(text: modelToken.text, display: decoder.display(modelToken.text),
                                             id: modelToken.id, start: span.start, end: span.end,
                                             word: wordIndex, segment: segment))
                }
                wordIndex += 1
            }
        }
        return tokens
    }

    /// Hugging Face's `longest_first` truncation to `maxLength` tokens (special tokens excluded):
    /// a single sequence loses its end; of a pair, the longer loses tokens until both fit, or both
    /// are cut to half when neither fits in its half.
    static func truncateLongestFirst(_ first: inout [TraceToken], _ second: inout [TraceToken]?, maxLength: Int) {
        guard var pair = second else {
            if first.count > maxLength { first.removeLast(first.count - maxLength) }
            return
        }
        guard first.count + pair.count > maxLength else { return }
        var shorter = min(first.count, pair.count)
        var longer: Int
        if shorter > maxLength {
            longer = shorter
        } else {
            longer = max(shorter, maxLength - shorter)
        }
        if shorter + longer > maxLength {
            shorter = maxLength / 2
            longer = shorter + maxLength % 2
        }
        let (firstLength, secondLength) = first.count > pair.count ? (longer, shorter) : (shorter, longer)
        if first.count > firstLength { first.removeLast(first.count - firstLength) }
        if pair.count > secondLength { pair.removeLast(pair.count - secondLength) }
        second = pair
    }
}
