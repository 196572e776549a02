import AttnCore
import Testing
@testable import AttnDiff

/// Tokens of a sentence (pair) written out by hand: `words` is a list of words, each a list of
/// its WordPiece tokens; spans are computed against the text the words make with single spaces.
private func tokens(_ a: [[String]], _ b: [[String]]? = nil) -> ([TraceToken], TraceInputs) {
    var tokens = [TraceToken(text: "[CLS]", id: 101, segment: 0, special: true)]
    func add(_ words: [[String]], segment: Int) -> String {
        var text = ""
        for (index, pieces) in words.enumerated() {
            if !text.isEmpty { text += " " }
            var start = text.unicodeScalars.count
            for piece in pieces {
                let plain = piece.hasPrefix("##") ? String(piece.dropFirst(2)) : piece
                text += plain
                let end = text.unicodeScalars.count
                tokens.append(TraceToken(text: piece, display: plain, id: 1, start: start, end: end, word: index, segment: segment))
                start = end
            }
        }
        tokens.append(TraceToken(text: "[SEP]", id: 102, segment: segment, special: true))
        return text
    }
    let textA = add(a, segment: 0)
    let textB = b.map { add($0, segment: 1) }
    return (tokens, TraceInputs(a: textA, b: textB))
}

struct WordAlignmentTests {
    let original = tokens([["the"], ["emi", "##nem"], ["tune"], ["was"], ["awesome"]],
                          [["that"], ["song"], ["was"], ["sick"], ["!"]])

    @Test func groupsTokensIntoWordsWithTheirInputText() {
        let words = WordAlignment.words(original.0, inputs: original.1)
        #expect(words.map(\.text) == ["[CLS]", "the", "eminem", "tune", "was", "awesome", "[SEP]", "that", "song", "was", "sick", "!", "[SEP]"])
        #expect(words[2].tokens == [2, 3])
        #expect(words.map(\.segment) == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        #expect(words.filter(\.special).count == 3)
    }

    @Test func aReplacedWordIsChangedAndEverythingElseMatches() {
        let perturbed = tokens([["the"], ["emi", "##nem"], ["tune"], ["was"], ["awesome"]],
                               [["that"], ["song"], ["was"], ["terr", "##ific"], ["!"]])
        let alignment = WordAlignment(tokensA: original.0, inputsA: original.1, tokensB: perturbed.0, inputsB: perturbed.1)
        let changed = alignment.pairs.filter { $0.status == .changed }
        #expect(changed.count == 1)
        #expect(alignment.wordsA[changed[0].a!].text == "sick")
        #expect(alignment.wordsB[changed[0].b!].text == "terrific")
        #expect(alignment.pairs.filter { $0.status == .matched }.count == 12)
        #expect(!alignment.isIdentical)
        // "was" occurs in both sentences: each aligns within its own segment.
        let was = alignment.pair(forWordOfA: 9)!
        #expect(alignment.wordsB[was.b!].segment == 1)
    }

    @Test func insertionsAndDeletionsAreReported() {
        let edited = tokens([["the"], ["eminem"], ["tune"], ["was"], ["totally"], ["awesome"]],
                            [["that"], ["was"], ["sick"], ["!"]])
        let alignment = WordAlignment(tokensA: original.0, inputsA: original.1, tokensB: edited.0, inputsB: edited.1)
        let inserted = alignment.pairs.filter { $0.status == .inserted }.map { alignment.wordsB[$0.b!].text }
        let deleted = alignment.pairs.filter { $0.status == .deleted }.map { alignment.wordsA[$0.a!].text }
        #expect(inserted == ["totally"])
        #expect(deleted == ["song"])
        // "emi ##nem" and "eminem" are the same word whatever the pieces.
        #expect(alignment.pair(forWordOfA: 2)?.status == .matched)
        // Every word of each side appears exactly once.
        #expect(alignment.pairs.compactMap(\.a).sorted() == Array(alignment.wordsA.indices))
        #expect(alignment.pairs.compactMap(\.b).sorted() == Array(alignment.wordsB.indices))
    }

    @Test func matchingIgnoresCase() {
        let upper = tokens([["The"], ["Eminem"], ["tune"], ["was"], ["awesome"]], [["that"], ["song"], ["was"], ["sick"], ["!"]])
        let alignment = WordAlignment(tokensA: original.0, inputsA: original.1, tokensB: upper.0, inputsB: upper.1)
        #expect(alignment.isIdentical)
    }

    @Test func specialTokensAlignByPositionWhateverTheirText() {
        var other = original
        other.0[0].text = "<s>"
        other.0[other.0.count - 1].text = "</s>"
        let alignment = WordAlignment(tokensA: original.0, inputsA: original.1, tokensB: other.0, inputsB: other.1)
        #expect(alignment.isIdentical)
        #expect(alignment.pair(forWordOfA: 0)?.b == 0)
        #expect(alignment.pair(forWordOfA: alignment.wordsA.count - 1)?.b == alignment.wordsB.count - 1)
    }

    @Test func importedTokensWithoutWordsGroupWordPieces() {
        let plain = ["[CLS]", "emi", "##nem", "was", "sick", "[SEP]"].map { TraceToken(text: $0, id: -1) }
        let words = WordAlignment.words(plain, inputs: TraceInputs(a: "emi ##nem was sick"))
        #expect(words.map(\.text) == ["[CLS]", "eminem", "was", "sick", "[SEP]"])
    }

    @Test func wordMatrixAveragesQueryPiecesAndSumsKeyPieces() throws {
        // Tokens: [CLS] emi ##nem was [SEP] (one segment), words: [CLS] eminem was [SEP].
        let (a, inputs) = tokens([["emi", "##nem"], ["was"]])
        let alignment = WordAlignment(tokensA: a, inputsA: inputs, tokensB: a, inputsB: inputs)
        var scalars = [Float](repeating: 0, count: 25)
        // Row "emi" gives 0.2 to each of emi and ##nem; row "##nem" gives 0.4 and 0.2.
        scalars[1 * 5 + 1] = 0.2; scalars[1 * 5 + 2] = 0.2
        scalars[2 * 5 + 1] = 0.4; scalars[2 * 5 + 2] = 0.2
        scalars[3 * 5 + 1] = 0.5; scalars[3 * 5 + 2] = 0.1
        let words = try alignment.wordMatrix(Tensor(shape: [5, 5], scalars: scalars), side: .a)
        #expect(words.shape == [4, 4])
        #expect(abs(words[1, 1] - 0.5) < 1e-6)   // mean over rows of (0.4, 0.6)
        #expect(abs(words[2, 1] - 0.6) < 1e-6)   // sum over the two key pieces
        #expect(throws: CoreError.self) { try alignment.wordMatrix(Tensor(shape: [3, 3], scalars: [Float](repeating: 0, count: 9)), side: .a) }
    }
}
