import AttnCore

/// The fourth stage: puts the special tokens around the sequence (or pair) and sets the type ids.
protocol PostProcessor: Sendable {
    /// How many special tokens `process` adds to one sequence or to a pair (for truncation).
    func addedTokenCount(isPair: Bool) -> Int
    /// Sequence A's tokens (segment 0) and B's (segment 1) with the special tokens added, and the
    /// type id of every token.
    func process(_ a: [TraceToken], _ b: [TraceToken]?) -> (tokens: [TraceToken], typeIds: [Int])
}

/// The `"type"` values of `post_processor` in tokenizer.json.
enum PostProcessorType: String, CaseIterable, Sendable {
    case template = "TemplateProcessing"
    case bert = "BertProcessing"
    case roberta = "RobertaProcessing"
    case byteLevel = "ByteLevel"
    case sequence = "Sequence"

    static let supported: [PostProcessorType] = [.template, .bert, .roberta, .byteLevel, .sequence]
}

enum PostProcessorFactory {
    /// Builds the post-processor that `json` (the `post_processor` object of tokenizer.json) describes.
    static func make(_ json: TokenizerJSON) throws -> any PostProcessor {
        let typeName = try json.required("type").string()
        guard let type = PostProcessorType(rawValue: typeName), PostProcessorType.supported.contains(type) else {
            throw TokenizerError.unsupportedType("post-processor", typeName, file: json.file, key: json.childPath("type"),
                                                 known: PostProcessorType(rawValue: typeName) != nil,
                                                 supported: PostProcessorType.supported.map(\.rawValue))
        }
        switch type {
        case .template:
            return try TemplateProcessor(json: json)
        case .byteLevel:
            return ByteLevelProcessor(trimOffsets: try json.optionalBool("trim_offsets") ?? true,
                                      addPrefixSpace: try json.optionalBool("add_prefix_space") ?? true)
        case .sequence:
            let stages = try json.required("processors").array().map(make)
            guard stages.filter(SequenceProcessor.addsTokens).count <= 1 else {
                throw TokenizerError.unsupportedType("post-processor", "Sequence with two post-processors that add special tokens",
                                                     file: json.file, key: json.childPath("processors"), known: true,
                                                     supported: ["Sequence with at most one that adds special tokens"])
            }
            return SequenceProcessor(stages: stages)
        case .bert, .roberta:
            func specialToken(_ key: String) throws -> TemplateProcessor.SpecialTokens {
                let pair = try json.required(key).array()
                guard pair.count == 2 else {
                    throw TokenizerError.invalidFile(json.file, key: json.childPath(key),
                                                     "should be a [token, id] pair")
                }
                let token = try pair[0].string()
                return TemplateProcessor.SpecialTokens(ids: [try pair[1].int()], tokens: [token])
            }
            let cls = try specialToken("cls"), sep = try specialToken("sep")
            if type == .roberta {
                return RobertaProcessor(cls: (cls.tokens[0], cls.ids[0]), sep: (sep.tokens[0], sep.ids[0]),
                                        trimOffsets: try json.optionalBool("trim_offsets") ?? true,
                                        addPrefixSpace: try json.optionalBool("add_prefix_space") ?? true)
            }
            // [CLS] A [SEP] and [CLS] A [SEP] B [SEP], B's part with type id 1.
            return TemplateProcessor(
                single: [.special(cls, typeId: 0), .sequence(0, typeId: 0), .special(sep, typeId: 0)],
                pair: [.special(cls, typeId: 0), .sequence(0, typeId: 0), .special(sep, typeId: 0),
                       .sequence(1, typeId: 1), .special(sep, typeId: 1)])
        }
    }
}

/// Hugging Face's template post-processor: `[CLS] $A [SEP]` and `[CLS] $A [SEP] $B:1 [SEP]:1`.
struct TemplateProcessor: PostProcessor {
    struct SpecialTokens: Sendable, Equatable {
        var ids: [Int]
        var tokens: [String]
    }

    enum Piece: Sendable, Equatable {
        /// Sequence A (0) or B (1).
        case sequence(Int, typeId: Int)
        case special(SpecialTokens, typeId: Int)
    }

    var single: [Piece]
    var pair: [Piece]

    init(single: [Piece], pair: [Piece]) {
        self.single = single
        self.pair = pair
    }

    init(json: TokenizerJSON) throws {
        var specials: [String: SpecialTokens] = [:]
        if let map = json["special_tokens"] {
            for (name, entry) in try map.objectMembers() {
                let ids = try entry.required("ids").array().map { try $0.int() }
                let tokens = try entry.required("tokens").array().map { try $0.string() }
                guard ids.count == tokens.count else {
                    throw TokenizerError.invalidFile(json.file, key: entry.path, "has \(ids.count) ids for \(tokens.count) tokens",
                                                     hint: "each special token needs one id per token")
                }
                specials[name] = SpecialTokens(ids: ids, tokens: tokens)
            }
        }
        func pieces(_ key: String, sequences: Set<String>) throws -> [Piece] {
            let template = try json.required(key)
            var pieces: [Piece] = []
            for item in try template.array() {
                if let sequence = item["Sequence"] {
                    let name = try sequence.required("id").string()
                    guard sequences.contains(name) else {
                        throw TokenizerError.invalidFile(json.file, key: sequence.childPath("id"),
                                                         "names sequence \"\(name)\", which this template cannot have",
                                                         hint: "use \"A\" (and \"B\" in the pair template)")
                    }
                    pieces.append(.sequence(name == "A" ? 0 : 1, typeId: try sequence.optionalInt("type_id") ?? 0))
                } else if let special = item["SpecialToken"] {
                    let name = try special.required("id").string()
                    guard let tokens = specials[name] else {
                        throw TokenizerError.invalidFile(json.file, key: special.childPath("id"),
                                                         "names special token \"\(name)\", missing from special_tokens",
                                                         hint: "add it to post_processor.special_tokens")
                    }
                    pieces.append(.special(tokens, typeId: try special.optionalInt("type_id") ?? 0))
                } else {
                    throw TokenizerError.invalidFile(json.file, key: item.path,
                                                     "should be {\"Sequence\": …} or {\"SpecialToken\": …}")
                }
            }
            return pieces
        }
        single = try pieces("single", sequences: ["A"])
        pair = try pieces("pair", sequences: ["A", "B"])
    }

    func addedTokenCount(isPair: Bool) -> Int {
        (isPair ? pair : single).reduce(0) { count, piece in
            if case .special(let tokens, _) = piece { return count + tokens.ids.count }
            return count
        }
    }

    func process(_ a: [TraceToken], _ b: [TraceToken]?) -> (tokens: [TraceToken], typeIds: [Int]) {
        var tokens: [TraceToken] = []
        var typeIds: [Int] = []
        // A special token belongs to the segment of the sequence it follows (0 before any): for
        // BERT that is its type id; for templates with one type id (RoBERTa) it still tells A from B.
        var segment = 0
        for piece in b == nil ? single : pair {
            switch piece {
            case .sequence(let index, let typeId):
                let sequence = index == 0 ? a : (b ?? [])
                tokens.append(contentsOf: sequence)
                typeIds.append(contentsOf: repeatElement(typeId, count: sequence.count))
                segment = index
            case .special(let special, let typeId):
                for (id, text) in zip(special.ids, special.tokens) {
                    tokens.append(TraceToken(text: text, display: text, id: id, segment: segment, special: true))
                    typeIds.append(typeId)
                }
            }
        }
        return (tokens, typeIds)
    }
}

/// Several post-processors (Hugging Face's `Sequence`, as Llama 3 uses it): those that add no
/// tokens (ByteLevel's span trimming) run on each sequence, then the one that adds the special tokens
/// (at most one; the factory refuses more). Trimming leaves special tokens alone, so running it
/// first gives what Hugging Face's order gives.
struct SequenceProcessor: PostProcessor {
    var stages: [any PostProcessor]

    static func addsTokens(_ stage: any PostProcessor) -> Bool {
        stage.addedTokenCount(isPair: false) > 0 || stage.addedTokenCount(isPair: true) > 0
    }

    func addedTokenCount(isPair: Bool) -> Int {
        stages.reduce(0) { $0 + $1.addedTokenCount(isPair: isPair) }
    }

    func process(_ a: [TraceToken], _ b: [TraceToken]?) -> (tokens: [TraceToken], typeIds: [Int]) {
        var a = a, b = b
        for stage in stages where !Self.addsTokens(stage) {
            a = stage.process(a, nil).tokens
            if let second = b { b = stage.process(second, nil).tokens }
        }
        if let adding = stages.first(where: Self.addsTokens) { return adding.process(a, b) }
        let tokens = a + (b ?? [])
        return (tokens, tokens.map(\.segment))
    }
}
