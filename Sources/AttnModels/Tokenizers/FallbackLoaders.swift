import Foundation

/// Tokenizers built from the files models had before tokenizer.json: what transformers' converters
/// (`GPT2Converter`, `RobertaConverter`, Marian's SentencePiece tokenizer) make of them.
extension TokenizerLoader {
    // MARK: - vocab.json + merges.txt (GPT-2, RoBERTa, BART)

    /// Byte-level BPE from `vocab.json` and `merges.txt`. RoBERTa's layout (`<s> A </s></s> B </s>`,
    /// spans trimmed of spaces, `<mask>` swallowing the space before it) when tokenizer_config.json's
    /// `tokenizer_class` names RoBERTa, BART or Longformer, or the vocabulary has `<s>`, `</s>` and
    /// `<mask>`; GPT-2's (no special tokens around the text) otherwise. `add_prefix_space` comes from
    /// tokenizer_config.json (default false).
    static func load(vocabularyJSON url: URL, merges mergesURL: URL, config: TokenizerConfig?) throws -> PipelineTokenizer {
        let vocabulary = try readVocabularyJSON(url)
        let merges = try BPEModel.readMergesFile(mergesURL)
        let model = try BPEModel(vocabulary: vocabulary, merges: merges, unknownToken: nil, file: mergesURL.path, key: "vocabulary",
                                 mergeKey: { "merge \($0 + 1)" })
        let names = config?.specialTokens ?? [:]
        let className = config?.tokenizerClass?.lowercased() ?? ""
        let hasRobertaTokens = ["<s>", "</s>", "<mask>"].allSatisfy { vocabulary[VocabularyKey($0)] != nil }
        let isRoberta = ["roberta", "bart", "longformer"].contains { className.contains($0) }
            || (className.isEmpty && hasRobertaTokens)
        let addPrefixSpace = config?.addPrefixSpace ?? false

        let postProcessor: any PostProcessor
        var specialNames: [String]
        if isRoberta {
            func special(_ key: String, _ fallback: String) throws -> (token: String, id: Int) {
                let name = names[key] ?? fallback
                guard let id = vocabulary[VocabularyKey(name)] else {
                    throw TokenizerError.invalidFile(url.path, key: key, "the token \"\(name)\" is not in the vocabulary",
                                                     hint: "RoBERTa and BART need it; fix \(key) in tokenizer_config.json or the vocabulary")
                }
                return (name, id)
            }
            postProcessor = RobertaProcessor(cls: try special("cls_token", "<s>"), sep: try special("sep_token", "</s>"),
                                             trimOffsets: true, addPrefixSpace: addPrefixSpace)
            specialNames = [names["bos_token"] ?? "<s>", names["pad_token"] ?? "<pad>", names["eos_token"] ?? "</s>",
                            names["unk_token"] ?? "<unk>", names["cls_token"] ?? "<s>", names["sep_token"] ?? "</s>",
                            names["mask_token"] ?? "<mask>"]
        } else {
            postProcessor = ByteLevelProcessor(trimOffsets: false, addPrefixSpace: addPrefixSpace)
            specialNames = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]
                .compactMap { names[$0] } + (vocabulary[VocabularyKey("<|endoftext|>")] != nil ? ["<|endoftext|>"] : [])
        }
        specialNames += config?.additionalSpecialTokens ?? []
        var leftStripped = config?.leftStrippedTokens ?? []
        if isRoberta { leftStripped.insert(names["mask_token"] ?? "<mask>") }  // RobertaTokenizer always does
        var addedTokens: [AddedToken] = []
        for name in specialNames where !addedTokens.contains(where: { $0.content == name }) {
            guard let id = vocabulary[VocabularyKey(name)] else { continue }
            addedTokens.append(AddedToken(id: id, content: name, stripLeft: leftStripped.contains(name), normalized: false, special: true))
        }
        let mask = names["mask_token"] ?? "<mask>"
        return PipelineTokenizer(normalizer: nil, preTokenizer: ByteLevelPreTokenizer(addPrefixSpace: addPrefixSpace, useRegex: true),
                                 model: model, postProcessor: postProcessor, decoder: ByteLevelDecoder(),
                                 addedVocabulary: AddedVocabulary(tokens: addedTokens, normalizer: nil),
                                 maskToken: vocabulary[VocabularyKey(mask)] != nil ? mask : nil,
                                 sourceFiles: [url, mergesURL] + (config.map { [$0.file] } ?? []))
    }

    /// Reads a vocab.json: an object from token to id.
    static func readVocabularyJSON(_ url: URL) throws -> [VocabularyKey: Int] {
        let data = try TokenizerLoader.readFile(url)
        let root = try TokenizerJSON.parse(data, file: url.path)
        var vocabulary: [VocabularyKey: Int] = [:]
        let members = try root.objectMembers()
        vocabulary.reserveCapacity(members.count)
        for (token, id) in members { vocabulary[VocabularyKey(token)] = try id.int() }
        guard !vocabulary.isEmpty else {
            throw TokenizerError.invalidFile(url.path, key: "(root)", "the vocabulary is empty", hint: "re-download vocab.json")
        }
        return vocabulary
    }

    // MARK: - Marian: source.spm / target.spm + vocab.json

    /// Marian's tokenizer (transformers' `MarianTokenizer`): SentencePiece's normalizer and Unigram
    /// model from `source.spm` (or `target.spm`), the pieces' ids from `vocab.json` (or
    /// `target_vocab.json` when `separate_vocabs`), `</s>` after the text; `>>fr<<` language codes
    /// of the vocabulary are tokens of their own.
    static func loadMarian(folder: URL, side: TokenizerSide, config: TokenizerConfig?) throws -> PipelineTokenizer {
        let spmURL = folder.appendingPathComponent(side == .source ? "source.spm" : "target.spm")
        guard FileManager.default.fileExists(atPath: spmURL.path) else {
            throw TokenizerError(.missingFile, file: spmURL.path, "is missing",
                                 hint: "a Marian model needs source.spm and target.spm; download both")
        }
        var vocabularyURL = folder.appendingPathComponent("vocab.json")
        if side == .target, config?.separateVocabularies == true {
            vocabularyURL = folder.appendingPathComponent("target_vocab.json")
        }
        guard FileManager.default.fileExists(atPath: vocabularyURL.path) else {
            throw TokenizerError(.missingFile, file: vocabularyURL.path, "is missing",
                                 hint: "Marian's token ids are in \(vocabularyURL.lastPathComponent); download it")
        }
        let vocabulary = try readVocabularyJSON(vocabularyURL)
        let spm = try SentencePieceModelFile(url: spmURL)
        guard spm.modelType == 1 else {
            throw TokenizerError(.unsupportedType, file: spmURL.path, key: "trainer_spec.model_type",
                                 "SentencePiece model type \(spm.modelType) is not supported by AttnLab yet (supported: 1, Unigram)",
                                 hint: "use a model whose SentencePiece model is a Unigram model")
        }
        guard !spm.treatWhitespaceAsSuffix else {
            throw TokenizerError(.unsupportedType, file: spmURL.path, key: "trainer_spec.treat_whitespace_as_suffix",
                                 "SentencePiece models with the space at the end of words are not supported by AttnLab yet",
                                 hint: "use a model trained with treat_whitespace_as_suffix false")
        }
        let charsmap = spm.charsmap.isEmpty ? nil
            : try PrecompiledCharsmap(bytes: spm.charsmap, file: spmURL.path, key: "normalizer_spec.precompiled_charsmap")
        let normalizer = SentencePieceNormalizer(charsmap: charsmap, addDummyPrefix: spm.addDummyPrefix,
                                                 removeExtraWhitespaces: spm.removeExtraWhitespaces,
                                                 escapeWhitespaces: spm.escapeWhitespaces)
        // As SentencePiece's lattice: unknown characters score 10 below the lowest normal piece,
        // user-defined pieces always win (their length times the highest score, plus one).
        let pieceTypes = spm.pieces.map(\.type)
        let normalScores = spm.pieces.filter { $0.type == .normal }.map { Float($0.score) }
        let lowest = normalScores.min() ?? 0, highest = normalScores.max() ?? 0
        let scored = spm.pieces.map { piece -> (text: String, score: Double) in
            guard piece.type == .userDefined else { return (piece.text, piece.score) }
            return (piece.text, Double(Float(piece.text.unicodeScalars.count) * highest + 1))
        }
        let unigram = try UnigramModel(pieces: scored, unknownID: spm.unknownID, byteFallback: spm.byteFallback,
                                       usable: { pieceTypes[$0] == .normal || pieceTypes[$0] == .userDefined },
                                       unknownScore: Double(lowest - 10), singlePrecision: true,
                                       file: spmURL.path, key: "pieces")
        let names = config?.specialTokens ?? [:]
        let unknown = names["unk_token"] ?? "<unk>", eos = names["eos_token"] ?? "</s>", pad = names["pad_token"] ?? "<pad>"
        guard let eosID = vocabulary[VocabularyKey(eos)] else {
            throw TokenizerError.invalidFile(vocabularyURL.path, key: eos, "the end-of-sequence token \"\(eos)\" is not in the vocabulary",
                                             hint: "Marian needs it after every input; fix eos_token or the vocabulary")
        }
        let model = try VocabularyMappedModel(inner: unigram, vocabulary: vocabulary, unknownToken: unknown,
                                              file: vocabularyURL.path)
        var addedTokens: [AddedToken] = []
        for name in [eos, unknown, pad] + (config?.additionalSpecialTokens ?? [])
        where !addedTokens.contains(where: { $0.content == name }) {
            if let id = vocabulary[VocabularyKey(name)] {
                addedTokens.append(AddedToken(id: id, content: name, normalized: false, special: true))
            }
        }
        for (key, id) in vocabulary where key.utf8.starts(with: Array(">>".utf8)) && key.string.hasSuffix("<<") {
            addedTokens.append(AddedToken(id: id, content: key.string, normalized: false))
        }
        addedTokens.sort { $0.id < $1.id }
        let end = TemplateProcessor.SpecialTokens(ids: [eosID], tokens: [eos])
        let postProcessor = TemplateProcessor(single: [.sequence(0, typeId: 0), .special(end, typeId: 0)],
                                              pair: [.sequence(0, typeId: 0), .sequence(1, typeId: 1), .special(end, typeId: 1)])
        return PipelineTokenizer(normalizer: normalizer,
                                 preTokenizer: MetaspacePreTokenizer(prependScheme: .never, splitWords: true),
                                 model: model, postProcessor: postProcessor,
                                 decoder: MetaspaceDecoder(replacement: "▁", prependScheme: .always),
                                 addedVocabulary: AddedVocabulary(tokens: addedTokens, normalizer: nil),
                                 maskToken: nil, sourceFiles: [spmURL, vocabularyURL] + (config.map { [$0.file] } ?? []))
    }
}

/// A model whose tokens take their ids from another vocabulary (Marian: SentencePiece pieces, ids
/// from vocab.json); a piece missing from it is the unknown token, spelt as that vocabulary spells
/// it (`<unk>`, as transformers' `convert_ids_to_tokens` gives).
struct VocabularyMappedModel: TokenizationModel {
    let inner: any TokenizationModel
    let vocabulary: [VocabularyKey: Int]
    let tokensByID: [String?]
    let unknownID: Int

    init(inner: any TokenizationModel, vocabulary: [VocabularyKey: Int], unknownToken: String, file: String) throws {
        guard let unknownID = vocabulary[VocabularyKey(unknownToken)] else {
            throw TokenizerError.invalidFile(file, key: unknownToken, "the unknown token \"\(unknownToken)\" is not in the vocabulary",
                                             hint: "fix unk_token or the vocabulary")
        }
        self.inner = inner
        self.vocabulary = vocabulary
        self.tokensByID = try BPEModel.tokenTable(vocabulary, file: file, key: "(root)")
        self.unknownID = unknownID
    }

    var family: TokenizerFamily { inner.family }
    var vocabularySize: Int { tokensByID.count }

    func tokenize(_ word: ArraySlice<Unicode.Scalar>) -> [ModelToken] {
        inner.tokenize(word).map { token in
            var token = token
            if let id = vocabulary[VocabularyKey(token.text)] {
                token.id = id
            } else {
                token.id = unknownID
                token.text = tokensByID[unknownID] ?? token.text
            }
            return token
        }
    }

    func id(for token: String) -> Int? { vocabulary[VocabularyKey(token)] }

    func token(for id: Int) -> String? { id >= 0 && id < tokensByID.count ? tokensByID[id] : nil }
}
