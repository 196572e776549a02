import CGit2
import Foundation

/// Who made a commit, and when.
public struct Signature: Equatable, Sendable {
    public var name: String
    public var email: String
    /// Git keeps whole seconds.
    public var date: Date
    /// The author's time zone, in minutes east of UTC.
    public var timeZoneOffsetMinutes: Int

    public init(name: String, email: String, date: Date = Date(),
                timeZoneOffsetMinutes: Int? = nil) {
        self.name = name
        self.email = email
        self.date = date
        self.timeZoneOffsetMinutes = timeZoneOffsetMinutes ?? TimeZone.current.secondsFromGMT(for: date) / 60
    }

    init(_ signature: git_signature) {
        name = signature.name.map { String(cString: $0) } ?? ""
        email = signature.email.map { String(cString: $0) } ?? ""
        date = Date(timeIntervalSince1970: TimeInterval(signature.when.time))
        timeZoneOffsetMinutes = Int(signature.when.offset)
    }
}

extension GitRepository {
    /// Commits exactly `paths` (relative to the working tree, normally all under one snapshot
    /// folder) with their current working-tree content, or their removal when the file is gone,
    /// and moves HEAD (its branch, or HEAD itself when detached) to the new commit.
    ///
    /// Everything else stays as it was: the new tree is HEAD's tree with only those paths
    /// replaced, every other index entry is kept as it was (the user's staged changes stay staged)
    /// and no working-tree file is written. Afterwards the index agrees with the new commit for
    /// `paths`, as after `git add` and `git commit`.
    ///
    /// Works before the first commit (the branch HEAD names is created), on a branch and in
    /// detached HEAD. Refuses while a merge, rebase, cherry-pick, revert or bisect is in progress,
    /// and when another git process holds the index lock.
    ///
    /// - Parameters:
    ///   - author: who and when; when nil, `GIT_AUTHOR_NAME`/`GIT_AUTHOR_EMAIL`, then git's
    ///     `user.name`/`user.email`. The committer is `GIT_COMMITTER_NAME`/`EMAIL`, then git's
    ///     configuration, then the author.
    /// - Returns: the new commit's id, or nil (no commit) when the tree would not change.
    public func commit(paths: [String], message: String, author: Signature? = nil) throws -> String? {
        let paths = Array(Set(try paths.map { try RepositoryPath.normalise($0, location: location) })).sorted()
        if let empty = paths.first(where: \.isEmpty) {
            throw GitError(.invalidPath, "'\(empty)' names the whole working tree, not a file", location: location,
                           hint: "give the paths of the files to commit")
        }
        guard !paths.isEmpty else { return nil }
        try refuseUnlessClean()

        let head = try lookupCommit("HEAD")
        defer { if let head { git_commit_free(head) } }
        let headTree = try head.map { try tree(of: $0) }
        defer { if let headTree { git_tree_free(headTree) } }

        var index: OpaquePointer?
        try LibGit2.check(git_repository_index(&index, pointer), "cannot open the index", location: location)
        guard let index else { throw GitError(.libgit2, "cannot open the index", location: location) }
        defer { git_index_free(index) }
        // Start from the index file as it is now, not from anything cached in memory.
        try LibGit2.check(git_index_read(index, 1), "cannot read the index", location: location)

        var committed: [String: TreeFile] = [:]  // what HEAD has for each path
        var staged: [String: TreeFile] = [:]     // what the index had before
        for path in paths {
            if let headTree { committed[path] = try treeFile(in: headTree, at: path) }
            staged[path] = Self.indexFile(index, path)
        }

        // Stage the paths in the real index (in memory until written), as `git add` would: with
        // the filters, modes and stat data git uses, so that `git status` shows them clean.
        do {
            for path in paths { try stage(path, in: index) }
        } catch {
            _ = git_index_read(index, 1)
            throw error
        }
        var updated: [String: TreeFile] = [:]
        for path in paths { updated[path] = Self.indexFile(index, path) }

        guard updated != committed else {
            // Nothing to commit. The index is written only if it disagreed with HEAD for those
            // paths (a forced record over staged edits); otherwise it is left exactly as it was.
            if updated != staged {
                try LibGit2.check(git_index_write(index), "cannot write the index", location: location)
            } else {
                _ = git_index_read(index, 1)
            }
            return nil
        }

        let commitID: git_oid
        do {
            let treeID = try buildTree(from: headTree, replacing: paths, with: index)
            commitID = try createCommit(tree: treeID, parent: head, message: message, author: author)
        } catch {
            _ = git_index_read(index, 1)
            throw error
        }
        let id = LibGit2.hex(commitID)
        let code = git_index_write(index)
        if code < 0 {
            throw LibGit2.error(code, "the commit \(id) was made, but the index could not be updated for \(paths.joined(separator: ", "))",
                                location: location,
                                hint: "`git status` will show them as changed; run `git reset -q -- \(paths.joined(separator: " "))` to make it agree")
        }
        return id
    }

    /// Commits every change under `prefix` (staged, unstaged, new and deleted files; ignored files
    /// left out) as `commit(paths:)` does. Returns nil when nothing under it changed.
    public func commitChanges(under prefix: String, message: String, author: Signature? = nil) throws -> String? {
        let prefix = try RepositoryPath.normalise(prefix, location: location)
        let paths = try fileStatus(under: prefix).keys.sorted()
        guard !paths.isEmpty else { return nil }
        return try commit(paths: paths, message: message, author: author)
    }

    /// Throws what `commit(paths:)` would throw before touching anything: a merge, rebase or
    /// similar in progress, a locked index, or no author identity. For callers that write files
    /// before committing them (`snapshot record --commit`), so that they refuse before writing.
    public func checkReadyToCommit(author: Signature? = nil) throws {
        try refuseUnlessClean()
        let (authorSignature, committerSignature) = try signatures(author: author)
        git_signature_free(authorSignature)
        git_signature_free(committerSignature)
    }

    // MARK: - Steps

    /// Throws unless no merge, rebase or similar is in progress and the index is not locked.
    func refuseUnlessClean() throws {
        let state = self.state
        guard state == .clean else {
            throw GitError(.operationInProgress(state), "cannot commit: \(state.inProgress)", location: location,
                           hint: state.wayOut)
        }
        let lock = gitDirectory.appendingPathComponent("index.lock").path
        if FileManager.default.fileExists(atPath: lock) {
            throw GitError(.locked, "cannot commit: the index is locked (\(lock) exists)", location: location,
                           hint: "another git process seems to be running; wait for it to finish, or remove the file if none is")
        }
    }

    /// `git add path` (or `git rm --cached path` when the file is gone) on `index`, in memory.
    private func stage(_ path: String, in index: OpaquePointer) throws {
        let url = workdir.appendingPathComponent(path)
        var info = stat()
        if lstat(url.path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR {
                throw GitError(.invalidPath, "'\(path)' is a folder, not a file", location: location,
                               hint: "give the paths of the files to commit (or use commitChanges(under:))")
            }
            try LibGit2.check(git_index_add_bypath(index, path), "cannot add '\(path)' to the index", location: location)
        } else {
            try LibGit2.check(git_index_remove_bypath(index, path), "cannot remove '\(path)' from the index",
                              location: location)
        }
    }

    /// What the index has for `path` (stage 0), if anything.
    static func indexFile(_ index: OpaquePointer, _ path: String) -> TreeFile? {
        guard let entry = git_index_get_bypath(index, path, 0)?.pointee else { return nil }
        return TreeFile(blob: entry.id, mode: entry.mode)
    }

    /// What `tree` has at `path`, when it is a file.
    func treeFile(in tree: OpaquePointer, at path: String) throws -> TreeFile? {
        var entry: OpaquePointer?
        let code = git_tree_entry_bypath(&entry, tree, path)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try LibGit2.check(code, "cannot read '\(path)' in HEAD's tree", location: location)
        guard let entry else { return nil }
        defer { git_tree_entry_free(entry) }
        guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else { return nil }
        return TreeFile(blob: git_tree_entry_id(entry).pointee, mode: UInt32(git_tree_entry_filemode(entry).rawValue))
    }

    /// Writes the tree that is `base` (or empty) with `paths` as `staged` has them, through an
    /// index that lives only in memory, and returns its id.
    private func buildTree(from base: OpaquePointer?, replacing paths: [String], with staged: OpaquePointer) throws -> git_oid {
        var scratch: OpaquePointer?
        try LibGit2.check(git_index_new(&scratch), "cannot create an index in memory", location: location)
        guard let scratch else { throw GitError(.libgit2, "cannot create an index in memory", location: location) }
        defer { git_index_free(scratch) }
        if let base {
            try LibGit2.check(git_index_read_tree(scratch, base), "cannot read HEAD's tree", location: location)
        }
        for path in paths {
            if let entry = git_index_get_bypath(staged, path, 0) {
                try LibGit2.check(git_index_add(scratch, entry), "cannot add '\(path)' to the new tree", location: location)
            } else if git_index_get_bypath(scratch, path, 0) != nil {
                try LibGit2.check(git_index_remove(scratch, path, 0), "cannot remove '\(path)' from the new tree",
                                  location: location)
            }
        }
        var treeID = git_oid()
        try LibGit2.check(git_index_write_tree_to(&treeID, scratch, pointer), "cannot write the new tree", location: location)
        return treeID
    }

    /// Creates the commit and moves HEAD (through its branch, if any) to it. libgit2 refuses when
    /// HEAD moved since `parent` was read.
    private func createCommit(tree treeID: git_oid, parent: OpaquePointer?, message: String,
                              author: Signature?) throws -> git_oid {
        var treeID = treeID
        var tree: OpaquePointer?
        try LibGit2.check(git_tree_lookup(&tree, pointer, &treeID), "cannot read the new tree", location: location)
        guard let tree else { throw GitError(.libgit2, "cannot read the new tree", location: location) }
        defer { git_tree_free(tree) }

        let (authorSignature, committerSignature) = try signatures(author: author)
        defer {
            git_signature_free(authorSignature)
            git_signature_free(committerSignature)
        }
        var text = git_buf()
        defer { git_buf_dispose(&text) }
        try LibGit2.check(git_message_prettify(&text, message, 0, CChar(UInt8(ascii: "#"))),
                          "cannot prepare the commit message", location: location)
        guard let cleaned = text.ptr, text.size > 0 else {
            throw GitError(.libgit2, "the commit message is empty", location: location, hint: "give a message")
        }

        var commitID = git_oid()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        let code = parents.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(&commitID, pointer, "HEAD", authorSignature, committerSignature, nil, cleaned,
                              tree, buffer.count, buffer.baseAddress)
        }
        try LibGit2.check(code, "cannot create the commit", location: location)
        return commitID
    }

    /// The author and committer signatures (the caller frees both).
    private func signatures(author: Signature?) throws -> (UnsafeMutablePointer<git_signature>, UnsafeMutablePointer<git_signature>) {
        let environment = ProcessInfo.processInfo.environment
        func fromEnvironment(_ role: String) -> Signature? {
            guard let name = environment["GIT_\(role)_NAME"], let email = environment["GIT_\(role)_EMAIL"],
                  !name.isEmpty, !email.isEmpty else { return nil }
            return Signature(name: name, email: email)
        }
        func configured() -> Signature? {
            var signature: UnsafeMutablePointer<git_signature>?
            guard git_signature_default(&signature, pointer) == 0, let signature else { return nil }
            defer { git_signature_free(signature) }
            var now = Signature(signature.pointee)
            now.date = Date()
            return now
        }
        guard let author = author ?? fromEnvironment("AUTHOR") ?? configured() else {
            throw GitError(.missingIdentity, "no author for the commit: git's user.name and user.email are not set",
                           location: location,
                           hint: "set them with `git config user.name \"Your Name\"` and `git config user.email you@example.com`")
        }
        let committer = fromEnvironment("COMMITTER") ?? configured() ?? author
        let authorSignature = try makeSignature(author)
        do {
            return (authorSignature, try makeSignature(committer))
        } catch {
            git_signature_free(authorSignature)
            throw error
        }
    }

    private func makeSignature(_ signature: Signature) throws -> UnsafeMutablePointer<git_signature> {
        var made: UnsafeMutablePointer<git_signature>?
        let seconds = git_time_t(signature.date.timeIntervalSince1970.rounded(.down))
        try LibGit2.check(git_signature_new(&made, signature.name, signature.email, seconds,
                                            Int32(signature.timeZoneOffsetMinutes)),
                          "invalid name or email '\(signature.name) <\(signature.email)>'", location: location,
                          hint: "a name and an email without '<', '>' or line breaks")
        guard let made else { throw GitError(.libgit2, "cannot make a signature", location: location) }
        return made
    }
}
