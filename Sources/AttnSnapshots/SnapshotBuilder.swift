import AttnCore
import AttnDiff
import Foundation

/// The snapshot files of one experiment, in memory: what `record` writes and `check` compares.
public struct ExperimentSnapshotFiles: Sendable {
    /// The experiment's name: its folder under `Snapshots/`.
    public var name: String
    /// File contents by path relative to `Snapshots/<name>/` (`experiment.json`,
    /// `minilm/eminem/terrific.json`, `minilm/eminem/terrific.safetensors`).
    public var files: [String: Data]
}

/// Turns the traces of a run into snapshot files.
public enum SnapshotBuilder {
    /// Most attended words kept per head.
    static let topWords = 3
    /// The `__metadata__` key of the attention file: the same as a trace file's, so that a snapshot's
    /// `.safetensors` is also a trace that `attnlab figure` and `attnlab diff` read.
    static let metadataKey = TraceFile.metadataKey

    /// One traced variant, as its snapshot keeps it.
    public struct Subject: Sendable {
        /// The model's short name (the first folder under `Snapshots/<experiment>/`).
        public var model: String
        public var input: String
        /// The variant's name (the base's, or the perturbation's id).
        public var variant: String
        /// What the perturbation did, in words; nil for the base.
        public var perturbation: String?
        public var trace: Trace
        /// The label the outputs amount to.
        public var label: String?
        /// The results of the expectations that named this variant.
        public var expectations: [ExpectationRecord]
        /// What was done inside the model, in words; nil when nothing was.
        public var intervention: String?
        /// The variant's attribution scores, one per method.
        public var attribution: [AttributionSnapshot] = []

        public init(model: String, input: String, variant: String, perturbation: String?, trace: Trace, label: String?,
                    expectations: [ExpectationRecord], intervention: String? = nil, attribution: [AttributionSnapshot] = []) {
            self.intervention = intervention
            self.attribution = attribution
            self.model = model
            self.input = input
            self.variant = variant
            self.perturbation = perturbation
            self.trace = trace
            self.label = label
            self.expectations = expectations
        }
    }

    /// The snapshot files of a finished run: `experiment.json` from `experiment` (whose `variants`
    /// list is filled in here) and two files per subject. The run itself is the caller's (the
    /// command line runs the experiment and hands over its traces and manifest).
    /// A scan's file is `<model>/<scan>.scan.json`.
    public static func files(experiment: ExperimentSnapshot, subjects: [Subject], scans: [ScanSnapshot] = []) throws -> ExperimentSnapshotFiles {
        var experiment = experiment
        var files: [String: Data] = [:]
        experiment.variants = []
        for subject in subjects {
            let snapshot = variant(subject)
            guard files["\(snapshot.key).json"] == nil else {
                throw SnapshotError("two variants would share the snapshot \(snapshot.key)", location: experiment.file,
                                    hint: "give the models, inputs and perturbations distinct names")
            }
            files["\(snapshot.key).json"] = snapshot.json().data()
            files["\(snapshot.key).safetensors"] = try attentionFile(subject.trace)
            experiment.variants.append(snapshot.key)
        }
        for scan in scans {
            guard files[scan.path] == nil else {
                throw SnapshotError("two scans would share the snapshot \(scan.path)", location: experiment.file, hint: "give the scans distinct ids")
            }
            files[scan.path] = scan.json().data()
        }
        files["experiment.json"] = experiment.json().data()
        return ExperimentSnapshotFiles(name: experiment.name, files: files)
    }

    /// The JSON side of one variant's snapshot.
    static func variant(_ subject: Subject) -> VariantSnapshot {
        let trace = subject.trace
        return VariantSnapshot(model: subject.model, input: subject.input, variant: subject.variant,
                               perturbation: subject.perturbation, intervention: subject.intervention, text: trace.inputs,
                               outputs: SnapshotOutputs(trace.outputs), label: subject.label, expectations: subject.expectations,
                               tokens: trace.tokens.map(SnapshotToken.init), decoderTokens: trace.decoderTokens?.map(SnapshotToken.init),
                               stacks: trace.stacks.keys.sorted().map { summary(trace, $0) }, attribution: subject.attribution)
    }

    // MARK: attention file

    /// The trace file's metadata, with the same keys as `TraceFile` writes.
    struct AttentionDocument: Encodable {
        var formatVersion = TraceFile.formatVersion
        var inputs: TraceInputs
        var tokens: [TraceToken]
        var decoderTokens: [TraceToken]?
        var outputs: TraceOutputs
        var provenance: Provenance

        enum CodingKeys: String, CodingKey {
            case inputs, tokens, outputs, provenance
            case formatVersion = "format_version", decoderTokens = "decoder_tokens"
        }
    }

    /// The attention of every stack in float16, with the inputs, tokens and model as a trace file's
    /// metadata (queries, keys, values, hidden states and outputs are left out).
    public static func attentionFile(_ trace: Trace) throws -> Data {
        var writer = SafeTensorsWriter()
        for (kind, stack) in trace.stacks {
            writer.add("\(kind.rawValue).attention", stack.attention, as: .f16)
        }
        // Only what the attention depends on, so that the file changes when the attention or the
        // tokens do: outputs, hashes and the attnlab version are in the JSON and experiment.json.
        var provenance = trace.provenance
        provenance.capture = []
        provenance.weightsHash = ""
        provenance.tokenizerHash = ""
        provenance.attnlabVersion = ""
        let document = AttentionDocument(inputs: trace.inputs, tokens: trace.tokens, decoderTokens: trace.decoderTokens,
                                         outputs: TraceOutputs(), provenance: provenance)
        writer.metadata[metadataKey] = String(decoding: try TraceFile.stableJSON(document), as: UTF8.self)
        return writer.encoded()
    }

    // MARK: head summaries

    /// One line per head of a stack: entropy, most attended words, and A↔B mass for pairs.
    static func summary(_ trace: Trace, _ kind: StackKind) -> StackSummary {
        guard let stack = trace.stacks[kind] else { return StackSummary(kind: kind, shape: [], heads: []) }
        let attention = stack.attention
        let (layers, heads, queries, keys) = (attention.shape[0], attention.shape[1], attention.shape[2], attention.shape[3])
        let keyTokens = trace.keyTokens(kind)
        let keyInputs = kind == .decoder ? TraceInputs(a: trace.inputs.decoder ?? "") : trace.inputs
        let words = WordAlignment.words(keyTokens, inputs: keyInputs)
        let pair = kind != .decoder && trace.isPair
        let labels = words.map { pair ? "\($0.segment == 0 ? "A" : "B"):\($0.text)" : $0.text }
        let masses = kind == .encoder && pair
            ? (CrossSentenceAttention.mass(trace, from: 0, to: 1), CrossSentenceAttention.mass(trace, from: 1, to: 0)) : nil

        var summaries: [HeadSummary] = []
        attention.withUnsafeBufferPointer { all in
            for l in 0 ..< layers {
                for h in 0 ..< heads {
                    let base = (l * heads + h) * queries * keys
                    var entropy = 0.0
                    var received = [Double](repeating: 0, count: keys)
                    for q in 0 ..< queries {
                        var rowEntropy = 0.0
                        for k in 0 ..< keys {
                            let p = Double(all[base + q * keys + k])
                            received[k] += p
                            if p > 0 { rowEntropy -= p * log2(p) }
                        }
                        entropy += rowEntropy
                    }
                    let perWord = words.map { word in word.tokens.reduce(0) { $0 + received[$1] } / Double(max(queries, 1)) }
                    let top = perWord.indices.sorted { perWord[$0] != perWord[$1] ? perWord[$0] > perWord[$1] : $0 < $1 }
                        .prefix(topWords).map { WeightedText(labels[$0], perWord[$0]) }
                    summaries.append(HeadSummary(layer: l, head: h, entropy: entropy / Double(max(queries, 1)), top: top,
                                                 aToB: masses.map { Double($0.0[l][h]) }, bToA: masses.map { Double($0.1[l][h]) }))
                }
            }
        }
        return StackSummary(kind: kind, shape: attention.shape, heads: summaries)
    }
}
