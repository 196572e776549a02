import AttnGit
import Foundation

/// One commit that changed an experiment's snapshots, with what changed.
public struct SnapshotLogEntry: Sendable {
    public var commit: CommitInfo
    /// The snapshots of the commit's first parent against the commit's, restricted to the asked
    /// variants.
    public var comparison: ExperimentComparison
    /// What changed, in one line (`eminem/terrific: similarity 0.8088 → 0.7743, 12 heads drifted`).
    public var summary: String
}

extension SnapshotWorkspace {
    /// The commits that changed an experiment's snapshots (or some of its variants), newest first,
    /// each with a summary of what moved.
    ///
    /// - Parameters:
    ///   - variant: `input/variant` or `model/input/variant`; nil for all.
    ///   - limit: at most this many commits.
    public func log(_ experiment: String, variant: String? = nil, from revision: String = "HEAD", limit: Int? = nil,
                    tolerances: SnapshotTolerances = .init()) throws -> [SnapshotLogEntry] {
        let repository = try requireRepository(for: "snapshot log")
        let relative = relativeFolder(experiment)
        func wanted(_ key: String) -> Bool {
            guard let variant else { return true }
            return key == variant || key.hasSuffix("/" + variant)
        }
        var entries: [SnapshotLogEntry] = []
        for commit in try repository.log(touching: relative, from: revision) {
            let keys = Set(commit.changes.compactMap { change -> String? in
                let inside = String(change.path.dropFirst(relative.count + 1))
                for suffix in [".json", ".safetensors"] where inside.hasSuffix(suffix) && inside != "experiment.json" {
                    return String(inside.dropLast(suffix.count))
                }
                return nil
            })
            if variant != nil, !keys.contains(where: wanted) { continue }
            let old = try commit.parents.first.flatMap { try snapshots(experiment, at: $0) }
            let new = try snapshots(experiment, at: commit.id)
            var comparison = try SnapshotComparer.compare(old: old, new: new, tolerances: tolerances)
            if variant != nil { comparison.variants = comparison.variants.filter { wanted($0.key) } }
            entries.append(SnapshotLogEntry(commit: commit, comparison: comparison, summary: DriftReport.summary(comparison)))
            if let limit, entries.count >= limit { break }
        }
        return entries
    }
}
