/// How much longer a pipeline stage can make a text: at most `factor` × its length + `constant`
/// scalars. A tokenizer's stages are composed and checked when it is loaded, so that no file can
/// make tokenizing a sentence take unbounded time or memory (a `Sequence` of 50 `ByteLevel`
/// pre-tokenizers would make a text 4^50 times longer). Real tokenizers stay far below the bounds:
/// BERT's normalizer at most 36 times, GPT-2's and Llama 3's byte-level 4 times, T5's rules 18.
struct TextGrowth: Sendable, Equatable {
    var factor: Double
    var constant: Double

    /// A stage that never lengthens the text.
    static let none = TextGrowth(factor: 1, constant: 0)

    static func times(_ factor: Int) -> TextGrowth { TextGrowth(factor: Double(max(factor, 1)), constant: 0) }
    static func plus(_ constant: Int) -> TextGrowth { TextGrowth(factor: 1, constant: Double(constant)) }

    /// This stage followed by `next`.
    func then(_ next: TextGrowth) -> TextGrowth {
        TextGrowth(factor: factor * next.factor, constant: constant * next.factor + next.constant)
    }

    static let maximumFactor = 256.0
    static let maximumConstant = 65_536.0

    /// Throws when the growth passes the bounds; `key` names the stages in the file.
    func check(file: String, key: String) throws {
        guard factor <= Self.maximumFactor, constant <= Self.maximumConstant else {
            let times = factor < 1e15 ? String(format: "%.0f", factor) : String(format: "%.1e", factor)
            throw TokenizerError.invalidFile(file, key: key,
                                             "these stages can make a text \(times) times longer (at most \(Int(Self.maximumFactor)) allowed; real tokenizers stay under 40)",
                                             hint: "the file is damaged or was made to exhaust memory; re-download it")
        }
    }

    /// `Sequence` stages may nest this deep (real files nest one level).
    static let maximumSequenceDepth = 8

    static func checkSequenceDepth(_ depth: Int, _ json: TokenizerJSON) throws {
        guard depth < maximumSequenceDepth else {
            throw TokenizerError.invalidFile(json.file, key: json.path,
                                             "Sequence stages nest more than \(maximumSequenceDepth) deep",
                                             hint: "the file is damaged; re-download it")
        }
    }
}

extension TextNormalizer {
    var growth: TextGrowth { .none }
}

extension PreTokenizer {
    var growth: TextGrowth { .none }
}

extension TokenDecoder {
    var growth: TextGrowth { .none }
}
