import CGit2
import Foundation

/// What the repository is in the middle of, as `git status` would tell (`git_repository_state`).
public enum RepositoryState: String, Equatable, Sendable {
    case clean
    case merge
    case revert
    case revertSequence
    case cherryPick
    case cherryPickSequence
    case bisect
    case rebase
    case rebaseInteractive
    case rebaseMerge
    case applyMailbox
    case applyMailboxOrRebase

    init(_ value: Int32) {
        switch value {
        case Int32(GIT_REPOSITORY_STATE_MERGE.rawValue): self = .merge
        case Int32(GIT_REPOSITORY_STATE_REVERT.rawValue): self = .revert
        case Int32(GIT_REPOSITORY_STATE_REVERT_SEQUENCE.rawValue): self = .revertSequence
        case Int32(GIT_REPOSITORY_STATE_CHERRYPICK.rawValue): self = .cherryPick
        case Int32(GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE.rawValue): self = .cherryPickSequence
        case Int32(GIT_REPOSITORY_STATE_BISECT.rawValue): self = .bisect
        case Int32(GIT_REPOSITORY_STATE_REBASE.rawValue): self = .rebase
        case Int32(GIT_REPOSITORY_STATE_REBASE_INTERACTIVE.rawValue): self = .rebaseInteractive
        case Int32(GIT_REPOSITORY_STATE_REBASE_MERGE.rawValue): self = .rebaseMerge
        case Int32(GIT_REPOSITORY_STATE_APPLY_MAILBOX.rawValue): self = .applyMailbox
        case Int32(GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE.rawValue): self = .applyMailboxOrRebase
        default: self = .clean
        }
    }

    /// "a merge is in progress", for error messages.
    public var inProgress: String {
        switch self {
        case .clean: return "no operation is in progress"
        case .merge: return "a merge is in progress"
        case .revert, .revertSequence: return "a revert is in progress"
        case .cherryPick, .cherryPickSequence: return "a cherry-pick is in progress"
        case .bisect: return "a bisect is in progress"
        case .rebase, .rebaseInteractive, .rebaseMerge: return "a rebase is in progress"
        case .applyMailbox, .applyMailboxOrRebase: return "git am (or a rebase) is in progress"
        }
    }

    /// How to get out of the state.
    var wayOut: String {
        switch self {
        case .clean: return ""
        case .merge: return "finish it (git commit) or abort it (git merge --abort), then run again"
        case .revert, .revertSequence: return "finish it (git revert --continue) or abort it (git revert --abort), then run again"
        case .cherryPick, .cherryPickSequence: return "finish it (git cherry-pick --continue) or abort it (git cherry-pick --abort), then run again"
        case .bisect: return "end it with git bisect reset, then run again"
        case .rebase, .rebaseInteractive, .rebaseMerge: return "finish it (git rebase --continue) or abort it (git rebase --abort), then run again"
        case .applyMailbox, .applyMailboxOrRebase: return "finish it (git am --continue) or abort it (git am --abort), then run again"
        }
    }
}

/// One git repository with a working tree, opened through libgit2.
///
/// It deals in paths (relative to the working tree, `/`-separated) and bytes; it never runs the
/// `git` program and never checks anything out. Not for use from several threads at once.
public final class GitRepository {
    /// The libgit2 `git_repository *`, freed with the object (`package`: for the git test helpers).
    package let pointer: OpaquePointer
    /// The working tree (the folder that holds `.git`), a folder URL.
    public let workdir: URL
    /// The `.git` folder (or the git directory of a linked worktree).
    public let gitDirectory: URL

    private init(pointer: OpaquePointer, location: String) throws {
        self.pointer = pointer
        guard let workdirPath = git_repository_workdir(pointer) else {
            git_repository_free(pointer)
            throw GitError(.bareRepository, "the repository is bare (it has no working tree)", location: location,
                           hint: "snapshots need a working tree; clone it (git clone) and run there")
        }
        workdir = URL(fileURLWithPath: String(cString: workdirPath), isDirectory: true).standardizedFileURL
        gitDirectory = URL(fileURLWithPath: String(cString: git_repository_path(pointer)), isDirectory: true)
            .standardizedFileURL
    }

    deinit { git_repository_free(pointer) }

    /// The working tree's path, as it appears in error messages.
    var location: String { workdir.path }

    /// Opens the repository that contains `folder`, looking in it and then in each parent folder,
    /// like `git` does.
    ///
    /// Throws `GitError` of kind `.notARepository`, naming the folder, when there is none.
    public static func discover(from folder: URL) throws -> GitRepository {
        LibGit2.initialised
        let path = folder.standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: path) else {
            throw GitError(.notARepository, "the folder does not exist", location: path,
                           hint: "check the path")
        }
        var found = git_buf()
        defer { git_buf_dispose(&found) }
        let code = git_repository_discover(&found, path, 0, nil)
        if code == GIT_ENOTFOUND.rawValue {
            throw GitError(.notARepository, "not inside a git repository (nor is any parent folder)", location: path,
                           hint: "run it inside your project's git repository, or create one there with `git init`")
        }
        try LibGit2.check(code, "cannot look for a git repository", location: path)
        var repository: OpaquePointer?
        try LibGit2.check(git_repository_open(&repository, found.ptr), "cannot open the git repository",
                          location: path)
        guard let repository else { throw GitError(.libgit2, "cannot open the git repository", location: path) }
        return try GitRepository(pointer: repository, location: path)
    }

    /// Creates a repository with a working tree at `folder` (`git init`), creating the folder when
    /// needed. Like `git init`, on an existing repository it keeps HEAD, the index and the history.
    ///
    /// - Parameter initialBranch: the branch HEAD names before the first commit; git's
    ///   `init.defaultBranch` (or `master`) when nil.
    public static func create(at folder: URL, initialBranch: String? = nil) throws -> GitRepository {
        LibGit2.initialised
        let path = folder.standardizedFileURL.path
        var options = git_repository_init_options()
        try LibGit2.check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)),
                          "cannot prepare git init", location: path)
        options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue
        var repository: OpaquePointer?
        let code: Int32
        if let initialBranch {
            code = initialBranch.withCString { name in
                options.initial_head = name
                return git_repository_init_ext(&repository, path, &options)
            }
        } else {
            code = git_repository_init_ext(&repository, path, &options)
        }
        try LibGit2.check(code, "cannot create a git repository", location: path,
                          hint: "check that the folder is writable")
        guard let repository else { throw GitError(.libgit2, "cannot create a git repository", location: path) }
        return try GitRepository(pointer: repository, location: path)
    }

    /// What the repository is in the middle of (merge, rebase …), or `.clean`.
    public var state: RepositoryState {
        RepositoryState(git_repository_state(pointer))
    }

    /// Whether HEAD names a branch that has no commit yet (a new repository).
    public var isHeadUnborn: Bool {
        git_repository_head_unborn(pointer) == 1
    }

    /// Whether HEAD points at a commit directly rather than at a branch.
    public var isHeadDetached: Bool {
        git_repository_head_detached(pointer) == 1
    }

    /// The branch HEAD names (`main`), also when it has no commit yet; nil in detached HEAD.
    public var currentBranch: String? {
        var head: OpaquePointer?
        guard git_reference_lookup(&head, pointer, "HEAD") == 0, let head else { return nil }
        defer { git_reference_free(head) }
        guard let target = git_reference_symbolic_target(head) else { return nil }
        let name = String(cString: target)
        return name.hasPrefix("refs/heads/") ? String(name.dropFirst("refs/heads/".count)) : name
    }

    /// The commit a revision names, as a 40-digit id: `HEAD`, `HEAD~1`, a branch or tag, a full or
    /// abbreviated sha, anything `git rev-parse` understands.
    ///
    /// Returns nil for `HEAD` (or `@`) while the branch has no commit yet; throws `GitError` of
    /// kind `.unknownRevision` for anything else that names no commit.
    public func resolve(_ revision: String) throws -> String? {
        guard let commit = try lookupCommit(revision) else { return nil }
        defer { git_commit_free(commit) }
        return LibGit2.hex(git_commit_id(commit).pointee)
    }

    /// The commit object a revision names (the caller frees it); nil on an unborn HEAD.
    func lookupCommit(_ revision: String) throws -> OpaquePointer? {
        var object: OpaquePointer?
        let code = git_revparse_single(&object, pointer, revision)
        if code < 0 {
            let reason = LibGit2.lastErrorMessage()
            if isHeadUnborn && (revision == "HEAD" || revision == "@") { return nil }
            var hint = "check the name with `git log --oneline`"
            if isHeadUnborn { hint = "the repository has no commits yet" }
            else if revision.contains("~") || revision.contains("^") { hint = "the history may be shorter than that; " + hint }
            throw GitError(.unknownRevision, "unknown revision '\(revision)'", location: location,
                           reason: reason, hint: hint)
        }
        guard let object else { throw GitError(.unknownRevision, "unknown revision '\(revision)'", location: location) }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        let peeled = git_object_peel(&commit, object, GIT_OBJECT_COMMIT)
        if peeled < 0 || commit == nil {
            throw GitError(.unknownRevision, "the revision '\(revision)' is not a commit", location: location,
                           reason: LibGit2.lastErrorMessage(), hint: "give a commit, branch or tag")
        }
        return commit
    }

    /// The bytes of a blob, by its 40-digit id (as `log` returns them).
    public func blob(_ id: String) throws -> Data {
        guard var oid = LibGit2.oid(id) else {
            throw GitError(.invalidPath, "'\(id)' is not a 40-digit object id", location: location)
        }
        var blob: OpaquePointer?
        try LibGit2.check(git_blob_lookup(&blob, pointer, &oid), "cannot read the blob \(id)", location: location)
        guard let blob else { throw GitError(.libgit2, "cannot read the blob \(id)", location: location) }
        defer { git_blob_free(blob) }
        return Self.bytes(of: blob)
    }

    static func bytes(of blob: OpaquePointer) -> Data {
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let content = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: content, count: size)
    }

    /// The path of `url` relative to the working tree (`Snapshots/eminem`), for the path arguments
    /// of the other methods. Throws when `url` is outside the working tree.
    public func relativePath(of url: URL) throws -> String {
        let root = workdir.resolvingSymlinksInPath().path
        let path = url.standardizedFileURL.resolvingSymlinksInPath().path
        if path == root { return "" }
        let rootSlash = root.hasSuffix("/") ? root : root + "/"
        guard path.hasPrefix(rootSlash) else {
            throw GitError(.invalidPath, "'\(url.path)' is outside the repository's working tree", location: location,
                           hint: "snapshots must live inside the repository")
        }
        return try RepositoryPath.normalise(String(path.dropFirst(rootSlash.count)), location: location)
    }
}
