import AttnCore
import Foundation

// The snapshot files of one experiment, under `Snapshots/<experiment>/`:
//
//   experiment.json                          what was run: the experiment file's hash, the models
//                                            with their weight and tokenizer hashes, the variants
//   <model>/<input>/<variant>.json           outputs, label, expectation results, tokens and
//                                            per-head summaries, rounded, one item per line
//   <model>/<input>/<variant>.safetensors    the attention in float16 (`encoder.attention` …),
//                                            itself a trace file that `attnlab figure` reads
//
// Nothing in them depends on the time or the machine: re-recording unchanged results gives the
// same bytes, and `git diff` shows only what moved.

/// Decimal places of outputs (similarity, probabilities) in snapshot JSON.
let outputDecimals = 6
/// Decimal places of per-head summaries (entropy, weights, masses).
let summaryDecimals = 4

/// `experiment.json`: what the snapshots were recorded from.
public struct ExperimentSnapshot: Sendable, Equatable {
    public static let formatVersion = 1

    public struct Model: Sendable, Equatable {
        public var name: String
        public var id: String
        public var architecture: String
        public var task: String
        public var layers: Int
        public var heads: Int
        /// SHA-256 of the weight files.
        public var weightsHash: String
        /// SHA-256 of the tokenizer file.
        public var tokenizerHash: String

        public init(name: String, id: String, architecture: String, task: String, layers: Int, heads: Int,
                    weightsHash: String, tokenizerHash: String) {
            (self.name, self.id, self.architecture, self.task) = (name, id, architecture, task)
            (self.layers, self.heads, self.weightsHash, self.tokenizerHash) = (layers, heads, weightsHash, tokenizerHash)
        }
    }

    public var formatVersion: Int = formatVersion
    public var attnlabVersion: String
    public var name: String
    public var description: String?
    /// The experiment file, relative to the repository's working tree.
    public var file: String
    /// SHA-256 of the experiment file's bytes.
    public var hash: String
    public var models: [Model]
    /// `<model>/<input>/<variant>` of every variant, in run order.
    public var variants: [String]
    /// Expectations that named no variant (`variant: x/*` when no perturbation applied).
    public var unmatchedExpectations: [ExpectationRecord]
    /// A suite's expectations with their failures (nil for a snapshot per variant): the variants'
    /// outputs are then in `<model>.outputs.jsonl`.
    public var suite: [SuiteExpectation]?

    public init(attnlabVersion: String, name: String, description: String?, file: String, hash: String, models: [Model],
                variants: [String] = [], unmatchedExpectations: [ExpectationRecord]) {
        (self.attnlabVersion, self.name, self.description, self.file, self.hash) = (attnlabVersion, name, description, file, hash)
        (self.models, self.variants, self.unmatchedExpectations) = (models, variants, unmatchedExpectations)
    }

    func json() -> SnapshotJSON {
        .object([
            ("format_version", .int(formatVersion)),
            ("attnlab_version", .string(attnlabVersion)),
            ("experiment", .object([
                ("name", .string(name)),
                ("description", description.map(SnapshotJSON.string)),
                ("file", .string(file)),
                ("sha256", .string(hash)),
            ])),
            ("models", .array(models.map { model in
                .object([
                    ("name", .string(model.name)), ("id", .string(model.id)),
                    ("architecture", .string(model.architecture)), ("task", .string(model.task)),
                    ("layers", .int(model.layers)), ("heads", .int(model.heads)),
                    ("weights_sha256", .string(model.weightsHash)), ("tokenizer_sha256", .string(model.tokenizerHash)),
                ])
            }, inline: false)),
            ("variants", .array(variants.map(SnapshotJSON.string), inline: false)),
            ("unmatched_expectations", unmatchedExpectations.isEmpty ? nil : .array(unmatchedExpectations.map { $0.json() }, inline: false)),
            ("kind", suite == nil ? nil : .string("suite")),
            ("expectations", suite.map { .array($0.map { $0.json() }, inline: false) }),
        ])
    }
}

/// One expectation's result on one variant, as recorded.
public struct ExpectationRecord: Sendable, Equatable {
    /// The line of the experiment file it comes from.
    public var line: Int
    /// What was expected, in words.
    public var expectation: String
    public var passed: Bool
    /// What was measured, in words.
    public var measured: String

    public init(line: Int, expectation: String, passed: Bool, measured: String) {
        (self.line, self.expectation, self.passed, self.measured) = (line, expectation, passed, measured)
    }

    /// How an expectation is recognised between two snapshots.
    public var key: String { "\(line): \(expectation)" }

    func json() -> SnapshotJSON {
        .line([("line", .int(line)), ("passed", .bool(passed)), ("expected", .string(expectation)), ("measured", .string(measured))])
    }
}

/// One token, as a line of snapshot JSON.
public struct SnapshotToken: Sendable, Equatable {
    public var text: String
    public var id: Int
    public var segment: Int
    public var word: Int?
    /// Character span (Unicode scalars) in its sentence.
    public var start: Int?
    public var end: Int?
    public var special: Bool

    init(_ token: TraceToken) {
        text = token.text
        id = token.id
        segment = token.segment
        word = token.word
        start = token.start
        end = token.end
        special = token.special
    }

    init(text: String, id: Int, segment: Int, word: Int?, start: Int?, end: Int?, special: Bool) {
        (self.text, self.id, self.segment, self.word, self.start, self.end, self.special) = (text, id, segment, word, start, end, special)
    }

    func json() -> SnapshotJSON {
        .line([
            ("text", .string(text)), ("id", .int(id)), ("segment", .int(segment)),
            ("word", word.map(SnapshotJSON.int)),
            ("span", start.flatMap { start in end.map { .array([.int(start), .int($0)], inline: true) } }),
            ("special", special ? .bool(true) : nil),
        ])
    }
}

/// A word (or token) and a weight or probability.
public struct WeightedText: Sendable, Equatable {
    public var text: String
    public var weight: Double

    public init(_ text: String, _ weight: Double) {
        self.text = text
        self.weight = weight
    }

    func json(_ decimals: Int) -> SnapshotJSON { .array([.string(text), .fixed(weight, decimals)], inline: true) }
}

/// A model's outputs, rounded.
public struct SnapshotOutputs: Sendable, Equatable {
    /// The top-k predictions at one position.
    public struct Prediction: Sendable, Equatable {
        public var position: Int
        public var candidates: [WeightedText]
        /// Tokens an expectation asked for, whatever their rank.
        public var watched: [WeightedText]?
    }

    public var similarity: Double?
    public var labels: [String]?
    public var probabilities: [Double]?
    public var topk: [Prediction]?

    public var isEmpty: Bool { similarity == nil && probabilities == nil && topk == nil }

    /// The most probable label, when the task has labels (as `TraceOutputs.label` reads it).
    public var label: String? { TraceOutputs(labels: labels, probabilities: probabilities).label }

    init(similarity: Double? = nil, labels: [String]? = nil, probabilities: [Double]? = nil, topk: [Prediction]? = nil) {
        (self.similarity, self.labels, self.probabilities, self.topk) = (similarity, labels, probabilities, topk)
    }

    /// The outputs of a trace, rounded as they are written.
    public init(_ outputs: TraceOutputs) {
        func round(_ value: Double) -> Double { Double(SnapshotJSON.format(value, outputDecimals)) ?? value }
        similarity = outputs.similarity.map(round)
        labels = outputs.labels
        probabilities = outputs.probabilities?.map(round)
        topk = outputs.topk?.map { prediction in
            Prediction(position: prediction.position,
                       candidates: prediction.candidates.map { WeightedText($0.token, round($0.probability)) },
                       watched: prediction.watched.map { $0.map { WeightedText($0.token, round($0.probability)) } })
        }
    }

    func json() -> SnapshotJSON {
        .object([
            ("similarity", similarity.map { .fixed($0, outputDecimals) }),
            ("labels", labels.map { .array($0.map(SnapshotJSON.string), inline: true) }),
            ("probabilities", probabilities.map { .array($0.map { .fixed($0, outputDecimals) }, inline: true) }),
            ("topk", topk.map { predictions in
                .array(predictions.map { prediction in
                    .object([
                        ("position", .int(prediction.position)),
                        ("candidates", .array(prediction.candidates.map { $0.json(outputDecimals) }, inline: false)),
                        ("watched", prediction.watched.map { .array($0.map { $0.json(outputDecimals) }, inline: false) }),
                    ])
                }, inline: false)
            }),
        ])
    }
}

/// What one head does, in a few numbers: how spread its attention is, where most of it goes, and
/// (for a sentence pair) how much crosses between the sentences.
public struct HeadSummary: Sendable, Equatable {
    public var layer: Int
    public var head: Int
    /// Mean over the query tokens of the entropy of their attention, in bits.
    public var entropy: Double
    /// The most attended words (mean over query tokens of the attention a word's tokens receive),
    /// strongest first. In a pair, words are written `A:word` and `B:word`.
    public var top: [WeightedText]
    /// Mean attention mass from sentence A's words to B's, and back (pairs only).
    public var aToB: Double?
    public var bToA: Double?

    func json() -> SnapshotJSON {
        .line([
            ("layer", .int(layer)), ("head", .int(head)), ("entropy", .fixed(entropy, summaryDecimals)),
            ("a_to_b", aToB.map { .fixed($0, summaryDecimals) }), ("b_to_a", bToA.map { .fixed($0, summaryDecimals) }),
            ("top", .array(top.map { $0.json(summaryDecimals) }, inline: true)),
        ])
    }
}

/// The summary of one attention stack: its shape and one line per head.
public struct StackSummary: Sendable, Equatable {
    public var kind: StackKind
    /// `[layers, heads, queries, keys]`.
    public var shape: [Int]
    public var heads: [HeadSummary]

    func json() -> SnapshotJSON {
        .object([("shape", .array(shape.map(SnapshotJSON.int), inline: true)),
                 ("heads", .array(heads.map { $0.json() }, inline: false))])
    }
}

/// `<model>/<input>/<variant>.json`: one variant's outputs, expectation results, tokens and
/// per-head attention summaries.
public struct VariantSnapshot: Sendable, Equatable {
    public static let formatVersion = 1

    public var formatVersion: Int = formatVersion
    public var model: String
    public var input: String
    /// The variant's name (`terrific`, or the input's base name).
    public var variant: String
    /// What was done to the input; nil for the base.
    public var perturbation: String?
    /// What was done inside the model (`ablate 4.11 (zero)`); nil when nothing was.
    public var intervention: String?
    public var text: TraceInputs
    public var outputs: SnapshotOutputs
    /// The label the outputs amount to (thresholded similarity, top class, top token).
    public var label: String?
    public var expectations: [ExpectationRecord]
    public var tokens: [SnapshotToken]
    public var decoderTokens: [SnapshotToken]?
    /// Encoder first, then decoder and cross.
    public var stacks: [StackSummary]
    /// Each attribution method's word scores, when the experiment asked for them.
    public var attribution: [AttributionSnapshot] = []

    /// `input/variant`, as expectations name it.
    public var path: String { "\(input)/\(variant)" }
    /// `model/input/variant`: the file's path in the experiment's snapshot folder, without extension.
    public var key: String { "\(model)/\(input)/\(variant)" }

    func json() -> SnapshotJSON {
        .object([
            ("format_version", .int(formatVersion)),
            ("model", .string(model)),
            ("input", .string(input)),
            ("variant", .string(variant)),
            ("perturbation", perturbation.map(SnapshotJSON.string)),
            ("intervention", intervention.map(SnapshotJSON.string)),
            ("text", .line([("a", .string(text.a)), ("b", text.b.map(SnapshotJSON.string)),
                            ("decoder", text.decoder.map(SnapshotJSON.string))])),
            ("outputs", outputs.json()),
            ("label", label.map(SnapshotJSON.string)),
            ("expectations", .array(expectations.map { $0.json() }, inline: false)),
            ("tokens", .array(tokens.map { $0.json() }, inline: false)),
            ("decoder_tokens", decoderTokens.map { .array($0.map { $0.json() }, inline: false) }),
            ("attention", .object(stacks.map { ($0.kind.rawValue, $0.json()) })),
            ("attribution", attribution.isEmpty ? nil : .array(attribution.map { $0.json() }, inline: false)),
        ])
    }
}

// MARK: - Reading

extension ExperimentSnapshot: Decodable {
    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", attnlabVersion = "attnlab_version", experiment, models, variants
        case unmatchedExpectations = "unmatched_expectations", kind, expectations
    }
    enum ExperimentKeys: String, CodingKey { case name, description, file, sha256 }
    enum ModelKeys: String, CodingKey {
        case name, id, architecture, task, layers, heads
        case weightsHash = "weights_sha256", tokenizerHash = "tokenizer_sha256"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        try SnapshotError.checkVersion(formatVersion, reads: Self.formatVersion)
        attnlabVersion = try c.decode(String.self, forKey: .attnlabVersion)
        let e = try c.nestedContainer(keyedBy: ExperimentKeys.self, forKey: .experiment)
        name = try e.decode(String.self, forKey: .name)
        description = try e.decodeIfPresent(String.self, forKey: .description)
        file = try e.decode(String.self, forKey: .file)
        hash = try e.decode(String.self, forKey: .sha256)
        var list = try c.nestedUnkeyedContainer(forKey: .models)
        models = []
        while !list.isAtEnd {
            let m = try list.nestedContainer(keyedBy: ModelKeys.self)
            models.append(Model(name: try m.decode(String.self, forKey: .name), id: try m.decode(String.self, forKey: .id),
                                architecture: try m.decode(String.self, forKey: .architecture), task: try m.decode(String.self, forKey: .task),
                                layers: try m.decode(Int.self, forKey: .layers), heads: try m.decode(Int.self, forKey: .heads),
                                weightsHash: try m.decode(String.self, forKey: .weightsHash),
                                tokenizerHash: try m.decode(String.self, forKey: .tokenizerHash)))
        }
        variants = try c.decode([String].self, forKey: .variants)
        unmatchedExpectations = try c.decodeIfPresent([ExpectationRecord].self, forKey: .unmatchedExpectations) ?? []
        if try c.decodeIfPresent(String.self, forKey: .kind) == "suite" {
            suite = try c.decodeIfPresent([SuiteExpectation].self, forKey: .expectations) ?? []
        }
    }
}

extension ExpectationRecord: Decodable {
    enum CodingKeys: String, CodingKey { case line, passed, expectation = "expected", measured }
}

extension SnapshotToken: Decodable {
    enum CodingKeys: String, CodingKey { case text, id, segment, word, span, special }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let span = try c.decodeIfPresent([Int].self, forKey: .span)
        guard span == nil || span?.count == 2 else {
            throw DecodingError.dataCorruptedError(forKey: .span, in: c, debugDescription: "a span is [start, end]")
        }
        self.init(text: try c.decode(String.self, forKey: .text), id: try c.decode(Int.self, forKey: .id),
                  segment: try c.decode(Int.self, forKey: .segment), word: try c.decodeIfPresent(Int.self, forKey: .word),
                  start: span?[0], end: span?[1], special: try c.decodeIfPresent(Bool.self, forKey: .special) ?? false)
    }
}

extension WeightedText: Decodable {
    public init(from decoder: Decoder) throws {
        var c = try decoder.unkeyedContainer()
        text = try c.decode(String.self)
        weight = try c.decode(Double.self)
    }
}

extension SnapshotOutputs: Decodable {
    enum CodingKeys: String, CodingKey { case similarity, labels, probabilities, topk }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(similarity: try c.decodeIfPresent(Double.self, forKey: .similarity),
                  labels: try c.decodeIfPresent([String].self, forKey: .labels),
                  probabilities: try c.decodeIfPresent([Double].self, forKey: .probabilities),
                  topk: try c.decodeIfPresent([Prediction].self, forKey: .topk))
    }
}

extension SnapshotOutputs.Prediction: Decodable {
    enum CodingKeys: String, CodingKey { case position, candidates, watched }
}

extension HeadSummary: Decodable {
    enum CodingKeys: String, CodingKey { case layer, head, entropy, top, aToB = "a_to_b", bToA = "b_to_a" }
}

extension VariantSnapshot: Decodable {
    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, input, variant, perturbation, intervention, text, outputs, label, expectations
        case tokens, decoderTokens = "decoder_tokens", attention, attribution
    }
    enum StackKeys: String, CodingKey { case shape, heads }
    struct StackName: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        try SnapshotError.checkVersion(formatVersion, reads: Self.formatVersion)
        model = try c.decode(String.self, forKey: .model)
        input = try c.decode(String.self, forKey: .input)
        variant = try c.decode(String.self, forKey: .variant)
        perturbation = try c.decodeIfPresent(String.self, forKey: .perturbation)
        intervention = try c.decodeIfPresent(String.self, forKey: .intervention)
        text = try c.decode(TraceInputs.self, forKey: .text)
        outputs = try c.decode(SnapshotOutputs.self, forKey: .outputs)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        expectations = try c.decodeIfPresent([ExpectationRecord].self, forKey: .expectations) ?? []
        tokens = try c.decode([SnapshotToken].self, forKey: .tokens)
        decoderTokens = try c.decodeIfPresent([SnapshotToken].self, forKey: .decoderTokens)
        let attention = try c.nestedContainer(keyedBy: StackName.self, forKey: .attention)
        stacks = []
        for name in attention.allKeys {
            guard let kind = StackKind(rawValue: name.stringValue) else {
                throw DecodingError.dataCorruptedError(forKey: name, in: attention,
                                                       debugDescription: "unknown stack \"\(name.stringValue)\" (encoder, decoder or cross)")
            }
            let stack = try attention.nestedContainer(keyedBy: StackKeys.self, forKey: name)
            stacks.append(StackSummary(kind: kind, shape: try stack.decode([Int].self, forKey: .shape),
                                       heads: try stack.decode([HeadSummary].self, forKey: .heads)))
        }
        stacks.sort { $0.kind < $1.kind }
        attribution = try c.decodeIfPresent([AttributionSnapshot].self, forKey: .attribution) ?? []
    }
}
