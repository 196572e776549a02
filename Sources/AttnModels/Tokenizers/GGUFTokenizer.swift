import Foundation

/// The tokenizer a GGUF file describes in its metadata (`tokenizer.ggml.*`), built as transformers
/// builds it when loading the file (`AutoTokenizer.from_pretrained(folder, gguf_file=…)`), from the
/// same pipeline stages a tokenizer.json would name:
///
/// - `gpt2`: byte-level BPE over `tokenizer.ggml.tokens` and `tokenizer.ggml.merges`; the words cut by
///   the pattern `tokenizer.ggml.pre` names (Llama 3's, Qwen2's, GPT-4o's, …), or by GPT-2's pattern
///   for any other name (`smollm`, `default`);
/// - `llama`: SentencePiece BPE with byte fallback (`▁` for spaces, put before the text); the merges
///   from the file, or recovered from the vocabulary and `tokenizer.ggml.scores` when it has none.
///
/// Tokens typed `CONTROL` in `tokenizer.ggml.token_type` are special tokens and `USER_DEFINED` ones
/// added tokens, both recognised whole in the text; the BOS / EOS tokens are put around the text when
/// `tokenizer.ggml.add_bos_token` / `add_eos_token` say so (`llama` vocabularies add BOS unless told not to).
enum GGUFTokenizer {
    /// llama.cpp's token types.
    enum TokenType: Int {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// The `tokenizer.ggml.model` values read.
    static let supportedModels = ["gpt2", "llama"]

    /// The word patterns of `tokenizer.ggml.pre`, as transformers maps the names llama.cpp writes.
    static let splitPatterns: [String: String] = {
        let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let qwen35 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let tekken = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"#
            + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"#
            + #"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
            + #"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#
            + #"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        var patterns: [String: String] = [:]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano", "dbrx", "smaug-bpe"] { patterns[name] = llama3 }
        for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"] { patterns[name] = qwen2 }
        for name in ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"] { patterns[name] = gpt4o }
        patterns["tekken"] = tekken
        patterns["qwen35"] = qwen35
        return patterns
    }()

    /// Builds the tokenizer of a GGUF file.
    static func load(file: GGUFFile) throws -> PipelineTokenizer {
        let path = file.path
        func invalid(_ key: String, _ message: String) -> TokenizerError {
            TokenizerError.invalidFile(path, key: key, message, hint: "the file's tokenizer metadata is incomplete or corrupt")
        }
        func read<T>(_ key: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch let error as ModelError {
                throw TokenizerError.invalidFile(path, key: key, error.message, hint: error.hint)
            }
        }
        guard let model = try read("tokenizer.ggml.model", { try file.string("tokenizer.ggml.model") }) else {
            throw TokenizerError(.missingFile, file: path, key: "tokenizer.ggml.model",
                                 "the GGUF file has no tokenizer in its metadata",
                                 hint: "use a GGUF written by llama.cpp's converter (it stores the tokenizer), or a folder with tokenizer.json")
        }
        guard supportedModels.contains(model) else {
            throw TokenizerError(.unsupportedType, file: path, key: "tokenizer.ggml.model",
                                 "tokenizer type \"\(model)\" is not supported (AttnLab reads \(supportedModels.joined(separator: ", ")))",
                                 hint: "use the model's tokenizer.json instead")
        }
        let architecture = try read("general.architecture", { try file.string("general.architecture") }) ?? ""
        if model == "llama", ["gemma", "gemma2", "gemma3", "phi3"].contains(architecture) {
            throw TokenizerError(.unsupportedType, file: path, key: "tokenizer.ggml.model",
                                 "the SentencePiece vocabulary of a \(architecture) GGUF is not supported",
                                 hint: "use the model's tokenizer.json instead")
        }
        guard let tokens = try read("tokenizer.ggml.tokens", { try file.strings("tokenizer.ggml.tokens") }), !tokens.isEmpty else {
            throw invalid("tokenizer.ggml.tokens", "is missing or empty")
        }
        let types = try read("tokenizer.ggml.token_type", { try file.ints("tokenizer.ggml.token_type") }) ?? []
        guard types.isEmpty || types.count == tokens.count else {
            throw invalid("tokenizer.ggml.token_type", "has \(types.count) entries for \(tokens.count) tokens")
        }
        func tokenID(_ key: String) throws -> Int? {
            guard let id = try read(key, { try file.int(key) }) else { return nil }
            guard id >= 0, id < tokens.count else { throw invalid(key, "is \(id), outside the \(tokens.count) tokens") }
            return id
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id"), eos = try tokenID("tokenizer.ggml.eos_token_id")
        let unknown = try tokenID("tokenizer.ggml.unknown_token_id"), padding = try tokenID("tokenizer.ggml.padding_token_id")
        let addBOS = try read("tokenizer.ggml.add_bos_token", { try file.bool("tokenizer.ggml.add_bos_token") }) ?? (model == "llama")
        let addEOS = try read("tokenizer.ggml.add_eos_token", { try file.bool("tokenizer.ggml.add_eos_token") }) ?? false
        let mergeLines = try read("tokenizer.ggml.merges", { try file.strings("tokenizer.ggml.merges") })

        let byteLevel = model == "gpt2"
        // The vocabulary as transformers spells it: a byte-level token with a character outside the
        // byte alphabet is spelt by its UTF-8 bytes. A repeated spelling keeps its last id.
        var vocabulary: [VocabularyKey: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            vocabulary[VocabularyKey(byteLevel ? byteLevelSpelling(token) : token)] = id
        }
        var merges: [(String, String)] = []
        if let mergeLines {
            merges.reserveCapacity(mergeLines.count)
            for (index, line) in mergeLines.enumerated() {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw invalid("tokenizer.ggml.merges[\(index)]", "should be two tokens separated by one space, found \"\(line)\"")
                }
                merges.append((String(parts[0]), String(parts[1])))
            }
        } else if byteLevel {
            throw invalid("tokenizer.ggml.merges", "is missing (a byte-level BPE vocabulary needs its merges)")
        } else {
            guard let scores = try read("tokenizer.ggml.scores", { try file.doubles("tokenizer.ggml.scores") }), scores.count == tokens.count else {
                throw invalid("tokenizer.ggml.scores", "is missing or does not have one score per token (needed when the file has no merges)")
            }
            merges = recoveredMerges(tokens: tokens, scores: scores, vocabulary: vocabulary)
        }
        let bpe = try BPEModel(vocabulary: vocabulary, merges: merges, unknownToken: nil, fuseUnknown: !byteLevel,
                               byteFallback: !byteLevel, family: byteLevel ? .byteLevelBPE : .unigram,
                               file: path, key: "tokenizer.ggml.tokens", mergeKey: { "tokenizer.ggml.merges[\($0)]" })

        // Control tokens are special; user-defined ones are added tokens; then the named special tokens.
        var added: [AddedToken] = []
        var addedIDs = Set<Int>()
        func add(_ content: String, special: Bool) {
            guard let id = vocabulary[VocabularyKey(content)], addedIDs.insert(id).inserted else { return }
            added.append(AddedToken(id: id, content: content, normalized: false, special: special))
        }
        for (id, token) in tokens.enumerated() where id < types.count {
            switch TokenType(rawValue: types[id]) {
            case .control where !byteLevel || isByteLevelSpelt(token): add(token, special: true)
            case .userDefined: add(token, special: false)
            default: break
            }
        }
        for id in [bos, eos, unknown, padding].compactMap({ $0 }) { add(tokens[id], special: true) }

        let preTokenizer: any PreTokenizer
        let decoder: any TokenDecoder
        if byteLevel {
            let pre = try read("tokenizer.ggml.pre", { try file.string("tokenizer.ggml.pre") }) ?? "default"
            if let pattern = splitPatterns[pre] {
                preTokenizer = SequencePreTokenizer(stages: [
                    SplitPreTokenizer(pattern: .regex(NSRegularExpressionBox(try NSRegularExpression(pattern: pattern))),
                                      behavior: .isolated, invert: false),
                    ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: false),
                ])
            } else {
                preTokenizer = ByteLevelPreTokenizer(addPrefixSpace: false, useRegex: true)
            }
            decoder = ByteLevelDecoder()
        } else {
            preTokenizer = MetaspacePreTokenizer(prependScheme: .first, splitWords: false)
            decoder = SequenceDecoder(stages: [ReplaceDecoder(pattern: "▁", content: " "), ByteFallbackDecoder(), FuseDecoder(),
                                               StripDecoder(content: " ", start: 1, stop: 0)])
        }

        func special(_ id: Int?, _ enabled: Bool) -> TemplateProcessor.SpecialTokens? {
            guard enabled, let id else { return nil }
            return TemplateProcessor.SpecialTokens(ids: [id], tokens: [tokens[id]])
        }
        let begin = special(bos, addBOS), end = special(eos, addEOS)
        func pieces(sequence: Int, typeId: Int) -> [TemplateProcessor.Piece] {
            (begin.map { [.special($0, typeId: typeId)] } ?? []) + [.sequence(sequence, typeId: typeId)]
                + (end.map { [.special($0, typeId: typeId)] } ?? [])
        }
        let postProcessor = TemplateProcessor(single: pieces(sequence: 0, typeId: 0),
                                              pair: pieces(sequence: 0, typeId: 0) + pieces(sequence: 1, typeId: 1))

        return PipelineTokenizer(normalizer: nil, preTokenizer: preTokenizer, model: bpe, postProcessor: postProcessor,
                                 decoder: decoder, addedVocabulary: AddedVocabulary(tokens: added, normalizer: nil),
                                 maskToken: nil, sourceFiles: [URL(fileURLWithPath: path)])
    }

    static func isByteLevelSpelt(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { ByteLevelAlphabet.byteOfCharacter[$0] != nil }
    }

    /// A token spelt in GPT-2's byte alphabet: itself when it already is, else its UTF-8 bytes' characters.
    static func byteLevelSpelling(_ token: String) -> String {
        if isByteLevelSpelt(token) { return token }
        var scalars = String.UnicodeScalarView()
        for byte in token.utf8 { scalars.append(ByteLevelAlphabet.characterOfByte[Int(byte)]) }
        return String(scalars)
    }

    /// The merges a SentencePiece BPE vocabulary implies, as transformers recovers them: every way to
    /// cut a token into two tokens of the vocabulary, best score first (then shorter left, then
    /// shorter right parts first); equal keys keep the order of the tokens, and within a token the
    /// order of the parts' ids.
    static func recoveredMerges(tokens: [String], scores: [Double], vocabulary: [VocabularyKey: Int]) -> [(String, String)] {
        struct Candidate {
            var left: String
            var right: String
            var score: Double
            var leftLength: Int
            var rightLength: Int
        }
        // As a Python dict from zip(tokens, scores): a repeated token keeps its first position and last score.
        var order: [String] = []
        var scoreOf: [VocabularyKey: Double] = [:]
        for (token, score) in zip(tokens, scores) {
            let key = VocabularyKey(token)
            if scoreOf[key] == nil { order.append(token) }
            scoreOf[key] = score
        }
        var candidates: [Candidate] = []
        for token in order {
            let scalars = Array(token.unicodeScalars)
            // Real vocabularies have tokens of tens of characters; a corrupt file's megabyte-long
            // token would make this quadratic, and no merge could ever build it anyway.
            guard scalars.count > 1, scalars.count <= 4096 else { continue }
            var local: [(Candidate, Int, Int)] = []
            for cut in 1..<scalars.count {
                let left = String(String.UnicodeScalarView(scalars[..<cut])), right = String(String.UnicodeScalarView(scalars[cut...]))
                guard let leftID = vocabulary[VocabularyKey(left)], let rightID = vocabulary[VocabularyKey(right)] else { continue }
                local.append((Candidate(left: left, right: right, score: scoreOf[VocabularyKey(token)]!,
                                        leftLength: cut, rightLength: scalars.count - cut), leftID, rightID))
            }
            local.sort { ($0.1, $0.2) < ($1.1, $1.2) }
            candidates += local.map(\.0)
        }
        // A stable sort, descending by (score, left length, right length).
        let sorted = candidates.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if x.score != y.score { return x.score > y.score }
            if x.leftLength != y.leftLength { return x.leftLength > y.leftLength }
            if x.rightLength != y.rightLength { return x.rightLength > y.rightLength }
            return a.offset < b.offset
        }
        return sorted.map { ($0.element.left, $0.element.right) }
    }
}
