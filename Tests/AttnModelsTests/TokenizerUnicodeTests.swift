import Foundation
import Testing
@testable import AttnModels

/// Every code point through every normalizer and pre-tokenizer, against Hugging Face's `tokenizers`.
///
/// The fixture holds, per block of 4096 code points, a hash of what the reference library made of the
/// block; a mismatch names the stage and the block. (To see the characters, run the generator's
/// `unicode_blocks` on that block and compare with our output.)
struct TokenizerUnicodeTests {
    struct Blocks: Decodable {
        var block_size: Int
        var starts: [Int]
        var normalizers: [String: [String]]
        var pre_tokenizers: [String: [String]]
    }

    static let normalizers: [String: any TextNormalizer] = [
        "BertNormalizer(clean_text)": BertNormalizer(cleanText: true, handleChineseCharacters: false, stripAccents: false, lowercase: false),
        "BertNormalizer(handle_chinese_chars)": BertNormalizer(cleanText: false, handleChineseCharacters: true, stripAccents: false, lowercase: false),
        "BertNormalizer(strip_accents)": BertNormalizer(cleanText: false, handleChineseCharacters: false, stripAccents: true, lowercase: false),
        "BertNormalizer(lowercase)": BertNormalizer(cleanText: false, handleChineseCharacters: false, stripAccents: false, lowercase: true),
        "BertNormalizer": BertNormalizer(cleanText: true, handleChineseCharacters: true, stripAccents: nil, lowercase: true),
        "Lowercase": LowercaseNormalizer(),
        "NFD": UnicodeNormalizer(form: .nfd),
        "NFKD": UnicodeNormalizer(form: .nfkd),
        "NFC": UnicodeNormalizer(form: .nfc),
        "NFKC": UnicodeNormalizer(form: .nfkc),
        "StripAccents": StripAccentsNormalizer(),
    ]

    static let preTokenizers: [String: any PreTokenizer] = [
        "BertPreTokenizer": BertPreTokenizer(),
        "Whitespace": WhitespacePreTokenizer(),
        "WhitespaceSplit": WhitespaceSplitPreTokenizer(),
    ]

    static func blocks(file: String = "unicode-blocks.json") throws -> Blocks {
        let url = TokenizerFixtures.folder.appendingPathComponent(file)
        return try JSONDecoder().decode(Blocks.self, from: Data(contentsOf: url))
    }

    /// The code points of a block, surrogates left out (they are not characters).
    static func blockScalars(_ start: Int, _ size: Int) -> [Unicode.Scalar] {
        (start..<start + size).compactMap { Unicode.Scalar(UInt32($0)) }
    }

    static func fnv1a(_ bytes: some Sequence<UInt8>, _ seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    @Test(arguments: normalizers.keys.sorted())
    func normalizerMatchesHuggingFaceOnEveryCharacter(_ name: String) throws {
        let blocks = try Self.blocks()
        let normalizer = try #require(Self.normalizers[name])
        let expected = try #require(blocks.normalizers[name], "no hashes for \(name) in the fixture")
        var mismatches: [String] = []
        for (index, start) in blocks.starts.enumerated() {
            var text = NormalizedText(original: Self.blockScalars(start, blocks.block_size))
            normalizer.normalize(&text)
            let hash = Self.hex(Self.fnv1a(text.string.utf8))
            if hash != expected[index] { mismatches.append(String(format: "U+%04X", start)) }
        }
        #expect(mismatches.isEmpty, "\(name) differs from Hugging Face in the blocks starting at \(mismatches)")
    }

    @Test(arguments: preTokenizers.keys.sorted())
    func preTokenizerMatchesHuggingFaceOnEveryCharacter(_ name: String) throws {
        let blocks = try Self.blocks()
        let preTokenizer = try #require(Self.preTokenizers[name])
        let expected = try #require(blocks.pre_tokenizers[name], "no hashes for \(name) in the fixture")
        var mismatches: [String] = []
        for (index, start) in blocks.starts.enumerated() {
            // Each character after an "a", as the generator does.
            let scalars = Self.blockScalars(start, blocks.block_size).flatMap { ["a", $0] as [Unicode.Scalar] }
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for piece in preTokenizer.split(NormalizedText(original: scalars)) where !piece.isEmpty {
                hash = Self.fnv1a(Array(piece.string.utf8) + [0xFF], hash)
            }
            if Self.hex(hash) != expected[index] { mismatches.append(String(format: "U+%04X", start)) }
        }
        #expect(mismatches.isEmpty, "\(name) differs from Hugging Face in the blocks starting at \(mismatches)")
    }
}
