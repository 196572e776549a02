import AttnCore
import AttnDiff
import Foundation

/// What changed between a variant and the variant it is compared with (its base, or the variant an
/// intervention changes), kept with the variant's record: the heads that moved most, the words
/// that differ, the words whose attention moved most. The report draws the variants that changed
/// most from it; a compact run keeps these heads' attention.
public struct ChangeSummary: Codable, Sendable, Equatable {
    /// A word of the base and its counterpart in the variant (nil where one has none).
    public struct WordChange: Codable, Sendable, Equatable {
        public var a: String?
        public var b: String?
    }

    /// The variant compared with (`input/variant`).
    public var base: String
    /// The heads that changed most, most first.
    public var heads: [HeadDelta]
    public var changedWords: [WordChange]
    /// The words whose attention moved most, most first.
    public var words: [WordDelta]

    /// Heads kept per change (the report shows three; `capture: {most_changed: N}` keeps N).
    static func headsKept(_ storage: TraceStorage) -> Int { max(3, storage.attention == .needed ? storage.mostChanged : 0) }

    public init(base: String, diff: TraceDiff, heads: Int, words: Int = 5) {
        self.base = base
        self.heads = Array(diff.heads.prefix(heads))
        changedWords = diff.changedWords.map { WordChange(a: $0.a, b: $0.b) }
        self.words = Array(diff.words.prefix(words))
    }

    /// The largest divergence of a head: how much the variant changed.
    public var divergence: Double { heads.first?.jsDivergence ?? 0 }

    enum CodingKeys: String, CodingKey {
        case base, heads, words
        case changedWords = "changed_words"
    }
}

/// Per-head summaries of a variant whose trace keeps less than every head: the mean entropy of
/// each head's rows (bits) and, for a pair, the attention mass from sentence A to B and from B to
/// A, layer by layer, head by head (`[layer * heads + head]`), rounded to 4 decimals.
public struct HeadSummaries: Codable, Sendable, Equatable {
    public var stack: StackKind
    public var layers: Int
    public var heads: Int
    public var entropy: [Double]
    public var aToB: [Double]?
    public var bToA: [Double]?

    enum CodingKeys: String, CodingKey {
        case stack, layers, heads, entropy
        case aToB = "a_to_b", bToA = "b_to_a"
    }

    static func round(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }

    /// The summaries of every stack of `trace`.
    public static func of(_ trace: Trace) -> [HeadSummaries] {
        trace.stacks.keys.sorted().compactMap { kind in
            guard let stack = trace.stacks[kind] else { return nil }
            let (layers, heads, queries, keys) = (stack.layerCount, stack.headCount, stack.attention.shape[2], stack.attention.shape[3])
            var entropy: [Double] = []
            entropy.reserveCapacity(layers * heads)
            stack.attention.withUnsafeBufferPointer { all in
                for index in 0 ..< layers * heads {
                    var total = 0.0
                    for q in 0 ..< queries {
                        for k in 0 ..< keys {
                            let p = Double(all[(index * queries + q) * keys + k])
                            if p > 0 { total -= p * log2(p) }
                        }
                    }
                    entropy.append(round(total / Double(max(queries, 1))))
                }
            }
            var summary = HeadSummaries(stack: kind, layers: layers, heads: heads, entropy: entropy)
            if kind == .encoder, trace.isPair {
                summary.aToB = CrossSentenceAttention.mass(trace, from: 0, to: 1).flatMap { $0 }.map { round(Double($0)) }
                summary.bToA = CrossSentenceAttention.mass(trace, from: 1, to: 0).flatMap { $0 }.map { round(Double($0)) }
            }
            return summary
        }
    }
}

/// A file written for a variant (a view or a figure), relative to the run folder.
public struct ArtifactLink: Codable, Sendable, Equatable {
    /// `head`, `model`, `compare`, `heatmap`, …
    public var kind: String
    public var path: String

    public init(kind: String, path: String) {
        self.kind = kind
        self.path = path
    }
}

/// One variant with what it is compared with and their diff, as the views and figures of a run
/// need it, handed to `RunOptions.artifacts` while the trace is in memory.
public struct VariantArtifacts: Sendable {
    /// The run's folder (the staging folder, renamed into place when the run is whole).
    public var folder: URL
    public var subject: ExpectationEvaluator.Subject
    /// Its base (or the variant its intervention changes), with their diff; nil for a base.
    public var base: ExpectationEvaluator.Subject?
    public var diff: TraceDiff?
}

/// A scan with the traces of its target and source, handed to `RunOptions.scanArtifacts` while
/// they are in memory (the scan view draws their heads).
public struct ScanArtifacts: Sendable {
    /// The run's folder (the staging folder, renamed into place when the run is whole).
    public var folder: URL
    public var record: Manifest.ScanRecord
    public var target: Trace
    public var source: Trace?
}
