import AttnCore
import Foundation

/// Folds a run's records and expectation results, in run order, into what the manifest keeps:
/// one summary per expectation (failures per model and per perturbation, the worst failures),
/// counts, and the variants that changed most. The same results in the same order give the same
/// summaries, so a merged run's manifest is the unsharded run's.
struct RunTally {
    /// Failures listed per expectation, worst first.
    static let worstKept = 10
    /// An expectation that checked at most this many variants lists every result.
    static let resultsListed = 5
    /// Variants the report draws (those that changed most).
    static let comparisonsKept = 24

    /// What the tally needs to know of an expectation.
    struct Expectation {
        var line: Int
        var text: String
        var variant: String
        var model: String?
        var allowance: FailureAllowance?
        /// Said when it checked nothing.
        var problem: String

        init(_ spec: ExpectationSpec) {
            line = spec.line
            text = ExpectationEvaluator.describe(spec.check)
            variant = spec.variant
            model = spec.model
            allowance = spec.allowance
            switch spec.check {
            case .scanTop(let scan, _, _), .scanCell(let scan, _, _, _, _): problem = "scan \(scan) did not run"
            default: problem = "no variant is named \(spec.variant) (did the perturbation apply to the input?)"
            }
        }

        init(_ summary: Manifest.ExpectationSummary) {
            line = summary.line
            text = summary.expectation
            variant = summary.variant
            model = summary.model
            allowance = summary.allowed
            problem = summary.problem ?? "no variant is named \(summary.variant) (did the perturbation apply to the input?)"
        }
    }

    private let expectations: [Expectation]
    private let models: [String]
    private var checked: [Int]
    private var failed: [Int]
    private var byModel: [[String: (checked: Int, failed: Int)]]
    private var byPerturbation: [[String: (checked: Int, failed: Int)]]
    private var worst: [[(order: Int, result: Manifest.ExpectationResult)]]
    private var firstResults: [[Manifest.ExpectationResult]]
    private var order = 0
    private(set) var variants = 0
    private(set) var results = 0
    private var comparisons: [(order: Int, reference: Manifest.ComparisonReference)] = []

    init(expectations: [Expectation], models: [String]) {
        self.expectations = expectations
        self.models = models
        let count = expectations.count
        checked = Array(repeating: 0, count: count)
        failed = Array(repeating: 0, count: count)
        byModel = Array(repeating: [:], count: count)
        byPerturbation = Array(repeating: [:], count: count)
        worst = Array(repeating: [], count: count)
        firstResults = Array(repeating: [], count: count)
    }

    mutating func add(_ record: Manifest.VariantRecord) {
        variants += 1
        order += 1
        guard let change = record.change else { return }
        let reference = Manifest.ComparisonReference(model: record.model, variant: record.variant.path, base: change.base,
                                                     divergence: change.divergence)
        let entry = (order: order, reference: reference)
        func before(_ a: (order: Int, reference: Manifest.ComparisonReference), _ b: (order: Int, reference: Manifest.ComparisonReference)) -> Bool {
            a.reference.divergence != b.reference.divergence ? a.reference.divergence > b.reference.divergence : a.order < b.order
        }
        if comparisons.count == Self.comparisonsKept, let last = comparisons.last, !before(entry, last) { return }
        let at = comparisons.firstIndex { before(entry, $0) } ?? comparisons.count
        comparisons.insert(entry, at: at)
        if comparisons.count > Self.comparisonsKept { comparisons.removeLast() }
    }

    mutating func add(_ result: Manifest.ExpectationResult) {
        order += 1
        results += 1
        let index = result.index
        guard expectations.indices.contains(index) else { return }
        checked[index] += 1
        byModel[index][result.model, default: (0, 0)].checked += 1
        byPerturbation[index][result.perturbation, default: (0, 0)].checked += 1
        if firstResults[index].count < Self.resultsListed + 1 { firstResults[index].append(result) }
        guard !result.passed else { return }
        failed[index] += 1
        byModel[index][result.model, default: (0, 0)].failed += 1
        byPerturbation[index][result.perturbation, default: (0, 0)].failed += 1
        // Worst first: failures that could not be measured, then by margin, then in run order.
        let entry = (order: order, result: result)
        func before(_ a: (order: Int, result: Manifest.ExpectationResult), _ b: (order: Int, result: Manifest.ExpectationResult)) -> Bool {
            let x = a.result.margin ?? .infinity, y = b.result.margin ?? .infinity
            return x != y ? x > y : a.order < b.order
        }
        var list = worst[index]
        if list.count == Self.worstKept, let last = list.last, !before(entry, last) { return }
        list.insert(entry, at: list.firstIndex { before(entry, $0) } ?? list.count)
        if list.count > Self.worstKept { list.removeLast() }
        worst[index] = list
    }

    /// The summaries, in the experiment file's order.
    func summaries() -> [Manifest.ExpectationSummary] {
        expectations.enumerated().map { index, expectation in
            let perModel = models.compactMap { name in byModel[index][name].map { Manifest.RateCount(name: name, checked: $0.checked, failed: $0.failed) } }
            let perPerturbation = byPerturbation[index].map { Manifest.RateCount(name: $0.key, checked: $0.value.checked, failed: $0.value.failed) }
                .sorted { ($0.failed, $0.rate) != ($1.failed, $1.rate) ? ($0.failed, $0.rate) > ($1.failed, $1.rate) : $0.name < $1.name }
            let allowance = expectation.allowance ?? .count(0)
            let passed = checked[index] > 0 && perModel.allSatisfy { allowance.allows(failed: $0.failed, of: $0.checked) }
            return Manifest.ExpectationSummary(
                index: index, line: expectation.line, expectation: expectation.text, variant: expectation.variant,
                model: expectation.model, allowed: expectation.allowance, checked: checked[index], failed: failed[index], passed: passed,
                byModel: perModel, byPerturbation: perPerturbation, worst: worst[index].map(\.result),
                results: checked[index] <= Self.resultsListed ? firstResults[index] : nil,
                problem: checked[index] == 0 ? expectation.problem : nil)
        }
    }

    /// The variants that changed most, most first.
    var mostChanged: [Manifest.ComparisonReference] { comparisons.map(\.reference) }
}
