import Foundation

/// SentencePiece's Unigram model (T5, Marian, XLM-R): of all the ways to spell a word with
/// vocabulary pieces, the one whose scores (log probabilities) add up highest (Viterbi). A character
/// no piece starts with is an unknown piece scored 10 below the lowest score; consecutive unknown
/// characters are fused into one unknown token, whose text is the characters themselves, as in
/// Hugging Face's `Unigram`. With `byte_fallback`, an unknown piece becomes its bytes (`<0xE2>`)
/// when the vocabulary has them.
struct UnigramModel: TokenizationModel {
    /// Pieces by id, with their scores.
    let pieces: [(text: String, score: Double)]
    let idsByPiece: [VocabularyKey: Int]
    let unknownID: Int?
    let byteFallback: Bool
    let unknownScore: Double
    /// Add scores in single precision, as SentencePiece does (Hugging Face adds in double): the two
    /// break ties between equally good spellings differently (`ww w` or `w ww`).
    let singlePrecision: Bool
    /// The pieces the lattice may use, in a trie over their scalars.
    private let trie: PieceTrie

    var family: TokenizerFamily { .unigram }
    var vocabularySize: Int { pieces.count }

    /// - Parameters: `usable` tells which pieces may spell text (SentencePiece leaves out control
    ///   and unused pieces; Hugging Face uses them all); `file` and `key` name the source, for errors.
    ///   `unknownScore` is the score of an unknown character (Hugging Face: 10 below the lowest
    ///   score of all pieces; SentencePiece: of the normal pieces).
    init(pieces: [(text: String, score: Double)], unknownID: Int?, byteFallback: Bool,
         usable: ((Int) -> Bool)? = nil, unknownScore: Double? = nil, singlePrecision: Bool = false,
         file: String, key: String) throws {
        guard !pieces.isEmpty else {
            throw TokenizerError.invalidFile(file, key: key, "the vocabulary is empty", hint: "re-download the tokenizer files")
        }
        if let unknownID, !(0..<pieces.count).contains(unknownID) {
            throw TokenizerError.invalidFile(file, key: key, "the unknown id \(unknownID) is not an id of the vocabulary (0 to \(pieces.count - 1))",
                                             hint: "fix unk_id or re-download the tokenizer files")
        }
        var ids: [VocabularyKey: Int] = [:]
        ids.reserveCapacity(pieces.count)
        var trie = PieceTrie()
        for (id, piece) in pieces.enumerated() {
            let entry = VocabularyKey(piece.text)
            if ids[entry] == nil { ids[entry] = id }
            if usable?(id) ?? true, !piece.text.isEmpty { trie.insert(Array(piece.text.unicodeScalars), id: id) }
        }
        self.pieces = pieces
        self.idsByPiece = ids
        self.unknownID = unknownID
        self.byteFallback = byteFallback
        self.unknownScore = unknownScore ?? (pieces.map(\.score).min() ?? 0) - 10
        self.singlePrecision = singlePrecision
        self.trie = trie
    }

    /// Reads the `model` object of tokenizer.json: `vocab` as `[[piece, score], …]`, `unk_id`,
    /// `byte_fallback`.
    init(json: TokenizerJSON) throws {
        let vocabularyJSON = try json.required("vocab")
        var pieces: [(text: String, score: Double)] = []
        for entry in try vocabularyJSON.array() {
            let pair = try entry.array()
            guard pair.count == 2, case .number(let score) = pair[1].value else {
                throw TokenizerError.invalidFile(json.file, key: entry.path, "should be a [piece, score] pair")
            }
            pieces.append((try pair[0].string(), score))
        }
        try self.init(pieces: pieces, unknownID: try json.optionalInt("unk_id"),
                      byteFallback: try json.optionalBool("byte_fallback") ?? false,
                      file: json.file, key: vocabularyJSON.path)
    }

    func tokenize(_ word: ArraySlice<Unicode.Scalar>) -> [ModelToken] {
        let scalars = Array(word)
        let count = scalars.count
        if count == 0 { return [] }
        // best[end]: the best spelling of scalars[0..<end] ends with piece `id` from `start`.
        var best = [(score: Double, start: Int, id: Int)?](repeating: nil, count: count + 1)
        best[0] = (0, 0, -1)
        for start in 0..<count {
            guard let here = best[start]?.score else { continue }
            var hasSingleScalarPiece = false
            func add(_ score: Double) -> Double {
                singlePrecision ? Double(Float(here) + Float(score)) : here + score
            }
            trie.forEachPrefix(of: scalars, from: start) { end, id in
                let score = add(pieces[id].score)
                if best[end] == nil || score > best[end]!.score { best[end] = (score, start, id) }
                if end == start + 1 { hasSingleScalarPiece = true }
            }
            if !hasSingleScalarPiece {
                // Without an unknown id Hugging Face fails; the character is then dropped here.
                let score = add(unknownScore)
                if best[start + 1] == nil || score > best[start + 1]!.score {
                    best[start + 1] = (score, start, unknownID ?? -1)
                }
            }
        }
        // Back from the end; runs of unknown pieces become one.
        var spans: [(start: Int, end: Int, id: Int)] = []
        var end = count
        while end > 0 {
            guard let node = best[end] else { break }
            if node.id == unknownID ?? -2, let last = spans.last, last.id == node.id, last.start == end {
                spans[spans.count - 1].start = node.start
            } else {
                spans.append((node.start, end, node.id))
            }
            end = node.start
        }
        spans.reverse()

        var tokens: [ModelToken] = []
        tokens.reserveCapacity(spans.count)
        for span in spans where span.id >= 0 {
            let text = String(String.UnicodeScalarView(scalars[span.start..<span.end]))
            if span.id != unknownID {
                tokens.append(ModelToken(id: span.id, text: text, range: span.start..<span.end))
                continue
            }
            // The text of an unknown span, if it happens to be a piece (an unusable one), is that piece.
            if let id = idsByPiece[VocabularyKey(text)] {
                tokens.append(ModelToken(id: id, text: text, range: span.start..<span.end))
                continue
            }
            if byteFallback {
                let byteIDs = Array(text.utf8).map { idsByPiece[VocabularyKey("<0x\(ByteLevelDecoder.hexByte($0))>")] }
                if byteIDs.allSatisfy({ $0 != nil }) {
                    for (byte, id) in zip(Array(text.utf8), byteIDs) {
                        tokens.append(ModelToken(id: id!, text: "<0x\(ByteLevelDecoder.hexByte(byte))>", range: span.start..<span.end))
                    }
                    continue
                }
            }
            tokens.append(ModelToken(id: span.id, text: text, range: span.start..<span.end))
        }
        return tokens
    }

    func id(for token: String) -> Int? { idsByPiece[VocabularyKey(token)] }

    func token(for id: Int) -> String? {
        id >= 0 && id < pieces.count ? pieces[id].text : nil
    }
}

/// Pieces in a trie over Unicode scalars, for the prefixes of a text that are pieces.
private struct PieceTrie: Sendable {
    private var children: [[UInt32: Int32]] = [[:]]
    private var ids: [Int32] = [-1]

    mutating func insert(_ scalars: [Unicode.Scalar], id: Int) {
        var node = 0
        for scalar in scalars {
            if let child = children[node][scalar.value] {
                node = Int(child)
            } else {
                children.append([:])
                ids.append(-1)
                children[node][scalar.value] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        if ids[node] < 0 { ids[node] = Int32(id) }
    }

    /// Calls `body(end, id)` for each piece that `scalars[start..<end]` spells, shortest first.
    func forEachPrefix(of scalars: [Unicode.Scalar], from start: Int, _ body: (Int, Int) -> Void) {
        var node = 0
        var position = start
        while position < scalars.count, let child = children[node][scalars[position].value] {
            node = Int(child)
            position += 1
            if ids[node] >= 0 { body(position, Int(ids[node])) }
        }
    }
}
