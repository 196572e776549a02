import Foundation

/// Byte-pair encoding (GPT-2, RoBERTa, BART): a word starts as one symbol per character, then the
/// adjacent pair with the best (lowest) merge rank is merged, leftmost first, until no pair of
/// symbols has a merge.
///
/// As Hugging Face's `BPE` with `dropout` null: `continuing_subword_prefix` is put before every
/// character but the first and `end_of_word_suffix` after the last; a character not in the
/// vocabulary becomes its bytes (`<0x41>`) with `byte_fallback`, else the unknown token (consecutive
/// ones fused with `fuse_unk`), else it is dropped.
struct BPEModel: TokenizationModel {
    let vocabulary: [VocabularyKey: Int]
    let tokensByID: [String?]
    /// The rank and the id of the merged symbol, by the ids of the pair.
    let merges: [PairKey: (rank: Int, id: Int)]
    let unknownToken: String?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let fuseUnknown: Bool
    let byteFallback: Bool
    /// A word spelt whole in the vocabulary is that token, without merging (Llama 3).
    let ignoreMerges: Bool
    var family: TokenizerFamily

    struct PairKey: Hashable, Sendable {
        var left: Int
        var right: Int
    }

    var vocabularySize: Int { tokensByID.count }

    /// - Parameters: `merges` in rank order, each a pair of vocabulary entries; `file` and `key` name
    ///   where they came from, for errors.
    init(vocabulary: [VocabularyKey: Int], merges: [(String, String)], unknownToken: String?,
         continuingSubwordPrefix: String? = nil, endOfWordSuffix: String? = nil, fuseUnknown: Bool = false,
         byteFallback: Bool = false, ignoreMerges: Bool = false, family: TokenizerFamily = .byteLevelBPE,
         file: String, key: String, mergeKey: (Int) -> String = { "merges[\($0)]" }) throws {
        guard !vocabulary.isEmpty else {
            throw TokenizerError.invalidFile(file, key: key, "the vocabulary is empty", hint: "re-download the tokenizer files")
        }
        tokensByID = try Self.tokenTable(vocabulary, file: file, key: key)
        if let unknownToken, vocabulary[VocabularyKey(unknownToken)] == nil {
            throw TokenizerError.invalidFile(file, key: key, "the unknown token \"\(unknownToken)\" is not in the vocabulary",
                                             hint: "fix unk_token or the vocabulary")
        }
        let prefixLength = continuingSubwordPrefix?.utf8.count ?? 0
        var table: [PairKey: (rank: Int, id: Int)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let leftID = vocabulary[VocabularyKey(left)], let rightID = vocabulary[VocabularyKey(right)] else {
                let missing = vocabulary[VocabularyKey(left)] == nil ? left : right
                throw TokenizerError.invalidFile(file, key: mergeKey(rank),
                                                 "merges \"\(left) \(right)\" but \"\(missing)\" is not in the vocabulary",
                                                 hint: "the merges and the vocabulary do not belong together; re-download both")
            }
            // The right part loses its continuation prefix when merged ("a" + "##b" = "ab").
            var merged = Array(left.utf8)
            let rightBytes = Array(right.utf8)
            merged += prefixLength > 0 && rightBytes.starts(with: Array(continuingSubwordPrefix!.utf8))
                ? rightBytes.dropFirst(prefixLength) : rightBytes[...]
            guard let mergedID = vocabulary[VocabularyKey(utf8: merged)] else {
                throw TokenizerError.invalidFile(file, key: mergeKey(rank),
                                                 "merges \"\(left) \(right)\" into \"\(String(decoding: merged, as: UTF8.self))\", which is not in the vocabulary",
                                                 hint: "the merges and the vocabulary do not belong together; re-download both")
            }
            let pair = PairKey(left: leftID, right: rightID)
            if table[pair] == nil { table[pair] = (rank, mergedID) }
        }
        self.vocabulary = vocabulary
        self.merges = table
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.family = family
    }

    /// Token text by id, nil where the vocabulary has a gap; the smaller spelling when two share an id.
    static func tokenTable(_ vocabulary: [VocabularyKey: Int], file: String, key: String) throws -> [String?] {
        let largestID = vocabulary.values.max() ?? 0
        guard largestID < 50_000_000, vocabulary.values.allSatisfy({ $0 >= 0 }) else {
            throw TokenizerError.invalidFile(file, key: key, "token ids must be between 0 and 50,000,000",
                                             hint: "re-download the tokenizer files")
        }
        var keysByID = [VocabularyKey?](repeating: nil, count: largestID + 1)
        for (entry, id) in vocabulary {
            if let existing = keysByID[id], !entry.utf8.lexicographicallyPrecedes(existing.utf8) { continue }
            keysByID[id] = entry
        }
        return keysByID.map { $0?.string }
    }

    /// Reads the `model` object of tokenizer.json.
    init(json: TokenizerJSON, family: TokenizerFamily) throws {
        if let dropout = json["dropout"] {
            guard case .number(let value) = dropout.value, value == 0 else {
                throw TokenizerError.invalidFile(json.file, key: dropout.path, "BPE dropout is random; AttnLab needs the same tokens every run",
                                                 hint: "set \"dropout\" to null in tokenizer.json")
            }
        }
        let vocabularyJSON = try json.required("vocab")
        var vocabulary: [VocabularyKey: Int] = [:]
        let members = try vocabularyJSON.objectMembers()
        vocabulary.reserveCapacity(members.count)
        for (token, id) in members { vocabulary[VocabularyKey(token)] = try id.int() }
        var merges: [(String, String)] = []
        let mergesJSON = try json.required("merges")
        for entry in try mergesJSON.array() {
            // "a b" (older files) or ["a", "b"] (tokenizers 0.20 and later).
            if case .array = entry.value {
                let parts = try entry.array()
                guard parts.count == 2 else {
                    throw TokenizerError.invalidFile(json.file, key: entry.path, "should be a pair of tokens")
                }
                merges.append((try parts[0].string(), try parts[1].string()))
            } else {
                let text = try entry.string()
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidFile(json.file, key: entry.path, "should be two tokens separated by one space, found \"\(text)\"")
                }
                merges.append((String(parts[0]), String(parts[1])))
            }
        }
        let unknown = try json.optionalString("unk_token")
        try self.init(vocabulary: vocabulary, merges: merges,
                      // Hugging Face fails only when the token is needed; a word it cannot spell loses those characters here.
                      unknownToken: unknown.flatMap { vocabulary[VocabularyKey($0)] != nil ? $0 : nil },
                      continuingSubwordPrefix: try json.optionalString("continuing_subword_prefix").flatMap { $0.isEmpty ? nil : $0 },
                      endOfWordSuffix: try json.optionalString("end_of_word_suffix").flatMap { $0.isEmpty ? nil : $0 },
                      fuseUnknown: try json.optionalBool("fuse_unk") ?? false,
                      byteFallback: try json.optionalBool("byte_fallback") ?? false,
                      ignoreMerges: try json.optionalBool("ignore_merges") ?? false,
                      family: family, file: json.file, key: vocabularyJSON.path,
                      mergeKey: { "\(mergesJSON.path)[\($0)]" })
    }

    /// Reads GPT-2's merges.txt: an optional `#version` line, then one merge a line, best first.
    static func readMergesFile(_ url: URL) throws -> [(String, String)] {
        let data = try TokenizerLoader.readFile(url)
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError.invalidFile(url.path, key: "(file)", "is not UTF-8 text", hint: "re-download merges.txt")
        }
        var merges: [(String, String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(line)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidFile(url.path, key: "line \(index + 1)", "should be two tokens separated by one space, found \"\(line)\"",
                                                 hint: "re-download merges.txt")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    /// A symbol of a word being merged: a vocabulary id and the scalars of the word it covers.
    private struct Symbol {
        var id: Int
        var start: Int
        var end: Int
        var previous: Int
        var next: Int
        var removed = false
    }

    func tokenize(_ word: ArraySlice<Unicode.Scalar>) -> [ModelToken] {
        let scalars = Array(word)
        if scalars.isEmpty { return [] }
        if ignoreMerges, let id = vocabulary[VocabularyKey(String(String.UnicodeScalarView(scalars)))] {
            return [ModelToken(id: id, text: tokensByID[id] ?? "", range: 0..<scalars.count)]
        }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(scalars.count)
        var unknown: (id: Int, start: Int, end: Int)?
        func add(_ id: Int, _ start: Int, _ end: Int) {
            symbols.append(Symbol(id: id, start: start, end: end, previous: symbols.count - 1, next: symbols.count + 1))
        }
        let unknownID = unknownToken.flatMap { vocabulary[VocabularyKey($0)] }
        for (index, scalar) in scalars.enumerated() {
            var text = index > 0 ? continuingSubwordPrefix ?? "" : ""
            text.unicodeScalars.append(scalar)
            if index == scalars.count - 1, let endOfWordSuffix { text += endOfWordSuffix }
            if let id = vocabulary[VocabularyKey(text)] {
                if let pending = unknown { add(pending.id, pending.start, pending.end); unknown = nil }
                add(id, index, index + 1)
                continue
            }
            if byteFallback {
                let ids = Array(text.utf8).map { vocabulary[VocabularyKey("<0x\(ByteLevelDecoder.hexByte($0))>")] }
                if ids.allSatisfy({ $0 != nil }) {
                    // Hugging Face leaves a pending unknown token pending here.
                    for id in ids { add(id!, index, index + 1) }
                    continue
                }
            }
            guard let unknownID else { continue }
            if let pending = unknown {
                if fuseUnknown {
                    unknown = (pending.id, pending.start, index + 1)
                    continue
                }
                add(pending.id, pending.start, pending.end)
            }
            unknown = (unknownID, index, index + 1)
        }
        if let pending = unknown { add(pending.id, pending.start, pending.end) }
        if !symbols.isEmpty { symbols[symbols.count - 1].next = -1 }

        // Merge the best pair (lowest rank, then leftmost) while there is one; stale entries of the
        // queue are skipped, as in Hugging Face's Word::merge_all.
        var queue = MergeQueue()
        for index in 0..<max(0, symbols.count - 1) {
            if let merge = merges[PairKey(left: symbols[index].id, right: symbols[index + 1].id)] {
                queue.push(.init(rank: merge.rank, position: index, id: merge.id))
            }
        }
        while let top = queue.pop() {
            let position = top.position
            guard !symbols[position].removed, symbols[position].next != -1 else { continue }
            let nextPosition = symbols[position].next
            let right = symbols[nextPosition]
            guard let merge = merges[PairKey(left: symbols[position].id, right: right.id)], merge.id == top.id else { continue }
            symbols[position].id = top.id
            symbols[position].end = right.end
            symbols[position].next = right.next
            symbols[nextPosition].removed = true
            if right.next != -1 { symbols[right.next].previous = position }
            let current = symbols[position]
            if current.previous >= 0,
               let merge = merges[PairKey(left: symbols[current.previous].id, right: current.id)] {
                queue.push(.init(rank: merge.rank, position: current.previous, id: merge.id))
            }
            if current.next != -1, let merge = merges[PairKey(left: current.id, right: symbols[current.next].id)] {
                queue.push(.init(rank: merge.rank, position: position, id: merge.id))
            }
        }
        return symbols.filter { !$0.removed }.map {
            ModelToken(id: $0.id, text: tokensByID[$0.id] ?? "", range: $0.start..<$0.end)
        }
    }

    func id(for token: String) -> Int? { vocabulary[VocabularyKey(token)] }

    func token(for id: Int) -> String? {
        id >= 0 && id < tokensByID.count ? tokensByID[id] : nil
    }
}

/// A binary min-heap of candidate merges, ordered by rank, then position.
private struct MergeQueue {
    struct Entry {
        var rank: Int
        var position: Int
        var id: Int

        func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var entries: [Entry] = []

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        if entries.isEmpty { return first }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < entries.count, entries[left].precedes(entries[best]) { best = left }
            if right < entries.count, entries[right].precedes(entries[best]) { best = right }
            if best == parent { break }
            entries.swapAt(parent, best)
            parent = best
        }
        return first
    }
}
