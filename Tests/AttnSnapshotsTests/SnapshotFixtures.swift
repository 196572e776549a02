import AttnCore
import Foundation
@testable import AttnSnapshots

/// Hand-made traces and snapshot files for the tests that need no model.
enum Fixtures {
    static let a = "the tune was awesome"
    static let b = "that song was sick"

    /// A sentence pair traced by a made-up 2-layer, 2-head model: tokens with words and spans, and
    /// attention rows that are softmaxes of a fixed pattern. `boost` adds to one head's logits from
    /// one query token to one key token: a drift confined to that head.
    static func trace(a: String = a, b: String? = b, similarity: Double = 0.68,
                      boost: (layer: Int, head: Int, query: Int, key: Int, by: Float)? = nil) -> Trace {
        var tokens = [TraceToken(text: "[CLS]", id: 101, segment: 0, special: true)]
        func add(_ sentence: String, segment: Int) {
            for (index, word) in sentence.split(separator: " ").enumerated() {
                let start = sentence.distance(from: sentence.startIndex, to: word.startIndex)
                tokens.append(TraceToken(text: String(word), id: 1000 + index + 10 * segment, start: start, end: start + word.count,
                                         word: index, segment: segment))
            }
            tokens.append(TraceToken(text: "[SEP]", id: 102, segment: segment, special: true))
        }
        add(a, segment: 0)
        if let b { add(b, segment: 1) }
        let n = tokens.count, layers = 2, heads = 2
        var scalars = [Float](repeating: 0, count: layers * heads * n * n)
        for l in 0 ..< layers {
            for h in 0 ..< heads {
                for q in 0 ..< n {
                    var logits = (0 ..< n).map { k in Float(sin(Double(l * 7 + h * 3 + q * 5 + k * 11) * 0.37) * 2) + (k == q ? 1 : 0) }
                    if let boost, boost.layer == l, boost.head == h, boost.query == q { logits[boost.key] += boost.by }
                    let top = logits.max()!
                    let exps = logits.map { exp($0 - top) }
                    let total = exps.reduce(0, +)
                    for k in 0 ..< n { scalars[((l * heads + h) * n + q) * n + k] = exps[k] / total }
                }
            }
        }
        return Trace(inputs: TraceInputs(a: a, b: b), tokens: tokens,
                     stacks: [.encoder: AttentionStack(attention: Tensor(shape: [layers, heads, n, n], scalars: scalars))],
                     outputs: TraceOutputs(similarity: similarity),
                     provenance: Provenance(model: "made-up", architecture: "bert", weightsHash: "w1", tokenizerHash: "t1", task: "similarity"))
    }

    /// One variant of the made-up experiment.
    struct Variant {
        var name: String
        var trace: Trace
        var label: String?
        var expectations: [ExpectationRecord] = []
        var perturbation: String? = nil
    }

    /// The snapshot files of an experiment `name` with one model `toy` and one input `pair`.
    static func files(_ name: String = "toy-experiment", variants: [Variant], weightsHash: String = "w1",
                      experimentHash: String = "e1") throws -> ExperimentSnapshotFiles {
        let experiment = ExperimentSnapshot(
            attnlabVersion: AttnLab.version, name: name, description: "a made-up experiment", file: "Experiments/\(name).yaml",
            hash: experimentHash,
            models: [.init(name: "toy", id: "made-up", architecture: "bert", task: "similarity", layers: 2, heads: 2,
                           weightsHash: weightsHash, tokenizerHash: "t1")],
            variants: [], unmatchedExpectations: [])
        return try SnapshotBuilder.files(experiment: experiment, subjects: variants.map {
            SnapshotBuilder.Subject(model: "toy", input: "pair", variant: $0.name, perturbation: $0.perturbation, trace: $0.trace,
                                    label: $0.label, expectations: $0.expectations)
        })
    }

    /// The usual two variants: the base `sick` and `terrific`.
    static func standard(similarity: Double = 0.68, terrificSimilarity: Double = 0.81, boost: (layer: Int, head: Int, query: Int, key: Int, by: Float)? = nil,
                         terrificPasses: Bool = true, weightsHash: String = "w1") throws -> ExperimentSnapshotFiles {
        try files(variants: [
            Variant(name: "sick", trace: trace(similarity: similarity), label: "not-paraphrase",
                    expectations: [ExpectationRecord(line: 20, expectation: "label is not-paraphrase", passed: true, measured: "label not-paraphrase")]),
            Variant(name: "terrific", trace: trace(b: "that song was terrific", similarity: terrificSimilarity, boost: boost),
                    label: terrificSimilarity >= 0.75 ? "paraphrase" : "not-paraphrase",
                    expectations: [ExpectationRecord(line: 22, expectation: "label is paraphrase", passed: terrificPasses,
                                                     measured: "label \(terrificSimilarity >= 0.75 ? "paraphrase" : "not-paraphrase")")],
                    perturbation: "replace \"sick\" → \"terrific\" in b"),
        ], weightsHash: weightsHash)
    }

    /// Snapshot files read back as stored snapshots.
    static func stored(_ files: ExperimentSnapshotFiles, revision: String? = nil) throws -> StoredSnapshots {
        try StoredSnapshots(name: files.name, files: files.files, folder: "Snapshots/\(files.name)", revision: revision)
    }
}
