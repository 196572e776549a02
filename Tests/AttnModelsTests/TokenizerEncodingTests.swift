import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// What the rest of AttnLab relies on when it encodes text: special tokens, spans into the original
/// text, words, segments, length limits and the mask token.
struct TokenizerEncodingTests {
    static func tiny(_ name: String = "bert-uncased") throws -> any Tokenizer {
        try TokenizerLoader.load(tokenizerFile: TokenizerFixtures.folder.appendingPathComponent("tiny/\(name)/tokenizer.json"))
    }

    /// The original text of a span (Unicode scalar indices, as Python's str indices).
    static func substring(_ text: String, _ start: Int?, _ end: Int?) -> String {
        guard let start, let end else { return "" }
        return String(String.UnicodeScalarView(Array(text.unicodeScalars)[start..<end]))
    }

    @Test func emptyInputGivesOnlyTheSpecialTokens() throws {
        let tokenizer = try Self.tiny()
        let single = try tokenizer.encode("")
        #expect(single.tokens.map(\.text) == ["[CLS]", "[SEP]"])
        #expect(single.tokens.allSatisfy { $0.special && $0.start == nil && $0.word == nil })
        #expect(single.typeIds == [0, 0])

        let pair = try tokenizer.encode("", pair: "")
        #expect(pair.tokens.map(\.text) == ["[CLS]", "[SEP]", "[SEP]"])
        #expect(pair.tokens.map(\.segment) == [0, 0, 1])
        #expect(pair.typeIds == [0, 0, 1])
    }

    @Test func spansPointIntoTheOriginalTextOfEachSentence() throws {
        let tokenizer = try Self.tiny()
        let a = "Café  NAÏVE, 我爱"
        let b = "Ångström!"
        let encoding = try tokenizer.encode(a, pair: b)
        // Every word, rebuilt from its tokens' spans, is a piece of the text the user typed.
        var words: [Int: (segment: Int, start: Int, end: Int)] = [:]
        for token in encoding.tokens where !token.special {
            let word = try #require(token.word)
            let key = token.segment * 1000 + word
            let start = try #require(token.start), end = try #require(token.end)
            let previous = words[key]
            words[key] = (token.segment, min(previous?.start ?? start, start), max(previous?.end ?? end, end))
        }
        let rebuilt = words.keys.sorted().map { key in
            let word = words[key]!
            return Self.substring(word.segment == 0 ? a : b, word.start, word.end)
        }
        #expect(rebuilt == ["Café", "NAÏVE", ",", "我", "爱", "Ångström", "!"])
        // BERT's type ids are the segments, special tokens included.
        #expect(zip(encoding.tokens, encoding.typeIds).allSatisfy { $0.segment == $1 })
    }

    @Test func displayDropsTheContinuationMarker() throws {
        let encoding = try Self.tiny().encode("Café naïve résumé")
        let pieces = encoding.tokens.filter { $0.text.hasPrefix("##") }
        #expect(!pieces.isEmpty)
        #expect(pieces.allSatisfy { "##" + $0.display == $0.text })
        #expect(encoding.tokens.first?.display == "[CLS]")
    }

    @Test func wordsLongerThanTheLimitBecomeOneUnknownToken() throws {
        let tokenizer = try Self.tiny()
        let limit = String(repeating: "tokenizer", count: 11) + "s"  // 100 characters
        let over = limit + "k"
        let encoding = try tokenizer.encode("x \(over) y")
        let unknown = try #require(encoding.tokens.first { $0.text == "[UNK]" })
        #expect((unknown.start, unknown.end) == (2, 103))
        #expect(encoding.tokens.filter { $0.word == 1 }.count == 1)
        // At exactly the limit the word is still spelled out in pieces.
        let pieces = try tokenizer.encode(limit).tokens.filter { !$0.special }
        #expect(pieces.count > 1 && !pieces.contains { $0.text == "[UNK]" })
    }

    @Test func maskTypedInTheTextIsTheMaskToken() throws {
        let tokenizer = try Self.tiny()
        #expect(tokenizer.maskToken == "[MASK]")
        let encoding = try tokenizer.encode("the [MASK] is here")
        let mask = try #require(encoding.tokens.first { $0.id == tokenizer.maskTokenID })
        #expect(mask.text == "[MASK]" && !mask.special)
        #expect((mask.start, mask.end, mask.word) == (4, 10, 1))
    }

    @Test func tooLongWithoutTruncationTellsToTruncate() throws {
        let tokenizer = try Self.tiny()
        let text = "one two three four five six seven eight nine ten"
        let full = try tokenizer.encode(text).count
        #expect {
            _ = try tokenizer.encode(text, pair: nil, maxLength: 8, truncate: false)
        } throws: { error in
            guard let error = error as? TokenizerError else { return false }
            return error.kind == .tooLong(count: full, maxLength: 8) && error.description.contains("--truncate")
        }
        // Exactly at the limit is fine.
        #expect(try tokenizer.encode(text, pair: nil, maxLength: full, truncate: false).count == full)
    }

    @Test func truncationKeepsTheSpecialTokensAndCutsTheLongerSentence() throws {
        let tokenizer = try Self.tiny()
        let single = try tokenizer.encode("one two three four five six seven eight nine ten", pair: nil, maxLength: 6, truncate: true)
        #expect(single.count == 6)
        #expect(single.tokens.last?.text == "[SEP]")

        let pair = try tokenizer.encode("hello", pair: "one two three four five six seven eight nine ten",
                                        maxLength: 10, truncate: true)
        #expect(pair.count == 10)
        #expect(pair.tokens.filter { $0.segment == 0 && !$0.special }.map(\.text) == ["hello"])
        #expect(pair.tokens.map(\.special) == [true, false, true, false, false, false, false, false, false, true])

        #expect {
            _ = try tokenizer.encode("a", pair: "b", maxLength: 2, truncate: true)
        } throws: { ($0 as? TokenizerError)?.kind == .maxLengthTooSmall }
    }

    @Test func decodeJoinsPiecesBackIntoWords() throws {
        let tokenizer = try Self.tiny()
        let encoding = try tokenizer.encode("The quick brown fox, hello world!")
        #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: true) == "the quick brown fox, hello world!")
        #expect(tokenizer.decode(encoding.ids, skipSpecialTokens: false).hasPrefix("[CLS] the quick"))
    }

    @Test func vocabularyLookupsRoundTrip() throws {
        let tokenizer = try Self.tiny()
        #expect(tokenizer.vocabularySize == 300)
        for id in [0, 1, 4, 57, 299] {
            let token = try #require(tokenizer.token(for: id))
            #expect(tokenizer.id(for: token) == id)
        }
        #expect(tokenizer.token(for: 300) == nil)
        #expect(tokenizer.token(for: -1) == nil)
        #expect(tokenizer.id(for: "definitely-not-a-token") == nil)
        #expect(tokenizer.family == .wordPiece)
        #expect(tokenizer.sourceFiles.map(\.lastPathComponent) == ["tokenizer.json"])
    }

    @Test func tenThousandWordsTokenizeWordForWord() throws {
        let tokenizer = try Self.tiny()
        let sentence = "The quick brown fox jumps over the lazy dog, naïvely! "
        let perSentence = try tokenizer.encode(sentence).count - 2
        let text = String(repeating: sentence, count: 1000)  // 12,000 words and punctuation marks
        let encoding = try tokenizer.encode(text)
        #expect(encoding.count == perSentence * 1000 + 2)
        #expect(encoding.tokens.last(where: { !$0.special })?.word == 11_999)
        #expect(encoding.tokens.last(where: { !$0.special })?.end == text.unicodeScalars.count - 1)
    }
}
