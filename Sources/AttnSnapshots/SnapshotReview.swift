import AttnCore
import AttnGit
import Foundation

/// One side of a review: a revision, the working tree, or nothing (before the first commit).
public enum ReviewSide: Sendable, Equatable, CustomStringConvertible {
    case revision(String)
    case workingTree
    /// No snapshots at all: the parent of the first commit.
    case nothing

    /// Reads `working-tree` (or `worktree`) as the working tree, anything else as a revision.
    public init(parsing text: String) {
        self = ["working-tree", "worktree", "WORKTREE"].contains(text) ? .workingTree : .revision(text)
    }

    public var description: String {
        switch self {
        case .revision(let revision): revision
        case .workingTree: "working tree"
        case .nothing: "no snapshots"
        }
    }
}

/// Two revisions' snapshots, experiment by experiment, ready to render.
public struct SnapshotReview: Sendable {
    /// One experiment on both sides.
    public struct Experiment: Sendable {
        public var name: String
        public var old: StoredSnapshots?
        public var new: StoredSnapshots?
        public var comparison: ExperimentComparison

        public init(name: String, old: StoredSnapshots?, new: StoredSnapshots?, comparison: ExperimentComparison) {
            (self.name, self.old, self.new, self.comparison) = (name, old, new, comparison)
        }
    }

    public var a: ReviewSide
    public var b: ReviewSide
    /// The commits the sides name (nil for the working tree and for nothing).
    public var commitA: CommitInfo?
    public var commitB: CommitInfo?
    public var experiments: [Experiment]

    public init(a: ReviewSide, b: ReviewSide, commitA: CommitInfo? = nil, commitB: CommitInfo? = nil, experiments: [Experiment]) {
        (self.a, self.b, self.commitA, self.commitB, self.experiments) = (a, b, commitA, commitB, experiments)
    }
}

extension SnapshotWorkspace {
    /// The sides `attnlab review` compares when none is given: HEAD and the working tree when the
    /// working tree has uncommitted changes under `Snapshots/` (what you are about to commit), and
    /// otherwise HEAD~1 and HEAD (what the last commit did). Before the first commit: nothing and
    /// the working tree; with a single commit: nothing and HEAD.
    public func defaultReviewSides() throws -> (ReviewSide, ReviewSide) {
        let repository = try requireRepository(for: "review")
        if repository.isHeadUnborn { return (.nothing, .workingTree) }
        if !(try repository.fileStatus(under: Self.folderName)).isEmpty { return (.revision("HEAD"), .workingTree) }
        let head = try repository.commitInfo("HEAD")
        return (head?.parents.isEmpty ?? true) ? (.nothing, .revision("HEAD")) : (.revision("HEAD~1"), .revision("HEAD"))
    }

    /// Reads both sides' snapshots (from git's objects for revisions: nothing is checked out) and
    /// compares them, for one experiment or for every experiment either side has.
    /// True when `name` is an experiment with snapshots in the working tree or at HEAD.
    public func isExperiment(_ name: String) throws -> Bool {
        try knownExperiments().contains(name)
    }

    /// The error for a review argument that is neither a revision nor an experiment: one line that
    /// says both, so that a mistyped revision is not taken for a missing experiment.
    public func unknownReviewArgument(_ argument: String) throws -> Error {
        let known = try knownExperiments()
        return SnapshotError("\(JSONText.quote(argument)) is neither a revision git knows nor an experiment with snapshots",
                             location: root.path,
                             hint: "give a branch, a tag, a commit or HEAD~N, and an experiment"
                                 + (known.isEmpty ? " once its snapshots are recorded" : " among \(known.joined(separator: ", "))"))
    }

    private func knownExperiments() throws -> [String] {
        let head = (try? repository?.resolve("HEAD")) ?? nil
        return (try experimentNames(at: nil) + (head == nil ? [] : try experimentNames(at: "HEAD"))).uniqued().sorted()
    }

    public func review(_ a: ReviewSide, _ b: ReviewSide, experiment: String? = nil,
                       tolerances: SnapshotTolerances = .init()) throws -> SnapshotReview {
        let repository = try requireRepository(for: "review")
        func commit(_ side: ReviewSide) throws -> CommitInfo? {
            guard case .revision(let revision) = side else { return nil }
            guard let info = try repository.commitInfo(revision) else {
                throw GitError(.unknownRevision, "'\(revision)' names no commit yet: the repository has no commits", location: root.path,
                               hint: "review the working tree against nothing: attnlab review with no revisions")
            }
            return info
        }
        let commitA = try commit(a), commitB = try commit(b)
        func names(_ side: ReviewSide) throws -> [String] {
            switch side {
            case .revision(let revision): return try experimentNames(at: revision)
            case .workingTree: return try experimentNames(at: nil)
            case .nothing: return []
            }
        }
        func read(_ name: String, _ side: ReviewSide) throws -> StoredSnapshots? {
            switch side {
            case .revision(let revision): return try snapshots(name, at: revision)
            case .workingTree: return try workingTreeSnapshots(name)
            case .nothing: return nil
            }
        }
        let all = try experiment.map { [$0] } ?? (names(a) + names(b)).uniqued().sorted()
        var experiments: [SnapshotReview.Experiment] = []
        for name in all {
            let old = try read(name, a), new = try read(name, b)
            if old == nil && new == nil && experiment != nil {
                throw SnapshotError("neither \(a) nor \(b) has snapshots of \(name)", location: relativeFolder(name),
                                    hint: "record them with `attnlab snapshot record EXPERIMENT`, or name another experiment")
            }
            experiments.append(.init(name: name, old: old, new: new,
                                     comparison: try SnapshotComparer.compare(old: old, new: new, tolerances: tolerances)))
        }
        return SnapshotReview(a: a, b: b, commitA: commitA, commitB: commitB, experiments: experiments)
    }
}
