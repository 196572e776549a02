import AttnCore
import Foundation

// The snapshot of a suite (an experiment over inputs files or templates), under
// `Snapshots/<experiment>/`:
//
//   experiment.json           what was run, and each expectation's failures (per model and per
//                             perturbation): the rates `snapshot check` compares
//   <model>.outputs.jsonl     one line per variant in run order: its outputs (rounded), label, and
//                             the lines of the expectations it failed
//
// No attention is kept: a suite of 100,000 variants is a few megabytes of text that `git diff`
// reads line by line.

/// Failures of one model or one perturbation under an expectation, as recorded.
public struct SuiteCount: Sendable, Equatable, Decodable {
    public var name: String
    public var checked: Int
    public var failed: Int

    public init(name: String, checked: Int, failed: Int) {
        (self.name, self.checked, self.failed) = (name, checked, failed)
    }

    public var rate: Double { checked == 0 ? 0 : Double(failed) / Double(checked) }

    func json() -> SnapshotJSON {
        .line([("name", .string(name)), ("checked", .int(checked)), ("failed", .int(failed))])
    }
}

/// One expectation of a suite over every variant it names.
public struct SuiteExpectation: Sendable, Equatable, Decodable {
    public var line: Int
    public var expectation: String
    /// The variants it names (`*/syn-*`).
    public var variant: String
    public var model: String?
    /// The failures allowed (`5%`, `3`); nil: none.
    public var allowed: String?
    public var checked: Int
    public var failed: Int
    public var passed: Bool
    public var byModel: [SuiteCount]
    public var byPerturbation: [SuiteCount]

    public init(line: Int, expectation: String, variant: String, model: String?, allowed: String?, checked: Int, failed: Int,
                passed: Bool, byModel: [SuiteCount], byPerturbation: [SuiteCount]) {
        (self.line, self.expectation, self.variant, self.model, self.allowed) = (line, expectation, variant, model, allowed)
        (self.checked, self.failed, self.passed, self.byModel, self.byPerturbation) = (checked, failed, passed, byModel, byPerturbation)
    }

    /// How an expectation is recognised between two snapshots.
    public var key: String { "\(line): \(expectation) on \(variant)" + (model.map { " [\($0)]" } ?? "") }
    public var rate: Double { checked == 0 ? 0 : Double(failed) / Double(checked) }

    enum CodingKeys: String, CodingKey {
        case line, expectation = "expected", variant, model, allowed, checked, failed, passed
        case byModel = "by_model", byPerturbation = "by_perturbation"
    }

    func json() -> SnapshotJSON {
        .object([
            ("line", .int(line)), ("expected", .string(expectation)), ("variant", .string(variant)),
            ("model", model.map(SnapshotJSON.string)), ("allowed", allowed.map(SnapshotJSON.string)),
            ("checked", .int(checked)), ("failed", .int(failed)), ("passed", .bool(passed)),
            ("by_model", .array(byModel.map { $0.json() }, inline: false)),
            ("by_perturbation", .array(byPerturbation.map { $0.json() }, inline: false)),
        ])
    }
}

/// One variant of a suite: a line of `<model>.outputs.jsonl`.
public struct SuiteOutput: Sendable, Equatable {
    public var model: String
    /// `input/variant`.
    public var variant: String
    /// The perturbation as written (`synonyms`); nil for the base.
    public var perturbation: String?
    public var outputs: SnapshotOutputs
    public var label: String?
    /// The lines of the expectations it failed.
    public var failed: [Int]

    public init(model: String, variant: String, perturbation: String?, outputs: SnapshotOutputs, label: String?, failed: [Int]) {
        (self.model, self.variant, self.perturbation, self.outputs, self.label, self.failed) = (model, variant, perturbation, outputs, label, failed)
    }

    /// `model input/variant`.
    public var key: String { "\(model) \(variant)" }

    /// The line (without the model, which names the file).
    func json() -> SnapshotJSON {
        var members: [(String, SnapshotJSON?)] = [("variant", .string(variant)), ("perturbation", perturbation.map(SnapshotJSON.string))]
        members.append(("similarity", outputs.similarity.map { .fixed($0, outputDecimals) }))
        members.append(("labels", outputs.labels.map { .array($0.map(SnapshotJSON.string), inline: true) }))
        members.append(("probabilities", outputs.probabilities.map { .array($0.map { .fixed($0, outputDecimals) }, inline: true) }))
        members.append(("topk", outputs.topk.map { predictions in
            .array(predictions.map { prediction in
                .line([("position", .int(prediction.position)),
                       ("candidates", .array(prediction.candidates.map { $0.json(outputDecimals) }, inline: true)),
                       ("watched", prediction.watched.map { .array($0.map { $0.json(outputDecimals) }, inline: true) })])
            }, inline: true)
        }))
        members.append(("label", label.map(SnapshotJSON.string)))
        members.append(("failed", failed.isEmpty ? nil : .array(failed.map(SnapshotJSON.int), inline: true)))
        return .line(members)
    }

    struct Line: Decodable {
        var variant: String
        var perturbation: String?
        var similarity: Double?
        var labels: [String]?
        var probabilities: [Double]?
        var topk: [SnapshotOutputs.Prediction]?
        var label: String?
        var failed: [Int]?
    }

    /// Reads `<model>.outputs.jsonl`.
    static func read(_ data: Data, model: String, location: String) throws -> [SuiteOutput] {
        var outputs: [SuiteOutput] = []
        let decoder = JSONDecoder()
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: true).enumerated() {
            let value: Line
            do {
                value = try decoder.decode(Line.self, from: Data(line))
            } catch {
                throw SnapshotError("line \(index + 1) is not a suite output: \(TraceFile.describe(error))", location: location,
                                    hint: "record the snapshots again with `attnlab snapshot record`")
            }
            outputs.append(SuiteOutput(model: model, variant: value.variant, perturbation: value.perturbation,
                                       outputs: SnapshotOutputs(similarity: value.similarity, labels: value.labels,
                                                                probabilities: value.probabilities, topk: value.topk),
                                       label: value.label, failed: value.failed ?? []))
        }
        return outputs
    }
}

extension SnapshotBuilder {
    /// The suffix of a suite's outputs files.
    public static let outputsSuffix = ".outputs.jsonl"

    /// The snapshot files of a suite: `experiment.json` with the expectations' failures, and one
    /// outputs file per model, a line per variant in run order.
    public static func suiteFiles(experiment: ExperimentSnapshot, outputs: [SuiteOutput]) throws -> ExperimentSnapshotFiles {
        var experiment = experiment
        experiment.variants = []
        if experiment.suite == nil { experiment.suite = [] }
        var byModel: [String: String] = [:]
        var seen: Set<String> = []
        for output in outputs {
            guard seen.insert(output.key).inserted else {
                throw SnapshotError("two variants are named \(output.variant) on model \(output.model)", location: experiment.file,
                                    hint: "give the inputs and perturbations distinct names")
            }
            byModel[output.model, default: ""] += output.json().text()
        }
        var files: [String: Data] = ["experiment.json": experiment.json().data()]
        for model in experiment.models.map(\.name) {
            files[model + outputsSuffix] = Data((byModel[model] ?? "").utf8)
        }
        return ExperimentSnapshotFiles(name: experiment.name, files: files)
    }
}

/// Two snapshots of a suite compared: failure rates that moved, variants that flipped (their label
/// or the expectations they fail changed), outputs that moved beyond the tolerance without
/// flipping, and variants only one side has.
public struct SuiteComparison: Sendable {
    public struct RateChange: Sendable {
        public var old: SuiteExpectation?
        public var new: SuiteExpectation?
        public var key: String { (new ?? old)?.key ?? "" }
    }

    public struct Flip: Sendable {
        public var old: SuiteOutput
        public var new: SuiteOutput
        public var key: String { new.key }
    }

    public struct Move: Sendable {
        public var old: SuiteOutput
        public var new: SuiteOutput
        public var changes: [OutputChange]
        /// The largest change.
        public var size: Double { changes.compactMap { $0.delta.map(abs) }.max() ?? 0 }
    }

    public var expectations: Int
    public var rateChanges: [RateChange]
    public var flips: [Flip]
    /// Outputs beyond the tolerance without a flip, largest first.
    public var moves: [Move]
    public var added: [SuiteOutput]
    public var removed: [SuiteOutput]
    /// Variants compared (on both sides).
    public var compared: Int

    public var hasDrift: Bool { !rateChanges.isEmpty || !flips.isEmpty || !moves.isEmpty || !added.isEmpty || !removed.isEmpty }

    static func compare(old: StoredSnapshots?, new: StoredSnapshots?, tolerance: Double) -> SuiteComparison {
        let oldRates = old?.experiment?.suite ?? [], newRates = new?.experiment?.suite ?? []
        var rateChanges: [RateChange] = []
        for rate in newRates {
            let before = oldRates.first { $0.key == rate.key }
            if before != rate { rateChanges.append(RateChange(old: before, new: rate)) }
        }
        for rate in oldRates where !newRates.contains(where: { $0.key == rate.key }) { rateChanges.append(RateChange(old: rate, new: nil)) }

        let oldOutputs = Dictionary((old?.suiteOutputs ?? []).map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let newKeys = Set((new?.suiteOutputs ?? []).map(\.key))
        var flips: [Flip] = [], moves: [Move] = [], added: [SuiteOutput] = []
        var compared = 0
        for output in new?.suiteOutputs ?? [] {
            guard let before = oldOutputs[output.key] else { added.append(output); continue }
            compared += 1
            if before.label != output.label || before.failed != output.failed {
                flips.append(Flip(old: before, new: output))
                continue
            }
            let changes = SnapshotComparer.outputChanges(before.outputs, output.outputs, tolerance: tolerance)
            if !changes.isEmpty { moves.append(Move(old: before, new: output, changes: changes)) }
        }
        let removed = (old?.suiteOutputs ?? []).filter { !newKeys.contains($0.key) }
        moves.sort { $0.size > $1.size }
        return SuiteComparison(expectations: newRates.count, rateChanges: rateChanges, flips: flips, moves: moves, added: added,
                               removed: removed, compared: compared)
    }
}
