import Foundation

/// A word of a trace's input: one or more consecutive tokens of one sentence, or a special token.
public struct TraceWord: Sendable, Equatable {
    /// 0 for sentence A, 1 for sentence B of a pair.
    public var segment: Int
    /// The word as it appears in the input (or its tokens joined, when spans are missing).
    public var text: String
    /// Indices of its tokens in the trace, ascending.
    public var tokens: [Int]
    public var special: Bool

    public init(segment: Int, text: String, tokens: [Int], special: Bool) {
        self.segment = segment
        self.text = text
        self.tokens = tokens
        self.special = special
    }

    /// The word as snapshots and drift reports write it: `A:sick` or `B:sick` in a pair (special
    /// tokens too: `A:[CLS]`), its text otherwise. `isNamed` accepts both forms.
    public func label(inPair pair: Bool) -> String {
        pair ? "\(segment == 0 ? "A" : "B"):\(text)" : text
    }

    /// True when `name` names this word: its text, case-insensitive (special tokens exactly, as
    /// `[SEP]`), optionally prefixed `A:` or `B:` for the sentence (`B:sick`).
    public func isNamed(_ name: String) -> Bool {
        var name = Substring(name)
        if name.count > 2, name.hasPrefix("A:") || name.hasPrefix("B:") {
            guard segment == (name.first == "A" ? 0 : 1) else { return false }
            name = name.dropFirst(2)
        }
        return special ? text == name : text.lowercased() == name.lowercased()
    }
}

/// How tokens form words, one definition for every part of AttnLab that names words (expectations,
/// alignments, interventions).
public enum TraceWords {
    /// Groups tokens into words. Tokens with a word index group by `(segment, word)` while they are
    /// consecutive; tokens without one (imported traces) start a new word unless they continue the
    /// previous one in WordPiece's way (`##`). Special tokens are words of their own.
    public static func group(_ tokens: [TraceToken], inputs: TraceInputs) -> [TraceWord] {
        var words: [TraceWord] = []
        var previousKey: (segment: Int, word: Int)?
        for (index, token) in tokens.enumerated() {
            defer { if token.special { previousKey = nil } }
            if token.special {
                words.append(TraceWord(segment: token.segment, text: token.text, tokens: [index], special: true))
                continue
            }
            if let word = token.word {
                if let key = previousKey, key.segment == token.segment, key.word == word, !words.isEmpty {
                    words[words.count - 1].tokens.append(index)
                } else {
                    words.append(TraceWord(segment: token.segment, text: "", tokens: [index], special: false))
                }
                previousKey = (token.segment, word)
            } else {
                previousKey = nil
                if token.text.hasPrefix("##"), let last = words.last, !last.special, last.segment == token.segment,
                   tokens[last.tokens[0]].word == nil {
                    words[words.count - 1].tokens.append(index)
                } else {
                    words.append(TraceWord(segment: token.segment, text: "", tokens: [index], special: false))
                }
            }
        }
        for index in words.indices where !words[index].special {
            words[index].text = text(of: words[index], tokens: tokens, inputs: inputs)
        }
        return words
    }

    /// The input text a word's tokens cover, or its tokens' display forms joined.
    public static func text(of word: TraceWord, tokens: [TraceToken], inputs: TraceInputs) -> String {
        let members = word.tokens.map { tokens[$0] }
        let source = word.segment == 0 ? inputs.a : inputs.b
        if let source, let start = members.compactMap(\.start).min(), let end = members.compactMap(\.end).max() {
            let scalars = Array(source.unicodeScalars)
            if start >= 0, start < end, end <= scalars.count {
                var text = String.UnicodeScalarView()
                text.append(contentsOf: scalars[start ..< end])
                // A byte-level BPE word carries the space before it (" is"); its name does not.
                let trimmed = String(text).trimmingCharacters(in: .whitespacesAndNewlines)
                return trimmed.isEmpty ? String(text) : trimmed
            }
        }
        return members.enumerated().map { position, token in
            let display = token.display.isEmpty ? token.text : token.display
            return position > 0 && display.hasPrefix("##") ? String(display.dropFirst(2)) : display
        }.joined()
    }

    /// The token positions of every word `name` names, in order.
    public static func positions(of name: String, in words: [TraceWord]) -> [Int] {
        words.filter { $0.isNamed(name) }.flatMap(\.tokens)
    }
}
