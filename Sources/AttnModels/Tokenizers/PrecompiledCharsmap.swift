import Foundation

/// SentencePiece's compiled normalization rules (`precompiled_charsmap`, e.g. `nmt_nfkc`): a
/// Darts-clone double-array trie from UTF-8 byte strings to offsets into a blob of NUL-terminated
/// replacement strings.
///
/// Layout: a little-endian `UInt32` with the trie's size in bytes, the trie (little-endian `UInt32`
/// units), then the replacement strings.
struct PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let replacements: [UInt8]
    /// The most scalars a replacement string has (at least 1).
    let longestReplacement: Int

    /// Reads the bytes of a charsmap; `file` and `key` name where they came from, for errors.
    init(bytes: [UInt8], file: String, key: String) throws {
        func corrupt(_ message: String) -> TokenizerError {
            TokenizerError.invalidFile(file, key: key, "is not a SentencePiece charsmap: \(message)",
                                       hint: "the file is damaged; re-download it")
        }
        guard bytes.count >= 4 else { throw corrupt("\(bytes.count) bytes, fewer than the 4 of its header") }
        let trieSize = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieSize % 4 == 0, trieSize >= 4, trieSize <= bytes.count - 4 else {
            throw corrupt("the header gives a trie of \(trieSize) bytes, the data has \(bytes.count - 4)")
        }
        var units = [UInt32](repeating: 0, count: trieSize / 4)
        for index in units.indices {
            let offset = 4 + index * 4
            units[index] = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
        self.units = units
        self.replacements = Array(bytes[(4 + trieSize)...])
        longestReplacement = replacements.split(separator: 0, omittingEmptySubsequences: true)
            .map { String(decoding: $0, as: UTF8.self).unicodeScalars.count }.max() ?? 1
    }

    /// Reads the base64 text of tokenizer.json's `precompiled_charsmap`.
    init(base64: String, file: String, key: String) throws {
        guard let data = Data(base64Encoded: base64) else {
            throw TokenizerError.invalidFile(file, key: key, "is not valid base64", hint: "the file is damaged; re-download it")
        }
        try self.init(bytes: [UInt8](data), file: file, key: key)
    }

    var isEmpty: Bool { units.isEmpty }

    /// The replacement-string offsets of every key that is a prefix of `key`, shortest first.
    /// A trie that leads outside itself (a damaged file) ends the search.
    func prefixMatches(_ key: some Collection<UInt8>) -> [(length: Int, value: Int)] {
        guard !units.isEmpty else { return [] }
        func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }
        func label(_ unit: UInt32) -> UInt32 { unit & ((1 << 31) | 0xFF) }
        func hasLeaf(_ unit: UInt32) -> Bool { (unit >> 8) & 1 == 1 }
        func value(_ unit: UInt32) -> Int { Int(unit & ((1 << 31) - 1)) }

        var results: [(length: Int, value: Int)] = []
        var node = offset(units[0])
        var length = 0
        for byte in key {
            if byte == 0 { break }
            node ^= Int(byte)
            guard node >= 0, node < units.count else { break }
            let unit = units[node]
            if label(unit) != UInt32(byte) { break }
            node ^= offset(unit)
            length += 1
            guard node >= 0, node < units.count else { break }
            if hasLeaf(unit) { results.append((length, value(units[node]))) }
        }
        return results
    }

    /// The replacement string starting at `offset` of the blob (up to its NUL); nil when outside.
    func replacement(at offset: Int) -> [Unicode.Scalar]? {
        guard offset >= 0, offset <= replacements.count else { return nil }
        var end = offset
        while end < replacements.count, replacements[end] != 0 { end += 1 }
        return Array(String(decoding: replacements[offset..<end], as: UTF8.self).unicodeScalars)
    }

    /// What Hugging Face's `Precompiled::transform` gives for a chunk: the replacement of the
    /// SHORTEST key that starts it (not necessarily all of it), nil when no key does.
    func huggingFaceTransform(_ chunk: [UInt8]) -> [Unicode.Scalar]? {
        guard let first = prefixMatches(chunk).first else { return nil }
        return replacement(at: first.value)
    }

    /// SentencePiece's own rule: the LONGEST key that starts `bytes[start...]`, with its length.
    func longestMatch(_ bytes: [UInt8], from start: Int) -> (length: Int, replacement: [Unicode.Scalar])? {
        guard let longest = prefixMatches(bytes[start...]).max(by: { $0.length < $1.length }),
              let text = replacement(at: longest.value) else { return nil }
        return (longest.length, text)
    }
}

/// Hugging Face's `Precompiled` normalizer, exactly as it applies SentencePiece's rules: grapheme by
/// grapheme, a grapheme shorter than 6 UTF-8 bytes is looked up whole (and replaced by what its
/// shortest matching key maps to); otherwise, or when it has no match, character by character.
struct PrecompiledNormalizer: TextNormalizer {
    var charsmap: PrecompiledCharsmap

    /// Each replaced character (one scalar at least) becomes at most the longest replacement.
    var growth: TextGrowth { .times(charsmap.longestReplacement) }

    func normalize(_ text: inout NormalizedText) {
        guard !charsmap.isEmpty, !text.isEmpty else { return }
        var changes: [(scalar: Unicode.Scalar, change: Int)] = []
        changes.reserveCapacity(text.count)
        var modified = false

        func replace(_ old: Int, _ new: [Unicode.Scalar]) {
            for scalar in new { changes.append((scalar, 0)) }
            let difference = new.count - old
            if difference > 0 {
                for index in (changes.count - difference)..<changes.count { changes[index].change = 1 }
            } else if difference < 0, !changes.isEmpty {
                changes[changes.count - 1].change += difference
            }
        }

        for grapheme in text.string {
            let scalars = Array(grapheme.unicodeScalars)
            let utf8 = Array(String(grapheme).utf8)
            if utf8.count < 6, let new = charsmap.huggingFaceTransform(utf8) {
                modified = true
                replace(scalars.count, new)
                continue
            }
            for scalar in scalars {
                if let new = charsmap.huggingFaceTransform(Array(String(scalar).utf8)) {
                    modified = true
                    replace(1, new)
                } else {
                    changes.append((scalar, 0))
                }
            }
        }
        if modified { text.transform(changes) }
    }
}

/// Replaces every match of a literal string or a regular expression by `content`.
struct ReplaceNormalizer: TextNormalizer {
    var pattern: TextPattern
    var content: [Unicode.Scalar]

    /// A pattern that matches the empty text inserts the content at every position.
    var growth: TextGrowth { TextGrowth(factor: Double(1 + content.count), constant: Double(content.count)) }

    func normalize(_ text: inout NormalizedText) {
        text.replace(pattern.matches(in: text.scalars), with: content)
    }
}

/// Puts `prefix` before non-empty text (Llama's `▁`).
struct PrependNormalizer: TextNormalizer {
    var prefix: [Unicode.Scalar]

    var growth: TextGrowth { .plus(prefix.count) }

    func normalize(_ text: inout NormalizedText) { text.prepend(prefix) }
}

/// The `pattern` of `Replace` and `Split`: `{"String": "…"}` or `{"Regex": "…"}`.
enum TextPattern: Sendable {
    case literal([Unicode.Scalar])
    case regex(NSRegularExpressionBox)

    init(json: TokenizerJSON) throws {
        if let literal = try json.optionalString("String") {
            self = .literal(Array(literal.unicodeScalars))
        } else if let source = try json.optionalString("Regex") {
            do {
                self = .regex(NSRegularExpressionBox(try NSRegularExpression(pattern: source)))
            } catch {
                throw TokenizerError.invalidFile(json.file, key: json.childPath("Regex"), "is not a regular expression AttnLab can read: \(source)",
                                                 hint: "check the pattern, or report it with the model's name")
            }
        } else {
            throw TokenizerError.invalidFile(json.file, key: json.path, "should be {\"String\": …} or {\"Regex\": …}")
        }
    }

    /// The ranges (in scalars) of the non-overlapping matches, left to right; empty matches left out.
    func matches(in scalars: [Unicode.Scalar]) -> [Range<Int>] {
        switch self {
        case .literal(let pattern):
            guard !pattern.isEmpty, pattern.count <= scalars.count else { return [] }
            var ranges: [Range<Int>] = []
            var position = 0
            while position + pattern.count <= scalars.count {
                if scalars[position] == pattern[0], scalars[position..<position + pattern.count].elementsEqual(pattern) {
                    ranges.append(position..<position + pattern.count)
                    position += pattern.count
                } else {
                    position += 1
                }
            }
            return ranges
        case .regex(let box):
            let string = String(String.UnicodeScalarView(scalars))
            // UTF-16 offsets back to scalar indices.
            var scalarIndexOfUTF16: [Int] = []
            scalarIndexOfUTF16.reserveCapacity(scalars.count + 1)
            for (index, scalar) in scalars.enumerated() {
                scalarIndexOfUTF16.append(index)
                if scalar.value > 0xFFFF { scalarIndexOfUTF16.append(index) }
            }
            scalarIndexOfUTF16.append(scalars.count)
            let utf16Count = scalarIndexOfUTF16.count - 1
            return box.expression.matches(in: string, range: NSRange(location: 0, length: utf16Count)).compactMap { match in
                let range = match.range
                guard range.location != NSNotFound, range.length > 0 else { return nil }
                return scalarIndexOfUTF16[range.location]..<scalarIndexOfUTF16[range.location + range.length]
            }
        }
    }
}

/// `NSRegularExpression` is immutable and thread-safe, but not marked `Sendable`.
struct NSRegularExpressionBox: @unchecked Sendable {
    let expression: NSRegularExpression
    init(_ expression: NSRegularExpression) { self.expression = expression }
}
