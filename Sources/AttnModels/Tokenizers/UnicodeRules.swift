import Foundation

/// Character classes and Unicode normalization as Hugging Face's `tokenizers` (Rust) computes them.
///
/// Swift knows Unicode 17; the Rust crates `tokenizers` depends on are frozen at older versions
/// (`unicode_categories`: Unicode 8, `unicode-normalization-alignments`: Unicode 9). To give the same
/// ids, a character assigned later is treated as those crates treat it, using its Unicode age, and
/// the few characters whose category changed since are listed. `TokenizerUnicodeTests` checks every
/// code point against the reference library.
enum UnicodeRules {
    // MARK: Versions

    /// True when `scalar` was assigned in Unicode `major.minor` or earlier.
    static func assigned(_ scalar: Unicode.Scalar, byVersion major: Int, _ minor: Int) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < major || (age.major == major && age.minor <= minor)
    }

    // MARK: BertNormalizer and BertPreTokenizer (the `unicode_categories` crate, Unicode 8)

    /// Control, format (as of Unicode 8), private use: removed by `clean_text`. Tab, newline and
    /// carriage return are whitespace instead.
    static func isBertControl(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value == 0x09 || value == 0x0A || value == 0x0D { return false }
        if value < 0x20 || value == 0x7F { return true }
        if value < 0x80 { return false }
        switch scalar.properties.generalCategory {
        case .control, .privateUse, .surrogate: return true
        case .format: return assigned(scalar, byVersion: 8, 0)
        default: return false
        }
    }

    /// Whitespace for `clean_text` and the pre-tokenizers: Rust's `char::is_whitespace` (the
    /// White_Space property), which includes tab, newline and carriage return.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 { return value == 0x20 || (0x09...0x0D).contains(value) }
        return scalar.properties.isWhitespace
    }

    /// Characters whose general category changed after Unicode 8 in a way that matters below.
    private static let punctuationInUnicode8: Set<UInt32> = [0x166D, 0x111C9]
    private static let nonspacingMarkInUnicode8: Set<UInt32> = [0x1734, 0x1171E]
    private static let notNonspacingMarkInUnicode8: Set<UInt32> = [0x1885, 0x1886, 0xA9BD, 0x111C9]

    /// BERT's punctuation: any ASCII punctuation or symbol (`$`, `+`, `^`, …), or a character of
    /// category P* in Unicode 8.
    static func isBertPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value)
                || (0x5B...0x60).contains(value) || (0x7B...0x7E).contains(value)
        }
        if punctuationInUnicode8.contains(value) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return assigned(scalar, byVersion: 8, 0)
        default:
            return false
        }
    }

    /// Category Mn in Unicode 8: what BertNormalizer's accent stripping removes after NFD.
    static func isBertNonspacingMark(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x300 { return false }
        if nonspacingMarkInUnicode8.contains(value) { return true }
        if notNonspacingMarkInUnicode8.contains(value) { return false }
        return scalar.properties.generalCategory == .nonspacingMark && assigned(scalar, byVersion: 8, 0)
    }

    /// The CJK ideograph blocks BERT puts spaces around (the ranges of `tokenizers`' bert.rs).
    static func isChineseCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    // MARK: Whitespace pre-tokenizer (the `regex` crate's `\w`)

    /// `\w` of Rust's regex: alphabetic, marks, decimal digits, connector punctuation, join controls.
    /// The regex crate knows Unicode 16.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x80 {
            return (0x30...0x39).contains(value) || (0x41...0x5A).contains(value)
                || (0x61...0x7A).contains(value) || value == 0x5F
        }
        let properties = scalar.properties
        guard assigned(scalar, byVersion: 16, 0) else { return false }
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation:
            return true
        default:
            return false
        }
    }

    // MARK: Unicode normalization (the `unicode-normalization-alignments` crate, Unicode 9)

    /// Marks (M*) in Unicode 9: what the StripAccents normalizer removes.
    private static let combiningMarkInUnicode9: Set<UInt32> = [0x1CF2, 0x1CF3]
    private static let notCombiningMarkInUnicode9: Set<UInt32> = [0x111C9]

    static func isCombiningMark(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x300 { return false }
        if combiningMarkInUnicode9.contains(value) { return true }
        if notCombiningMarkInUnicode9.contains(value) { return false }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return assigned(scalar, byVersion: 9, 0)
        default: return false
        }
    }

    /// Canonical combining class, 0 for characters unknown to Unicode 9.
    static func combiningClass(_ scalar: Unicode.Scalar) -> UInt8 {
        if scalar.value < 0x300 { return 0 }
        let ccc = scalar.properties.canonicalCombiningClass.rawValue
        return ccc == 0 || !assigned(scalar, byVersion: 9, 0) ? 0 : ccc
    }

    /// The full decomposition of one scalar (canonical, or compatibility when `compatible`), nil when
    /// it does not decompose. Characters newer than Unicode 9 do not decompose, as in the crate.
    static func decomposition(of scalar: Unicode.Scalar, compatible: Bool) -> [Unicode.Scalar]? {
        // Nothing below U+00A0 decomposes; U+00A0...U+00BF only under compatibility.
        if scalar.value < 0xA0 || (!compatible && scalar.value < 0xC0) { return nil }
        if (0xAC00...0xD7A3).contains(scalar.value) { return hangulDecomposition(scalar) }
        guard assigned(scalar, byVersion: 9, 0) else { return nil }
        return decompositionCache.value(for: scalar, compatible: compatible)
    }

    /// Hangul syllables decompose algorithmically (Unicode 3.12).
    private static func hangulDecomposition(_ scalar: Unicode.Scalar) -> [Unicode.Scalar] {
        let index = scalar.value - 0xAC00
        let leading = Unicode.Scalar(0x1100 + index / (21 * 28))!
        let vowel = Unicode.Scalar(0x1161 + (index % (21 * 28)) / 28)!
        let trailing = index % 28
        if trailing == 0 { return [leading, vowel] }
        return [leading, vowel, Unicode.Scalar(0x11A7 + trailing)!]
    }

    /// The primary composite of `first` followed by `second`, nil when there is none.
    static func composition(of first: Unicode.Scalar, _ second: Unicode.Scalar) -> Unicode.Scalar? {
        // No primary composite has an ASCII second character, and a starter can only be the second
        // character of a few (Hangul vowels and trailing consonants, some Indic vowel signs).
        if second.value < 0x300 { return nil }
        if (0x1100...0x1112).contains(first.value), (0x1161...0x1175).contains(second.value) {
            let index = (first.value - 0x1100) * 21 * 28 + (second.value - 0x1161) * 28
            return Unicode.Scalar(0xAC00 + index)
        }
        if (0xAC00...0xD7A3).contains(first.value), (first.value - 0xAC00) % 28 == 0,
           (0x11A8...0x11C2).contains(second.value) {
            return Unicode.Scalar(first.value + second.value - 0x11A7)
        }
        guard assigned(first, byVersion: 9, 0), assigned(second, byVersion: 9, 0) else { return nil }
        if combiningClass(second) == 0, !starterSecondCharacters.contains(second.value) { return nil }
        return decompositionCache.composite(first, second)
    }

    /// Starters (combining class 0) that are the second character of a canonical pair decomposition.
    private static let starterSecondCharacters: Set<UInt32> = [
        0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6,
        0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x102E, 0x1B35, 0x11127, 0x1133E, 0x11357, 0x114B0,
        0x114BA, 0x114BD, 0x115AF,
    ]

    private static let decompositionCache = DecompositionCache()
}

/// Decompositions and compositions asked of Foundation once per character, then remembered.
private final class DecompositionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var canonical: [UInt32: [Unicode.Scalar]] = [:]
    private var compatibility: [UInt32: [Unicode.Scalar]] = [:]
    private var composites: [UInt64: UInt32] = [:]  // 0 = no composite

    func value(for scalar: Unicode.Scalar, compatible: Bool) -> [Unicode.Scalar]? {
        lock.lock()
        let cached = compatible ? compatibility[scalar.value] : canonical[scalar.value]
        lock.unlock()
        if let cached { return cached.isEmpty ? nil : cached }
        let text = String(Character(scalar))
        let decomposed = Array((compatible ? text.decomposedStringWithCompatibilityMapping
                                           : text.decomposedStringWithCanonicalMapping).unicodeScalars)
        let result = decomposed == [scalar] ? [] : decomposed
        lock.lock()
        if compatible { compatibility[scalar.value] = result } else { canonical[scalar.value] = result }
        lock.unlock()
        return result.isEmpty ? nil : result
    }

    /// Foundation's NFC of `first` (decomposed) then `second` is one scalar exactly when the pair has
    /// a primary composite, given that `second` comes in canonical order after what `first` was
    /// composed from. (Foundation does not recompose an already composed `first`: U+0CCA U+0CD5.)
    func composite(_ first: Unicode.Scalar, _ second: Unicode.Scalar) -> Unicode.Scalar? {
        let key = UInt64(first.value) << 32 | UInt64(second.value)
        lock.lock()
        let cached = composites[key]
        lock.unlock()
        if let cached { return cached == 0 ? nil : Unicode.Scalar(cached) }
        var pair = String.UnicodeScalarView()
        pair.append(contentsOf: value(for: first, compatible: false) ?? [first])
        pair.append(second)
        let composed = Array(String(pair).precomposedStringWithCanonicalMapping.unicodeScalars)
        let result = composed.count == 1 ? composed[0] : nil
        lock.lock()
        composites[key] = result?.value ?? 0
        lock.unlock()
        return result
    }
}
