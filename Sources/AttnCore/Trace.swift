/// One token of a traced input, with everything a view, a diff or a snapshot needs to place it.
public struct TraceToken: Codable, Sendable, Equatable {
    /// The token as the tokenizer's vocabulary spells it (`##nem`, `Ġthe`, `▁the`).
    public var text: String
    /// The token prettified for display (`nem`, `the`), per tokenizer family.
    public var display: String
    /// The vocabulary id.
    public var id: Int
    /// Character span (Unicode scalars, end exclusive) in its segment's text; nil for added special tokens.
    public var start: Int?
    public var end: Int?
    /// Index of the word within its segment's text (the tokenizer's pre-tokenized words); nil for special tokens.
    public var word: Int?
    /// 0 for sentence A (or the only input), 1 for sentence B.
    public var segment: Int
    /// True for tokens the post-processor added (`[CLS]`, `[SEP]`, `</s>`).
    public var special: Bool

    public init(text: String, display: String? = nil, id: Int, start: Int? = nil, end: Int? = nil,
                word: Int? = nil, segment: Int = 0, special: Bool = false) {
        self.text = text
        self.display = display ?? text
        self.id = id
        self.start = start
        self.end = end
        self.word = word
        self.segment = segment
        self.special = special
    }
}

/// Which attention a stack holds. Queries of `encoder` and keys of `encoder` and `cross` are the
/// trace's `tokens`; queries of `decoder` and `cross` and keys of `decoder` are `decoderTokens`.
public enum StackKind: String, Codable, Sendable, CaseIterable, Comparable {
    case encoder, decoder, cross

    public static func < (a: StackKind, b: StackKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How a stack's attention was computed: what a view needs to redo `softmax(q·k·scale)` from the
/// captured queries and keys, and to say when the probabilities are something else.
public struct AttentionGeometry: Codable, Sendable, Equatable {
    /// The factor the scores `q·k` were multiplied by before the softmax, per layer (1/√d for most
    /// models; 1 for T5; 1/(√d·(l+1)) for GPT-2 with `scale_attn_by_inverse_layer_idx`).
    public var scales: [Float]
    /// Key/value heads: with grouped-query attention fewer than the query heads, query head `h`
    /// reading key/value head `h / (heads / keyValueHeads)`, as transformers' `repeat_kv` expands them.
    public var keyValueHeads: Int
    /// Each query sees itself and the keys before it.
    public var causal: Bool
    /// Each query sees at most this many keys ending at itself (Mistral's sliding window).
    public var slidingWindow: Int?
    /// A bias the trace does not hold was added to the scores (T5's relative positions).
    public var positionBias: Bool
    /// Queries and keys are captured after rotary position embeddings, as the scores use them.
    public var rotary: Bool

    public init(scales: [Float], keyValueHeads: Int, causal: Bool = false, slidingWindow: Int? = nil,
                positionBias: Bool = false, rotary: Bool = false) {
        self.scales = scales
        self.keyValueHeads = keyValueHeads
        self.causal = causal
        self.slidingWindow = slidingWindow
        self.positionBias = positionBias
        self.rotary = rotary
    }

    /// The key/value head query head `head` of `heads` reads.
    public func keyValueHead(of head: Int, heads: Int) -> Int {
        head / max(1, heads / max(1, keyValueHeads))
    }

    enum CodingKeys: String, CodingKey {
        case scales, causal, rotary
        case keyValueHeads = "key_value_heads", slidingWindow = "sliding_window", positionBias = "position_bias"
    }
}

/// What one stack of layers produced.
public struct AttentionStack: Sendable, Equatable {
    /// Attention probabilities `[layers, heads, queries, keys]`; each row sums to 1.
    public var attention: Tensor
    /// Per-head queries `[layers, heads, queries, headDim]`, when captured (after rotary positions).
    public var query: Tensor?
    /// Per-key/value-head keys and values `[layers, keyValueHeads, keys, headDim]`, when captured.
    public var key: Tensor?
    public var value: Tensor?
    /// Hidden states `[layers + 1, n, hidden]` (embeddings first), when captured.
    public var hidden: Tensor?
    /// How the attention was computed; nil for a trace imported without it.
    public var geometry: AttentionGeometry?
    /// The heads whose attention the trace holds, when it holds only some (a compact run keeps the
    /// heads an expectation or a diff needs); the others are zero. nil: every head.
    public var storedHeads: [HeadRef]?

    public init(attention: Tensor, query: Tensor? = nil, key: Tensor? = nil, value: Tensor? = nil, hidden: Tensor? = nil,
                geometry: AttentionGeometry? = nil, storedHeads: [HeadRef]? = nil) {
        self.attention = attention
        self.query = query
        self.key = key
        self.value = value
        self.hidden = hidden
        self.geometry = geometry
        self.storedHeads = storedHeads
    }

    /// True when the trace holds the attention of layer `layer`, head `head`.
    public func holds(layer: Int, head: Int) -> Bool {
        storedHeads.map { $0.contains(HeadRef(layer: layer, head: head)) } ?? true
    }

    public var layerCount: Int { attention.shape[0] }
    public var headCount: Int { attention.shape[1] }
    /// Key/value heads of the captured keys and values (the query heads when the trace does not say).
    public var keyValueHeadCount: Int { geometry?.keyValueHeads ?? key?.shape[1] ?? headCount }
}

/// The text a trace was run on.
public struct TraceInputs: Codable, Sendable, Equatable {
    /// Sentence A (or the only input, or the encoder input).
    public var a: String
    /// Sentence B of a pair.
    public var b: String?
    /// The decoder's input of an encoder-decoder model (teacher-forced).
    public var decoder: String?

    public init(a: String, b: String? = nil, decoder: String? = nil) {
        self.a = a
        self.b = b
        self.decoder = decoder
    }
}

/// One candidate of a top-k prediction.
public struct Candidate: Codable, Sendable, Equatable {
    public var token: String
    public var id: Int
    public var probability: Double

    public init(token: String, id: Int, probability: Double) {
        self.token = token
        self.id = id
        self.probability = probability
    }
}

/// The top-k predictions at one position (a masked token, or the next token after a position).
public struct TopKPrediction: Codable, Sendable, Equatable {
    /// Index into the trace's tokens (the decoder's tokens for seq2seq).
    public var position: Int
    public var candidates: [Candidate]
    /// Tokens asked for by name (an expectation's `output: she`), whatever their rank.
    public var watched: [Candidate]?

    public init(position: Int, candidates: [Candidate], watched: [Candidate]? = nil) {
        self.position = position
        self.candidates = candidates
        self.watched = watched
    }
}

/// A model's outputs, named by task; only the ones the task has are set.
public struct TraceOutputs: Codable, Sendable, Equatable {
    /// Cosine similarity of the two sentences' pooled embeddings, each sentence run on its own.
    public var similarity: Double?
    /// Class names, in the order of `probabilities`.
    public var labels: [String]?
    /// Class probabilities (softmax of the logits).
    public var probabilities: [Double]?
    /// Masked-token or next-token predictions.
    public var topk: [TopKPrediction]?

    public init(similarity: Double? = nil, labels: [String]? = nil, probabilities: [Double]? = nil, topk: [TopKPrediction]? = nil) {
        self.similarity = similarity
        self.labels = labels
        self.probabilities = probabilities
        self.topk = topk
    }

    /// The most probable label, when the task has labels.
    public var label: String? {
        guard let labels, let probabilities, let best = probabilities.indices.max(by: { probabilities[$0] < probabilities[$1] }),
              best < labels.count else { return nil }
        return labels[best]
    }
}

/// Where a trace came from: enough to tell whether two traces are comparable.
public struct Provenance: Codable, Sendable, Equatable {
    /// The id the model was asked for by (`sentence-transformers/all-MiniLM-L6-v2`, or a folder).
    public var model: String
    /// `config.json`'s `model_type` (`bert`, `gpt2`, `t5`, …).
    public var architecture: String
    /// SHA-256 of the weight files, hex.
    public var weightsHash: String
    /// SHA-256 of the tokenizer file, hex.
    public var tokenizerHash: String
    /// The task whose outputs were computed (`similarity`, `classification`, `masked-lm`, …).
    public var task: String
    /// Element type the model ran in.
    public var dtype: String
    public var attnlabVersion: String
    /// What was captured beyond attention: `qkv`, `hidden`.
    public var capture: [String]
    /// How the attention is stored when not as float32: `float16`, or `uint8-sqrt` (one byte per
    /// weight, b = round(255·√a), as the views store it). nil: float32.
    public var attentionStorage: String?

    public init(model: String, architecture: String, weightsHash: String = "", tokenizerHash: String = "",
                task: String = "", dtype: String = "float32", attnlabVersion: String = AttnLab.version, capture: [String] = []) {
        self.model = model
        self.architecture = architecture
        self.weightsHash = weightsHash
        self.tokenizerHash = tokenizerHash
        self.task = task
        self.dtype = dtype
        self.attnlabVersion = attnlabVersion
        self.capture = capture
    }

    enum CodingKeys: String, CodingKey {
        case model, architecture, task, dtype, capture
        case weightsHash = "weights_hash", tokenizerHash = "tokenizer_hash", attnlabVersion = "attnlab_version"
        case attentionStorage = "attention_storage"
    }
}

/// Everything a view, a diff or a snapshot needs from one forward pass; nothing needs the model again.
public struct Trace: Sendable, Equatable {
    public var inputs: TraceInputs
    /// The input's tokens: queries and keys of `encoder`, keys of `cross`.
    public var tokens: [TraceToken]
    /// The decoder's tokens (encoder-decoder models): queries and keys of `decoder`, queries of `cross`.
    public var decoderTokens: [TraceToken]?
    /// The model's `token_type_ids` for `tokens` (BERT: the segments; RoBERTa: all 0), when known.
    public var tokenTypeIds: [Int]?
    public var stacks: [StackKind: AttentionStack]
    public var outputs: TraceOutputs
    /// Raw logits where they are small enough to keep (classification: `[labels]`).
    public var logits: Tensor?
    public var provenance: Provenance
    /// The interventions the forward pass ran with (empty for the model as it is).
    public var interventions: [Intervention]

    public init(inputs: TraceInputs, tokens: [TraceToken], decoderTokens: [TraceToken]? = nil, tokenTypeIds: [Int]? = nil,
                stacks: [StackKind: AttentionStack], outputs: TraceOutputs = TraceOutputs(),
                logits: Tensor? = nil, provenance: Provenance, interventions: [Intervention] = []) {
        self.inputs = inputs
        self.tokens = tokens
        self.decoderTokens = decoderTokens
        self.tokenTypeIds = tokenTypeIds
        self.stacks = stacks
        self.outputs = outputs
        self.logits = logits
        self.provenance = provenance
        self.interventions = interventions
    }

    /// The tokens along the query axis of a stack.
    public func queryTokens(_ kind: StackKind) -> [TraceToken] {
        kind == .encoder ? tokens : (decoderTokens ?? [])
    }

    /// The tokens along the key axis of a stack.
    public func keyTokens(_ kind: StackKind) -> [TraceToken] {
        kind == .decoder ? (decoderTokens ?? []) : tokens
    }

    /// True when the input is a sentence pair.
    public var isPair: Bool { tokens.contains { $0.segment == 1 } }
}

extension Trace {
    /// Throws when an output or an attention weight is not a finite number, naming which and
    /// where: a model whose weights or configuration hold NaN, infinite or extreme values computes
    /// them, and neither JSON nor a later reader could take them.
    public func checkFinite() throws {
        func fail(_ what: String, _ value: Double) throws -> Never {
            throw CoreError("the model computed \(value.isNaN ? "NaN" : "an infinite value") for \(what)",
                            hint: "its weights or config.json hold NaN, infinite or extreme values; check them, or download the model again")
        }
        if let similarity = outputs.similarity, !similarity.isFinite { try fail("the similarity", similarity) }
        for (index, p) in (outputs.probabilities ?? []).enumerated() where !p.isFinite {
            let label = outputs.labels.flatMap { index < $0.count ? " (\(JSONText.quote($0[index])))" : nil } ?? ""
            try fail("the probability of class \(index)\(label)", p)
        }
        for prediction in outputs.topk ?? [] {
            for candidate in prediction.candidates + (prediction.watched ?? []) where !candidate.probability.isFinite {
                try fail("the probability of \(JSONText.quote(candidate.token)) at position \(prediction.position)", candidate.probability)
            }
        }
        if let logits, let bad = logits.scalars.first(where: { !$0.isFinite }) { try fail("a logit", Double(bad)) }
        for kind in stacks.keys.sorted() {
            let attention = stacks[kind]!.attention
            guard let index = attention.scalars.firstIndex(where: { !$0.isFinite }) else { continue }
            let shape = attention.shape
            let perLayer = shape.count == 4 ? shape[1] * shape[2] * shape[3] : max(attention.count, 1)
            let perHead = shape.count == 4 ? shape[2] * shape[3] : max(attention.count, 1)
            try fail("\(kind.rawValue) attention in layer \(index / perLayer), head \((index % perLayer) / perHead)", Double(attention.scalars[index]))
        }
    }
}

/// Facts about AttnLab itself.
public enum AttnLab {
    public static let version = "0.1.0"
}
