import AttnCore
import Foundation

/// One change a perturbation made, in Unicode-scalar offsets (end exclusive).
public struct TextEdit: Codable, Sendable, Equatable {
    /// 0 for sentence A, 1 for B (of the variant).
    public var segment: Int
    public var baseStart: Int
    public var baseEnd: Int
    public var variantStart: Int
    public var variantEnd: Int
    /// The text before and after the change.
    public var before: String
    public var after: String

    enum CodingKeys: String, CodingKey {
        case segment, before, after
        case baseStart = "base_start", baseEnd = "base_end", variantStart = "variant_start", variantEnd = "variant_end"
    }
}

/// An input as one model runs it: the base (unperturbed) or a perturbed copy, with the edits that
/// tie its words to the base's.
public struct Variant: Codable, Sendable, Equatable {
    /// The input's id.
    public var input: String
    /// The variant's name: the input's base name or the perturbation's id.
    public var name: String
    public var a: String
    public var b: String?
    public var decoder: String?
    /// What was done (`replace "sick" → "terrific" in b`); nil for the base.
    public var perturbation: String?
    public var edits: [TextEdit]
    /// True when sentences A and B were exchanged.
    public var swapped: Bool
    /// The intervention the variant runs with, and its id in the experiment file (the variant is
    /// then named `PARENT+ID`); nil for none.
    public var intervention: Intervention?
    public var interventionID: String?
    /// The perturbation as written in the experiment file (`synonyms`, which a lexicon expands into
    /// `synonyms-happy-glad`, …), with `+ID` for an intervention; nil for the base. Failure rates
    /// are reported per family.
    public var family: String?

    /// The family a failure rate counts the variant in: its own, or `base`.
    public var rateFamily: String { family ?? "base" }

    /// True when `a` is a chat prompt rendered from an input's messages (it holds its special tokens).
    public var chat: Bool?

    /// `input/name`, as expectations and folders name it.
    public var path: String { "\(input)/\(name)" }
    public var isBase: Bool { perturbation == nil && intervention == nil }
    /// The variant an intervention is applied to (the name before `+`), or this one's name.
    public var parentName: String { intervention == nil ? name : String(name.split(separator: "+").first ?? Substring(name)) }

    /// What was done to the input, in words: the perturbation and the intervention, or `(base)`.
    public var change: String {
        let parts = [perturbation, intervention?.description].compactMap { $0 }
        return parts.isEmpty ? "(base)" : parts.joined(separator: "; ")
    }

    /// This variant with an intervention: `terrific+no-4.11`.
    public func intervened(_ spec: InterventionSpec) -> Variant {
        var variant = self
        variant.name = "\(name)+\(spec.id)"
        variant.intervention = spec.intervention
        variant.interventionID = spec.id
        variant.family = (family ?? "base") + "+" + spec.id
        return variant
    }

    public static func base(of input: InputSpec) -> Variant {
        Variant(input: input.id, name: input.baseName, a: input.a, b: input.b, decoder: input.decoder,
                perturbation: nil, edits: [], swapped: false, chat: input.messages == nil ? nil : true)
    }
}

/// A variant as one model ran it: a run's traced subjects and its manifest's records both are.
public protocol ModelVariant {
    /// The model's short name.
    var model: String { get }
    var variant: Variant { get }
}

extension Collection where Element: ModelVariant {
    /// What a variant is compared with: for a variant with an intervention, the same variant
    /// without it; otherwise the base variant (unperturbed) of the same model and input.
    public func base(of item: some ModelVariant) -> Element? {
        if item.variant.intervention != nil {
            return first { $0.model == item.model && $0.variant.input == item.variant.input && $0.variant.intervention == nil
                && $0.variant.name == item.variant.parentName }
        }
        return first { $0.model == item.model && $0.variant.input == item.variant.input && $0.variant.isBase }
    }
}

extension PerturbationSpec {
    /// The variant this perturbation makes of `input`, or nil when it does not apply (the word is
    /// not there, or `swap` of a single sentence). `maskToken` is the model's (`[MASK]`, `<mask>`).
    public func apply(to input: InputSpec, maskToken: String?) -> Variant? {
        var variant = Variant.base(of: input)
        variant.name = id
        variant.family = family
        switch kind {
        case .swap:
            guard let b = input.b else { return nil }
            (variant.a, variant.b) = (b, input.a)
            variant.swapped = true
            variant.perturbation = "swap sentences A and B"
            return variant
        case .replace(let from, let to):
            variant.perturbation = "replace \"\(from)\" → \"\(to)\"" + scope
        case .delete(let word):
            variant.perturbation = "delete \"\(word)\"" + scope
        case .insert(let text, let anchor, let after):
            variant.perturbation = "insert \"\(text)\" \(after ? "after" : "before") \"\(anchor)\"" + scope
        case .mask(let word):
            guard maskToken != nil else { return nil }
            variant.perturbation = "mask \"\(word)\"" + scope
        }
        var changed = false
        for segment in [0, 1] {
            guard target == .both || (target == .a) == (segment == 0) else { continue }
            guard let text = segment == 0 ? input.a : input.b else { continue }
            guard let (newText, edits) = edit(text, segment: segment, maskToken: maskToken) else { continue }
            if segment == 0 { variant.a = newText } else { variant.b = newText }
            variant.edits += edits
            changed = true
        }
        return changed ? variant : nil
    }

    private var scope: String { target == .both ? "" : " in \(target.rawValue)" }

    /// The edited text and its edits, or nil when the word is not in `text`.
    func edit(_ text: String, segment: Int, maskToken: String?) -> (String, [TextEdit])? {
        let scalars = Array(text.unicodeScalars)
        let phrase: String
        switch kind {
        case .replace(let from, _): phrase = from
        case .delete(let word), .mask(let word): phrase = word
        case .insert(_, let anchor, _): phrase = anchor
        case .swap: return nil
        }
        var matches = WholeWord.find(Array(phrase.unicodeScalars), in: scalars)
        if case .insert = kind { matches = Array(matches.prefix(1)) }
        guard !matches.isEmpty else { return nil }
        var output: [Unicode.Scalar] = []
        var edits: [TextEdit] = []
        var cursor = 0
        for match in matches {
            var start = match.lowerBound, end = match.upperBound
            let replacement: [Unicode.Scalar]
            switch kind {
            case .replace(_, let to):
                replacement = Array(WholeWord.matchCase(to, like: String(String.UnicodeScalarView(scalars[match]))).unicodeScalars)
            case .mask:
                replacement = Array((maskToken ?? "").unicodeScalars)
            case .delete:
                // Take one neighbouring space with the word, so no double space is left.
                if start > 0, scalars[start - 1] == " " { start -= 1 } else if end < scalars.count, scalars[end] == " " { end += 1 }
                replacement = []
            case .insert(let insertion, _, let after):
                let original = Array(scalars[match])
                replacement = after ? original + [" "] + Array(insertion.unicodeScalars) : Array(insertion.unicodeScalars) + [" "] + original
            case .swap:
                return nil
            }
            guard start >= cursor else { continue }
            output += scalars[cursor ..< start]
            let variantStart = output.count
            output += replacement
            edits.append(TextEdit(segment: segment, baseStart: start, baseEnd: end, variantStart: variantStart, variantEnd: output.count,
                                  before: String(String.UnicodeScalarView(scalars[start ..< end])),
                                  after: String(String.UnicodeScalarView(replacement))))
            cursor = end
        }
        output += scalars[cursor...]
        return (String(String.UnicodeScalarView(output)), edits)
    }
}

/// Whole-word, case-insensitive phrase matching on Unicode scalars.
enum WholeWord {
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.alphanumerics.contains(scalar) || scalar == "_" || scalar == "'"
    }

    static func fold(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        let lowered = String(scalar).lowercased().unicodeScalars
        return lowered.count == 1 ? lowered.first! : scalar
    }

    /// Ranges of `phrase` in `text` that start and end at word boundaries, left to right, not overlapping.
    static func find(_ phrase: [Unicode.Scalar], in text: [Unicode.Scalar]) -> [Range<Int>] {
        guard !phrase.isEmpty, phrase.count <= text.count else { return [] }
        let folded = phrase.map(fold), haystack = text.map(fold)
        var result: [Range<Int>] = []
        var i = 0
        while i + folded.count <= haystack.count {
            if haystack[i ..< i + folded.count].elementsEqual(folded),
               i == 0 || !isWordScalar(text[i - 1]) || !isWordScalar(text[i]),
               i + folded.count == text.count || !isWordScalar(text[i + folded.count]) || !isWordScalar(text[i + folded.count - 1]) {
                result.append(i ..< i + folded.count)
                i += folded.count
            } else {
                i += 1
            }
        }
        return result
    }

    /// `replacement` in the case of `original`: all capitals, a capital first letter, or as given.
    static func matchCase(_ replacement: String, like original: String) -> String {
        let letters = original.filter(\.isLetter)
        if letters.count > 1, letters == letters.uppercased() { return replacement.uppercased() }
        if let first = original.first, first.isUppercase {
            return replacement.prefix(1).uppercased() + replacement.dropFirst()
        }
        return replacement
    }
}
