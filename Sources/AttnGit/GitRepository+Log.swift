import CGit2
import Foundation

/// One file a commit changed: its blob before and after (nil when it did not exist), to read
/// with `GitRepository.blob(_:)`.
public struct FileChange: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable { case added, modified, deleted }

    /// Relative to the working tree.
    public var path: String
    public var oldBlob: String?
    public var newBlob: String?

    public init(path: String, oldBlob: String?, newBlob: String?) {
        self.path = path
        self.oldBlob = oldBlob
        self.newBlob = newBlob
    }

    /// Added, deleted, or modified (content or mode).
    public var kind: Kind {
        if oldBlob == nil { return .added }
        if newBlob == nil { return .deleted }
        return .modified
    }
}

/// A commit, as `log` lists it.
public struct CommitInfo: Equatable, Sendable {
    /// The 40-digit id.
    public var id: String
    public var parents: [String]
    public var author: Signature
    public var committer: Signature
    /// The whole message, as written.
    public var message: String
    /// The message's first paragraph on one line, as `git log --oneline` shows it.
    public var summary: String
    /// The files under the logged prefix that this commit changed (against its first parent),
    /// sorted by path.
    public var changes: [FileChange]
}

extension GitRepository {
    /// The commits that changed something under `prefix`, newest first, from `revision` back,
    /// with what each changed there.
    ///
    /// A commit counts when the content under `prefix` differs from its parent's (for a merge,
    /// from every parent's: a merge that only brings in a side's change is not listed, the side's
    /// commit is). Empty before the first commit.
    ///
    /// - Parameter limit: at most this many commits.
    public func log(touching prefix: String, from revision: String = "HEAD", limit: Int? = nil) throws -> [CommitInfo] {
        let prefix = try RepositoryPath.normalise(prefix, location: location)
        guard let start = try lookupCommit(revision) else { return [] }
        var startID = git_commit_id(start).pointee
        git_commit_free(start)
        if let limit, limit <= 0 { return [] }

        var walk: OpaquePointer?
        try LibGit2.check(git_revwalk_new(&walk, pointer), "cannot walk the history", location: location)
        guard let walk else { return [] }
        defer { git_revwalk_free(walk) }
        try LibGit2.check(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue),
                          "cannot walk the history", location: location)
        try LibGit2.check(git_revwalk_push(walk, &startID), "cannot walk the history from \(revision)", location: location)

        // What each commit has at `prefix`, so that each commit's tree is read once.
        var entryIDs: [String: git_oid?] = [:]
        func entryID(_ commit: OpaquePointer) throws -> git_oid? {
            let key = LibGit2.hex(git_commit_id(commit).pointee)
            if let known = entryIDs[key] { return known }
            let found = try self.entryID(of: commit, at: prefix)
            entryIDs[key] = .some(found)
            return found
        }
        func same(_ a: git_oid?, _ b: git_oid?) -> Bool {
            switch (a, b) {
            case (nil, nil): return true
            case let (a?, b?): return LibGit2.equal(a, b)
            default: return false
            }
        }

        var result: [CommitInfo] = []
        var oid = git_oid()
        while true {
            let next = git_revwalk_next(&oid, walk)
            if next == GIT_ITEROVER.rawValue { break }
            try LibGit2.check(next, "cannot walk the history from \(revision)", location: location)
            var commit: OpaquePointer?
            try LibGit2.check(git_commit_lookup(&commit, pointer, &oid), "cannot read commit \(LibGit2.hex(oid))",
                              location: location)
            guard let commit else { continue }
            defer { git_commit_free(commit) }

            let own = try entryID(commit)
            var parentEntries: [git_oid?] = []
            var parentIDs: [String] = []
            for index in 0 ..< git_commit_parentcount(commit) {
                var parent: OpaquePointer?
                try LibGit2.check(git_commit_parent(&parent, commit, index), "cannot read a parent of commit \(LibGit2.hex(oid))",
                                  location: location)
                guard let parent else { continue }
                defer { git_commit_free(parent) }
                parentIDs.append(LibGit2.hex(git_commit_id(parent).pointee))
                parentEntries.append(try entryID(parent))
            }
            let changed = parentEntries.isEmpty ? own != nil : parentEntries.allSatisfy { !same($0, own) }
            guard changed else { continue }

            let before = try parentEntries.first.flatMap { $0 }.map { try treeFiles(ofTree: $0, path: prefix) } ?? [:]
            let after = try own.map { try treeFiles(ofTree: $0, path: prefix) } ?? [:]
            let changes = Set(before.keys).union(after.keys).sorted().compactMap { path -> FileChange? in
                let old = before[path], new = after[path]
                guard old != new else { return nil }
                return FileChange(path: path, oldBlob: old.map { LibGit2.hex($0.blob) },
                                  newBlob: new.map { LibGit2.hex($0.blob) })
            }
            result.append(CommitInfo(
                id: LibGit2.hex(oid),
                parents: parentIDs,
                author: Signature(git_commit_author(commit).pointee),
                committer: Signature(git_commit_committer(commit).pointee),
                message: git_commit_message(commit).map { String(cString: $0) } ?? "",
                summary: git_commit_summary(commit).map { String(cString: $0) } ?? "",
                changes: changes))
            if let limit, result.count >= limit { break }
        }
        return result
    }
}

extension GitRepository {
    /// The commit a revision names, with its author, date and message (`changes` empty); nil for
    /// `HEAD` before the first commit.
    public func commitInfo(_ revision: String) throws -> CommitInfo? {
        guard let commit = try lookupCommit(revision) else { return nil }
        defer { git_commit_free(commit) }
        var parents: [String] = []
        for index in 0 ..< git_commit_parentcount(commit) {
            if let id = git_commit_parent_id(commit, index) { parents.append(LibGit2.hex(id.pointee)) }
        }
        return CommitInfo(id: LibGit2.hex(git_commit_id(commit).pointee), parents: parents,
                          author: Signature(git_commit_author(commit).pointee),
                          committer: Signature(git_commit_committer(commit).pointee),
                          message: git_commit_message(commit).map { String(cString: $0) } ?? "",
                          summary: git_commit_summary(commit).map { String(cString: $0) } ?? "",
                          changes: [])
    }
}
