import AttnCore
import Foundation

/// Which text of an encoder-decoder model a tokenizer is for.
public enum TokenizerSide: String, Sendable, CaseIterable {
    /// The encoder's input (and the only side of encoder-only and decoder-only models).
    case source
    /// The decoder's text. Marian models tokenize it with `target.spm` (and `target_vocab.json`
    /// when the vocabularies are separate); every other model uses one tokenizer for both sides.
    case target
}

/// Reads a model folder's tokenizer. A GGUF model (a `.gguf` file, or a folder holding one and no
/// config.json) has its tokenizer in its metadata (`GGUFTokenizer`). Otherwise, in order of preference:
/// - `tokenizer.json` (Hugging Face's `tokenizers` format), for every family;
/// - Marian's `source.spm` / `target.spm` (SentencePiece models) with `vocab.json`;
/// - GPT-2 / RoBERTa / BART's `vocab.json` with `merges.txt`;
/// - BERT's `vocab.txt`;
/// each with `tokenizer_config.json` (and `special_tokens_map.json`) beside it for special tokens,
/// casing and `add_prefix_space`.
public enum TokenizerLoader {
    /// Loads the tokenizer of the model in `folder` (its source side).
    public static func load(folder: URL) throws -> any Tokenizer {
        try load(folder: folder, side: .source)
    }

    /// Loads the tokenizer of the model in `folder` for one side: `.target` is the decoder's
    /// tokenizer of an encoder-decoder model (Marian's `target.spm`; the same as `.source` for T5,
    /// BART and models with a tokenizer.json).
    public static func load(folder: URL, side: TokenizerSide) throws -> any Tokenizer {
        if let gguf = try GGUFModel.locate(folder) {
            return try GGUFTokenizer.load(file: GGUFFile(path: gguf.path))
        }
        let fileManager = FileManager.default
        func exists(_ name: String) -> Bool { fileManager.fileExists(atPath: folder.appendingPathComponent(name).path) }
        let config = try readConfig(in: folder)
        if exists("tokenizer.json") {
            return try load(tokenizerFile: folder.appendingPathComponent("tokenizer.json"), config: config)
        }
        if exists("source.spm") || exists("target.spm") {
            return try loadMarian(folder: folder, side: side, config: config)
        }
        if exists("vocab.json") && exists("merges.txt") {
            return try load(vocabularyJSON: folder.appendingPathComponent("vocab.json"),
                            merges: folder.appendingPathComponent("merges.txt"), config: config)
        }
        if exists("vocab.txt") {
            return try load(vocabularyFile: folder.appendingPathComponent("vocab.txt"), config: config)
        }
        throw TokenizerError(.missingFile, file: folder.path,
                             "has no tokenizer.json, vocab.txt, vocab.json with merges.txt, or source.spm",
                             hint: "download the model's tokenizer files into the folder (tokenizer.json; or vocab.txt for BERT, vocab.json and merges.txt for GPT-2/RoBERTa/BART, source.spm, target.spm and vocab.json for Marian)")
    }

    /// Loads a tokenizer.json file. `mask_token` is read from `tokenizer_config.json` beside it when
    /// present, else an added token spelt `[MASK]` or `<mask>` is taken.
    public static func load(tokenizerFile url: URL) throws -> any Tokenizer {
        try load(tokenizerFile: url, config: try readConfig(in: url.deletingLastPathComponent()))
    }

    // MARK: - tokenizer.json

    static func load(tokenizerFile url: URL, config: TokenizerConfig?) throws -> PipelineTokenizer {
        let data = try readFile(url)
        let root = try TokenizerJSON.parse(data, file: url.path)
        _ = try root.objectMembers()

        let normalizer = try root["normalizer"].map(NormalizerFactory.make)
        let preTokenizer = try root["pre_tokenizer"].map(PreTokenizerFactory.make)
        var model = try TokenizationModelFactory.make(try root.required("model"))
        let postProcessor = try root["post_processor"].map(PostProcessorFactory.make)
        let decoder = try root["decoder"].map(TokenDecoderFactory.make) ?? PlainTokenDecoder()
        try (normalizer?.growth ?? .none).then(preTokenizer?.growth ?? .none).check(file: url.path, key: "normalizer and pre_tokenizer")
        try decoder.growth.check(file: url.path, key: "decoder")
        if var bpe = model as? BPEModel {
            bpe.family = bpeFamily(preTokenizer: preTokenizer, decoder: decoder)
            model = bpe
        }

        var addedTokens: [AddedToken] = []
        for entry in try root["added_tokens"]?.array() ?? [] {
            let special = try entry.optionalBool("special") ?? false
            addedTokens.append(AddedToken(id: try entry.required("id").int(),
                                          content: try entry.required("content").string(),
                                          singleWord: try entry.optionalBool("single_word") ?? false,
                                          stripLeft: try entry.optionalBool("lstrip") ?? false,
                                          stripRight: try entry.optionalBool("rstrip") ?? false,
                                          normalized: try entry.optionalBool("normalized") ?? !special,
                                          special: special))
        }
        let addedVocabulary = AddedVocabulary(tokens: addedTokens, normalizer: normalizer)

        var tokenizer = PipelineTokenizer(normalizer: normalizer, preTokenizer: preTokenizer, model: model,
                                          postProcessor: postProcessor, decoder: decoder,
                                          addedVocabulary: addedVocabulary, maskToken: nil,
                                          sourceFiles: [url] + (config.map { [$0.file] } ?? []))
        let candidates = config?.maskToken.map { [$0] } ?? ["[MASK]", "<mask>"]
        tokenizer.maskToken = candidates.first { tokenizer.id(for: $0) != nil }
        return tokenizer
    }

    /// How a BPE model's tokens read: byte-level with GPT-2's alphabet, SentencePiece's with `▁`
    /// (Llama 2), WordPiece's with a `##` decoder; byte-level when nothing tells.
    static func bpeFamily(preTokenizer: (any PreTokenizer)?, decoder: any TokenDecoder) -> TokenizerFamily {
        let preTokenizers = (preTokenizer as? SequencePreTokenizer)?.stages ?? preTokenizer.map { [$0] } ?? []
        let decoders = (decoder as? SequenceDecoder)?.stages ?? [decoder]
        if preTokenizers.contains(where: { $0 is ByteLevelPreTokenizer }) || decoders.contains(where: { $0 is ByteLevelDecoder }) {
            return .byteLevelBPE
        }
        if decoders.contains(where: { $0 is WordPieceDecoder }) { return .wordPiece }
        if preTokenizers.contains(where: { $0 is MetaspacePreTokenizer })
            || decoders.contains(where: { $0 is MetaspaceDecoder || ($0 as? ReplaceDecoder)?.pattern == "▁" }) {
            return .unigram
        }
        return .byteLevelBPE
    }

    // MARK: - vocab.txt (BERT without tokenizer.json)

    /// Builds what transformers' `BertTokenizerFast` builds from a vocab.txt: BERT normalizer (casing,
    /// accents and CJK spacing from tokenizer_config.json), BERT pre-tokenizer, WordPiece with `##`
    /// and 100 characters a word, `[CLS] A [SEP] B [SEP]`.
    static func load(vocabularyFile url: URL, config: TokenizerConfig?) throws -> PipelineTokenizer {
        let vocabulary = try WordPieceModel.readVocabularyFile(url)
        let names = config?.specialTokens ?? [:]
        let unknown = names["unk_token"] ?? "[UNK]"
        let model = try WordPieceModel(vocabulary: vocabulary, unknownToken: unknown, file: url.path, key: "unk_token")

        func special(_ key: String, _ fallback: String) throws -> TemplateProcessor.SpecialTokens {
            let name = names[key] ?? fallback
            guard let id = vocabulary[VocabularyKey(name)] else {
                throw TokenizerError.invalidFile(url.path, key: key, "the token \"\(name)\" is not in the vocabulary",
                                                 hint: "BERT needs it; fix \(key) in tokenizer_config.json or the vocabulary")
            }
            return TemplateProcessor.SpecialTokens(ids: [id], tokens: [name])
        }
        let cls = try special("cls_token", "[CLS]"), sep = try special("sep_token", "[SEP]")
        let postProcessor = TemplateProcessor(
            single: [.special(cls, typeId: 0), .sequence(0, typeId: 0), .special(sep, typeId: 0)],
            pair: [.special(cls, typeId: 0), .sequence(0, typeId: 0), .special(sep, typeId: 0),
                   .sequence(1, typeId: 1), .special(sep, typeId: 1)])

        let lowercase = config?.doLowerCase ?? true
        let normalizer = BertNormalizer(cleanText: true, handleChineseCharacters: config?.tokenizeChineseCharacters ?? true,
                                        stripAccents: config?.stripAccents, lowercase: lowercase)
        var specialNames = ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token"].map { names[$0] }
        specialNames += (config?.additionalSpecialTokens ?? []).map(Optional.some)
        let defaults = ["[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"]
        var addedTokens: [AddedToken] = []
        for (index, name) in specialNames.enumerated() {
            let content = name ?? (index < defaults.count ? defaults[index] : "")
            guard let id = vocabulary[VocabularyKey(content)], !addedTokens.contains(where: { $0.content == content }) else { continue }
            addedTokens.append(AddedToken(id: id, content: content, normalized: false, special: true))
        }
        let mask = names["mask_token"] ?? "[MASK]"
        return PipelineTokenizer(normalizer: normalizer, preTokenizer: BertPreTokenizer(), model: model,
                                 postProcessor: postProcessor, decoder: WordPieceDecoder(prefix: "##", cleanup: true),
                                 addedVocabulary: AddedVocabulary(tokens: addedTokens, normalizer: normalizer),
                                 maskToken: vocabulary[VocabularyKey(mask)] != nil ? mask : nil,
                                 sourceFiles: [url] + (config.map { [$0.file] } ?? []))
    }

    /// The bytes of a tokenizer file. It is opened through `RegularFile`, so a FIFO, a device or a
    /// folder in its place is refused at once instead of blocking or reading without end.
    static func readFile(_ url: URL) throws -> Data {
        do {
            return try RegularFile.read(url, limit: 1 << 30, what: "tokenizer file")
        } catch let error as CoreError {
            throw TokenizerError(.missingFile, file: url.path, error.message, hint: error.hint)
        }
    }

    // MARK: - tokenizer_config.json

    /// What transformers' tokenizer_config.json (and special_tokens_map.json) say about the tokenizer.
    struct TokenizerConfig {
        var file: URL
        var doLowerCase: Bool?
        var stripAccents: Bool?
        var tokenizeChineseCharacters: Bool?
        /// `unk_token`, `mask_token`, … by key.
        var specialTokens: [String: String] = [:]
        var additionalSpecialTokens: [String] = []
        /// Special tokens written as objects with `"lstrip": true` (RoBERTa's `<mask>`).
        var leftStrippedTokens: Set<String> = []
        var addPrefixSpace: Bool?
        /// `tokenizer_class` (`RobertaTokenizer`, `GPT2TokenizerFast`, …).
        var tokenizerClass: String?
        /// Marian: `target_vocab.json` holds the target side's ids.
        var separateVocabularies: Bool?

        var maskToken: String? { specialTokens["mask_token"] }
    }

    static func readConfig(in folder: URL) throws -> TokenizerConfig? {
        let url = folder.appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        var config = TokenizerConfig(file: url)
        let root = try readJSON(url)
        config.doLowerCase = try root.optionalBool("do_lower_case")
        config.stripAccents = try root.optionalBool("strip_accents")
        config.tokenizeChineseCharacters = try root.optionalBool("tokenize_chinese_chars")
        config.addPrefixSpace = try root.optionalBool("add_prefix_space")
        config.tokenizerClass = try root.optionalString("tokenizer_class")
        config.separateVocabularies = try root.optionalBool("separate_vocabs")
        // special_tokens_map.json first, tokenizer_config.json over it.
        let mapURL = folder.appendingPathComponent("special_tokens_map.json")
        let sources = FileManager.default.fileExists(atPath: mapURL.path) ? [try readJSON(mapURL), root] : [root]
        for source in sources {
            for key in ["unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "bos_token", "eos_token"] {
                if let name = try tokenName(source[key]) {
                    config.specialTokens[key] = name
                    if try source[key]?["lstrip"]?.bool() == true { config.leftStrippedTokens.insert(name) }
                }
            }
            if let extra = source["additional_special_tokens"] {
                config.additionalSpecialTokens = try extra.array().compactMap(tokenName)
            }
        }
        return config
    }

    /// A special token is a string, or an object with its `content` (older transformers versions).
    private static func tokenName(_ json: TokenizerJSON?) throws -> String? {
        guard let json else { return nil }
        if case .object = json.value { return try json.required("content").string() }
        return try json.string()
    }

    private static func readJSON(_ url: URL) throws -> TokenizerJSON {
        let json = try TokenizerJSON.parse(try readFile(url), file: url.path)
        _ = try json.objectMembers()
        return json
    }
}
