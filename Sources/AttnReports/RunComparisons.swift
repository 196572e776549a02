import AttnDiff
import AttnExperiments
import Foundation

/// Every perturbed variant of a run with its base and what changed between them, computed once
/// (on every core) for the views, the figures and the report.
public struct RunComparisons: Sendable {
    public struct Comparison: Sendable {
        public var base: ExpectationEvaluator.Subject
        public var variant: ExpectationEvaluator.Subject
        public var diff: TraceDiff
    }

    /// In the order of the run's variants.
    public let all: [Comparison]

    public init(_ subjects: [ExpectationEvaluator.Subject]) throws {
        let pairs = subjects.filter { !$0.variant.isBase }.compactMap { subject in
            subjects.base(of: subject).map { (base: $0, variant: subject) }
        }
        var diffs = [Result<TraceDiff, Error>](repeating: .failure(CancellationError()), count: pairs.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: pairs.count) { index in
            let diff = Result { try TraceDiff.compare(pairs[index].base.trace, pairs[index].variant.trace) }
            lock.withLock { diffs[index] = diff }
        }
        all = try zip(pairs, diffs).map { Comparison(base: $0.base, variant: $0.variant, diff: try $1.get()) }
    }

    /// The comparison of a perturbed variant with its base; nil for a base variant.
    public func of(_ subject: ExpectationEvaluator.Subject) -> Comparison? {
        all.first { $0.variant.model == subject.model && $0.variant.variant.path == subject.variant.path }
    }
}
