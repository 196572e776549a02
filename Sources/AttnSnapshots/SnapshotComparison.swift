import AttnCore
import AttnDiff
import Foundation

/// How far a re-run may move from its snapshot and still pass.
public struct SnapshotTolerances: Sendable, Equatable {
    /// Absolute difference of an output (similarity, a probability).
    public var output: Double
    /// Largest absolute difference of one attention weight in a head. Snapshots keep attention in
    /// float16 (about 3 decimal digits), so less than 5e-4 means nothing.
    public var attention: Double
    /// Mean over query tokens of the Jensen–Shannon divergence (bits) of a head's attention rows.
    public var jsDivergence: Double

    public init(output: Double = 1e-4, attention: Double = 1e-3, jsDivergence: Double = 1e-3) {
        self.output = output
        self.attention = attention
        self.jsDivergence = jsDivergence
    }
}

/// An output that moved beyond the tolerance (or appeared, or went away).
public struct OutputChange: Sendable, Equatable {
    /// `similarity`, `p(paraphrase)`, `p(she)`.
    public var name: String
    public var old: Double?
    public var new: Double?

    public var delta: Double? { old.flatMap { old in new.map { $0 - old } } }
}

/// An expectation whose result differs between the snapshots (or that only one of them has).
public struct ExpectationChange: Sendable, Equatable {
    public var line: Int
    public var expectation: String
    public var old: ExpectationRecord?
    public var new: ExpectationRecord?
}

/// The strongest change of one weight in a head, read word by word.
public struct WordWeightChange: Sendable, Equatable {
    /// The attending word (`terrific`, or `sick→terrific` when the word itself changed).
    public var from: String
    /// The attended word.
    public var to: String
    public var old: Double
    public var new: Double
}

/// A head whose attention moved beyond the tolerances.
public struct HeadDrift: Sendable, Equatable {
    public var stack: StackKind
    public var layer: Int
    public var head: Int
    /// Largest absolute difference of one weight; nil when the tokens differ (then heads are
    /// compared through their words only).
    public var maxAbsDifference: Double?
    /// Mean over query tokens (or shared words) of the Jensen–Shannon divergence of their rows, in bits.
    public var jsDivergence: Double
    /// Change in the attention mass between sentences A and B (pairs, encoder only).
    public var massChange: Double?
    /// Where the head moved most.
    public var strongest: WordWeightChange?
}

/// One variant compared between two sets of snapshots.
public struct VariantComparison: Sendable {
    public enum Status: String, Sendable, Equatable {
        /// Same bytes.
        case identical
        /// The files differ, but every number is within the tolerances.
        case withinTolerance = "within tolerance"
        /// Outputs, labels, expectation results, tokens or attention moved.
        case drifted
        /// Only in the new snapshots.
        case added
        /// Only in the old snapshots.
        case removed
    }

    /// `model/input/variant`.
    public var key: String
    public var old: VariantSnapshot?
    public var new: VariantSnapshot?
    public var status: Status
    public var outputChanges: [OutputChange] = []
    /// The label before and after, when it changed.
    public var labelChange: (old: String?, new: String?)?
    public var expectationChanges: [ExpectationChange] = []
    /// How the tokens changed (`sick → terrific`, `12 tokens → 13`), empty when they are the same.
    public var tokenChanges: [String] = []
    /// Heads compared (all stacks).
    public var headCount = 0
    /// Heads beyond the tolerances, most moved first.
    public var driftedHeads: [HeadDrift] = []
    /// Words whose attention moved most (encoder), when heads drifted.
    public var movedWords: [WordDelta] = []
    /// Other problems (an attention file missing or of another shape, another intervention).
    public var problems: [String] = []
    /// Words whose attribution score moved beyond the output tolerance.
    public var attributionChanges: [AttributionChange] = []

    public var model: String { (new ?? old)?.model ?? key.components(separatedBy: "/").first ?? "" }
    /// `input/variant`.
    public var path: String { (new ?? old)?.path ?? key.components(separatedBy: "/").dropFirst().joined(separator: "/") }
}

/// Two sets of snapshots of one experiment compared.
public struct ExperimentComparison: Sendable {
    public var name: String
    public var tolerances: SnapshotTolerances
    public var old: ExperimentSnapshot?
    public var new: ExperimentSnapshot?
    public var variants: [VariantComparison]
    /// The scans, compared cell by cell.
    public var scans: [ScanComparison] = []
    /// Changes of what the snapshots were made from (weights, tokenizer, experiment file, attnlab).
    public var notes: [String]
    /// Files that belong to no variant, in the old and new snapshots.
    public var strayFiles: (old: [String], new: [String])
    /// A suite's comparison (rates, flips, outputs), when either side is a suite.
    public var suite: SuiteComparison?

    /// True when something beyond the tolerances differs: a variant drifted, was added or removed,
    /// `experiment.json` is missing on one side, or stray files are there.
    public var hasDrift: Bool {
        variants.contains { [.drifted, .added, .removed].contains($0.status) } || (old == nil) != (new == nil)
            || scans.contains { [.drifted, .added, .removed].contains($0.status) }
            || !strayFiles.old.isEmpty || !strayFiles.new.isEmpty
            || unmatchedExpectationsChanged || (suite?.hasDrift ?? false) || (old?.suite == nil) != (new?.suite == nil)
    }

    /// True when the files are byte for byte the same.
    public var isIdentical: Bool {
        variants.allSatisfy { $0.status == .identical } && scans.allSatisfy { $0.status == .identical } && old == new
            && strayFiles.old == strayFiles.new && (suite.map { !$0.hasDrift } ?? true) && suiteFilesEqual
    }

    /// The suite's outputs files are the same bytes (set by the comparer).
    var suiteFilesEqual = true

    var unmatchedExpectationsChanged: Bool {
        (old?.unmatchedExpectations.map(\.key) ?? []) != (new?.unmatchedExpectations.map(\.key) ?? [])
            || (old?.unmatchedExpectations.map(\.passed) ?? []) != (new?.unmatchedExpectations.map(\.passed) ?? [])
    }
}

/// Compares two sets of snapshots of one experiment: outputs within a tolerance, labels and
/// expectation results equal, tokens equal, and every head's attention within the tolerances.
public enum SnapshotComparer {
    /// Compares `old` (the recorded snapshots, or revision A) with `new` (a re-run, or revision B).
    /// Either may be nil (no snapshots there).
    public static func compare(old: StoredSnapshots?, new: StoredSnapshots?, tolerances: SnapshotTolerances = .init()) throws -> ExperimentComparison {
        let name = new?.name ?? old?.name ?? ""
        // The new snapshots' order, then the variants they no longer have.
        let newKeys = new?.orderedKeys ?? []
        let keys = newKeys + (old?.orderedKeys ?? []).filter { !newKeys.contains($0) }
        var variants: [VariantComparison] = []
        for key in keys {
            variants.append(try compare(key: key, old: old?.variants[key], new: new?.variants[key], tolerances: tolerances))
        }
        var comparison = ExperimentComparison(name: name, tolerances: tolerances, old: old?.experiment, new: new?.experiment,
                                              variants: variants, notes: notes(old?.experiment, new?.experiment),
                                              strayFiles: (old?.strayFiles ?? [], new?.strayFiles ?? []))
        if old?.experiment?.suite != nil || new?.experiment?.suite != nil {
            comparison.suite = SuiteComparison.compare(old: old, new: new, tolerance: tolerances.output)
            let names = Set((old?.experiment?.models ?? []).map(\.name) + (new?.experiment?.models ?? []).map(\.name))
            comparison.suiteFilesEqual = names.allSatisfy { name in
                old?.files[name + SnapshotBuilder.outputsSuffix] == new?.files[name + SnapshotBuilder.outputsSuffix]
            }
        }
        let newScans = new?.orderedScanKeys ?? []
        for key in newScans + (old?.orderedScanKeys ?? []).filter({ !newScans.contains($0) }) {
            let path = key + ScanSnapshot.suffix
            comparison.scans.append(compareScan(key: key, old: old?.scans[key], new: new?.scans[key], oldData: old?.files[path],
                                                newData: new?.files[path], tolerances: tolerances))
        }
        return comparison
    }

    /// What changed in what the snapshots were made from.
    static func notes(_ old: ExperimentSnapshot?, _ new: ExperimentSnapshot?) -> [String] {
        guard let old, let new else { return [] }
        var notes: [String] = []
        if old.hash != new.hash {
            notes.append("the experiment file changed (sha256 \(old.hash.prefix(12)) → \(new.hash.prefix(12)))")
        }
        for model in new.models {
            guard let before = old.models.first(where: { $0.name == model.name }) else {
                notes.append("model \(model.name) (\(model.id)) is new")
                continue
            }
            if before.id != model.id { notes.append("model \(model.name) is now \(model.id) (was \(before.id))") }
            if before.weightsHash != model.weightsHash {
                notes.append("the weights of \(model.name) changed (sha256 \(before.weightsHash.prefix(12)) → \(model.weightsHash.prefix(12)))")
            }
            if before.tokenizerHash != model.tokenizerHash {
                notes.append("the tokenizer of \(model.name) changed (sha256 \(before.tokenizerHash.prefix(12)) → \(model.tokenizerHash.prefix(12)))")
            }
        }
        for model in old.models where !new.models.contains(where: { $0.name == model.name }) {
            notes.append("model \(model.name) (\(model.id)) was removed")
        }
        if old.attnlabVersion != new.attnlabVersion {
            notes.append("recorded with attnlab \(old.attnlabVersion), now \(new.attnlabVersion)")
        }
        return notes
    }

    // MARK: one variant

    static func compare(key: String, old: StoredVariant?, new: StoredVariant?, tolerances: SnapshotTolerances) throws -> VariantComparison {
        guard let old else { return VariantComparison(key: key, old: nil, new: new?.snapshot, status: .added) }
        guard let new else { return VariantComparison(key: key, old: old.snapshot, new: nil, status: .removed) }
        var result = VariantComparison(key: key, old: old.snapshot, new: new.snapshot, status: .identical)
        if old.json == new.json && old.attention == new.attention { return result }

        let (a, b) = (old.snapshot, new.snapshot)
        result.outputChanges = outputChanges(a.outputs, b.outputs, tolerance: tolerances.output)
        if a.label != b.label { result.labelChange = (a.label, b.label) }
        result.expectationChanges = expectationChanges(a.expectations, b.expectations)
        if a.text != b.text {
            result.tokenChanges.append(textChange(a.text, b.text))
        }
        if a.intervention != b.intervention {
            result.problems.append("the intervention changed: \(a.intervention ?? "none") → \(b.intervention ?? "none")")
        }
        result.attributionChanges = attributionChanges(a.attribution, b.attribution, tolerance: tolerances.output)

        switch (old.attention, new.attention) {
        case (nil, nil):
            result.problems.append("both snapshots lack their attention file")
        case (nil, _):
            result.problems.append("the recorded snapshot has no attention file (\(old.attentionLocation))")
        case (_, nil):
            result.problems.append("the new snapshot has no attention file (\(new.attentionLocation))")
        default:
            let traceA = try old.trace(), traceB = try new.trace()
            try compareAttention(traceA, traceB, tolerances: tolerances, into: &result)
        }

        let drifted = !result.outputChanges.isEmpty || result.labelChange != nil || !result.expectationChanges.isEmpty
            || !result.tokenChanges.isEmpty || !result.driftedHeads.isEmpty || !result.problems.isEmpty || !result.attributionChanges.isEmpty
        result.status = drifted ? .drifted : .withinTolerance
        return result
    }

    static func textChange(_ a: TraceInputs, _ b: TraceInputs) -> String {
        var parts: [String] = []
        if a.a != b.a { parts.append("sentence A \"\(a.a)\" → \"\(b.a)\"") }
        if a.b != b.b { parts.append("sentence B \"\(a.b ?? "")\" → \"\(b.b ?? "")\"") }
        if a.decoder != b.decoder { parts.append("decoder text \"\(a.decoder ?? "")\" → \"\(b.decoder ?? "")\"") }
        return "the input changed: " + parts.joined(separator: "; ")
    }

    static func outputChanges(_ a: SnapshotOutputs, _ b: SnapshotOutputs, tolerance: Double) -> [OutputChange] {
        var changes: [OutputChange] = []
        func compare(_ name: String, _ x: Double?, _ y: Double?) {
            switch (x, y) {
            case (nil, nil): return
            case let (x?, y?) where abs(x - y) <= tolerance: return
            default: changes.append(OutputChange(name: name, old: x, new: y))
            }
        }
        compare("similarity", a.similarity, b.similarity)
        if a.labels == b.labels {
            let labels = a.labels ?? []
            let count = max(a.probabilities?.count ?? 0, b.probabilities?.count ?? 0)
            for index in 0 ..< count {
                let name = index < labels.count ? "p(\(labels[index]))" : "p(class \(index))"
                compare(name, a.probabilities?[safe: index], b.probabilities?[safe: index])
            }
        } else {
            changes.append(OutputChange(name: "labels [\((a.labels ?? []).joined(separator: ", "))] → [\((b.labels ?? []).joined(separator: ", "))]",
                                        old: nil, new: nil))
        }
        // Top-k predictions: a token's probability on both sides; a token only in one list counts
        // from the other list's weakest candidate, so that tokens swapping places at the bottom of
        // the list within the tolerance do not count.
        let predictionsA = a.topk ?? [], predictionsB = b.topk ?? []
        let positions = (predictionsA.map(\.position) + predictionsB.map(\.position)).uniqued()
        for position in positions {
            let x = predictionsA.first { $0.position == position }, y = predictionsB.first { $0.position == position }
            let suffix = positions.count > 1 ? " at token \(position)" : ""
            guard let x, let y else {
                changes.append(OutputChange(name: "predictions\(suffix)", old: x == nil ? nil : 1, new: y == nil ? nil : 1))
                continue
            }
            let listA = x.candidates + (x.watched ?? []), listB = y.candidates + (y.watched ?? [])
            let floorA = x.candidates.map(\.weight).min() ?? 0, floorB = y.candidates.map(\.weight).min() ?? 0
            for token in (listA.map(\.text) + listB.map(\.text)).uniqued() {
                let pA = listA.first { $0.text == token }?.weight, pB = listB.first { $0.text == token }?.weight
                switch (pA, pB) {
                case let (pA?, pB?): compare("p(\(token))\(suffix)", pA, pB)
                case let (pA?, nil) where pA - floorB > tolerance: changes.append(OutputChange(name: "p(\(token))\(suffix)", old: pA, new: nil))
                case let (nil, pB?) where pB - floorA > tolerance: changes.append(OutputChange(name: "p(\(token))\(suffix)", old: nil, new: pB))
                default: break
                }
            }
        }
        return changes
    }

    static func expectationChanges(_ a: [ExpectationRecord], _ b: [ExpectationRecord]) -> [ExpectationChange] {
        var changes: [ExpectationChange] = []
        let keys = (a.map(\.key) + b.map(\.key)).uniqued()
        for key in keys {
            let x = a.first { $0.key == key }, y = b.first { $0.key == key }
            guard x?.passed != y?.passed || x == nil || y == nil else { continue }
            let any = (y ?? x)!
            changes.append(ExpectationChange(line: any.line, expectation: any.expectation, old: x, new: y))
        }
        return changes
    }

    // MARK: attention

    static func compareAttention(_ a: Trace, _ b: Trace, tolerances: SnapshotTolerances, into result: inout VariantComparison) throws {
        let sameTokens = a.tokens.map(\.text) == b.tokens.map(\.text) && a.tokens.map(\.segment) == b.tokens.map(\.segment)
            && (a.decoderTokens ?? []).map(\.text) == (b.decoderTokens ?? []).map(\.text)
        if !sameTokens {
            result.tokenChanges.append(contentsOf: tokenChanges(a, b))
        }
        let alignment = WordAlignment(a, b)
        for kind in Set(a.stacks.keys).union(b.stacks.keys).sorted() {
            guard let stackA = a.stacks[kind], let stackB = b.stacks[kind] else {
                result.problems.append("the \(kind.rawValue) attention is only in the \(a.stacks[kind] == nil ? "new" : "recorded") snapshot")
                continue
            }
            let shapeA = stackA.attention.shape, shapeB = stackB.attention.shape
            guard shapeA[0] == shapeB[0], shapeA[1] == shapeB[1] else {
                result.problems.append("the \(kind.rawValue) attention has \(shapeA[0])×\(shapeA[1]) heads recorded and \(shapeB[0])×\(shapeB[1]) now")
                continue
            }
            result.headCount += shapeA[0] * shapeA[1]
            if shapeA == shapeB && sameTokens {
                result.driftedHeads += headDrifts(kind, stackA.attention, stackB.attention, a: a, b: b,
                                                  alignment: kind == .encoder ? alignment : nil, tolerances: tolerances)
            } else if kind == .encoder {
                // Different tokens: compare word by word (the diff engine's alignment).
                let diff = try TraceDiff.compare(a, b)
                for head in diff.heads where head.jsDivergence > tolerances.jsDivergence {
                    var drift = HeadDrift(stack: kind, layer: head.layer, head: head.head, maxAbsDifference: nil,
                                          jsDivergence: head.jsDivergence, massChange: head.massChange)
                    drift.strongest = strongestWordChange(alignment, stackA.attention, stackB.attention, layer: head.layer, head: head.head)
                    result.driftedHeads.append(drift)
                }
            } else {
                result.problems.append("the \(kind.rawValue) attention has other tokens; its heads cannot be compared")
            }
        }
        result.driftedHeads.sort {
            ($0.jsDivergence, $0.maxAbsDifference ?? 0, -$0.layer, -$0.head) > ($1.jsDivergence, $1.maxAbsDifference ?? 0, -$1.layer, -$1.head)
        }
        if !result.driftedHeads.isEmpty, a.stacks[.encoder] != nil, b.stacks[.encoder] != nil,
           let diff = try? TraceDiff.compare(a, b) {
            result.movedWords = diff.words.prefix(5).map { word in
                var word = word
                if a.isPair { word.text = TraceWord(segment: word.segment, text: word.text, tokens: [], special: false).label(inPair: true) }
                return word
            }
        }
    }

    /// Heads of one stack (same tokens on both sides) beyond the tolerances.
    static func headDrifts(_ kind: StackKind, _ x: Tensor, _ y: Tensor, a: Trace, b: Trace, alignment: WordAlignment?,
                           tolerances: SnapshotTolerances) -> [HeadDrift] {
        let (layers, heads, queries, keys) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let massChange = kind == .encoder ? CrossSentenceAttention.massChange(a, b) : nil
        var drifts: [HeadDrift] = []
        x.withUnsafeBufferPointer { p in
            y.withUnsafeBufferPointer { q in
                for l in 0 ..< layers {
                    for h in 0 ..< heads {
                        let base = (l * heads + h) * queries * keys
                        var maxAbs = 0.0, js = 0.0
                        var strongestIndex = base
                        for row in 0 ..< queries {
                            let start = base + row * keys
                            for k in 0 ..< keys {
                                let difference = abs(Double(p[start + k]) - Double(q[start + k]))
                                if difference > maxAbs { maxAbs = difference; strongestIndex = start + k }
                            }
                            js += TraceDiff.rowDivergence(p[start ..< start + keys], q[start ..< start + keys])
                        }
                        js /= Double(max(queries, 1))
                        guard maxAbs > tolerances.attention || js > tolerances.jsDivergence else { continue }
                        var drift = HeadDrift(stack: kind, layer: l, head: h, maxAbsDifference: maxAbs, jsDivergence: js)
                        drift.massChange = massChange?[l][h]
                        if let alignment {
                            drift.strongest = strongestWordChange(alignment, x, y, layer: l, head: h)
                        } else {
                            let row = (strongestIndex - base) / keys, column = (strongestIndex - base) % keys
                            let queryTokens = a.queryTokens(kind), keyTokens = a.keyTokens(kind)
                            drift.strongest = WordWeightChange(from: queryTokens[safe: row]?.text ?? "\(row)", to: keyTokens[safe: column]?.text ?? "\(column)",
                                                               old: Double(p[strongestIndex]), new: Double(q[strongestIndex]))
                        }
                        drifts.append(drift)
                    }
                }
            }
        }
        return drifts
    }

    /// The word-to-word weight of one encoder head that changed most (rows: mean over a word's
    /// tokens, columns: sum over them, over the words both traces share).
    static func strongestWordChange(_ alignment: WordAlignment, _ x: Tensor, _ y: Tensor, layer: Int, head: Int) -> WordWeightChange? {
        guard let wordsA = try? alignment.wordMatrix(TraceDiff.headMatrix(x, layer: layer, head: head), side: .a),
              let wordsB = try? alignment.wordMatrix(TraceDiff.headMatrix(y, layer: layer, head: head), side: .b) else { return nil }
        let common = alignment.commonPairs
        let n = common.count
        guard n > 0 else { return nil }
        var best = 0, bestDifference = -1.0
        for index in 0 ..< n * n {
            let difference = abs(Double(wordsA.scalars[index]) - Double(wordsB.scalars[index]))
            if difference > bestDifference { (best, bestDifference) = (index, difference) }
        }
        // In a pair, a word is named with its sentence (`B:eminem`), as the snapshot files name it.
        let isPair = (alignment.wordsA + alignment.wordsB).contains { $0.segment == 1 }
        func name(_ pair: WordAlignment.Pair) -> String {
            let left = alignment.wordsA[pair.a!].label(inPair: isPair), right = alignment.wordsB[pair.b!].text
            return pair.status == .changed ? "\(left)→\(right)" : left
        }
        return WordWeightChange(from: name(common[best / n]), to: name(common[best % n]),
                                old: Double(wordsA.scalars[best]), new: Double(wordsB.scalars[best]))
    }

    static func tokenChanges(_ a: Trace, _ b: Trace) -> [String] {
        let alignment = WordAlignment(a, b)
        var changes: [String] = []
        for pair in alignment.pairs where pair.status != .matched {
            let left = pair.a.map { alignment.wordsA[$0].text }, right = pair.b.map { alignment.wordsB[$0].text }
            changes.append("word \(left.map { "\"\($0)\"" } ?? "∅") → \(right.map { "\"\($0)\"" } ?? "∅")")
        }
        // Same words, other pieces: the tokenizer changed.
        for pair in alignment.pairs where pair.status == .matched {
            let left = alignment.wordsA[pair.a!], right = alignment.wordsB[pair.b!]
            let piecesA = left.tokens.map { a.tokens[$0].text }, piecesB = right.tokens.map { b.tokens[$0].text }
            if piecesA != piecesB {
                changes.append("\"\(left.text)\" is tokenized [\(piecesB.joined(separator: " "))], was [\(piecesA.joined(separator: " "))]")
            }
        }
        if changes.isEmpty { changes.append("\(a.tokens.count) tokens → \(b.tokens.count)") }
        return changes
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
