import CGit2
import Foundation

/// How a path differs from the last commit, in the index (staged) and in the working tree
/// (unstaged), as `git status` reports it.
public struct FileStatus: Equatable, Sendable, CustomStringConvertible {
    /// One kind of difference.
    public enum Change: String, Equatable, Sendable {
        case added, modified, deleted, renamed, typeChanged
    }

    /// HEAD → index: what `git diff --cached` shows for the path.
    public var staged: Change?
    /// Index → working tree: what `git diff` shows. `.added` here means the file is untracked.
    public var unstaged: Change?
    /// The path has unresolved merge conflicts.
    public var isConflicted: Bool

    public init(staged: Change? = nil, unstaged: Change? = nil, isConflicted: Bool = false) {
        self.staged = staged
        self.unstaged = unstaged
        self.isConflicted = isConflicted
    }

    /// A file git does not track yet.
    public var isUntracked: Bool { staged == nil && unstaged == .added && !isConflicted }

    /// The two letters of `git status --short` (`M `, ` M`, `??`, `UU` …).
    public var description: String {
        if isConflicted { return "UU" }
        if isUntracked { return "??" }
        func letter(_ change: Change?) -> String {
            switch change {
            case nil: return " "
            case .added?: return "A"
            case .modified?: return "M"
            case .deleted?: return "D"
            case .renamed?: return "R"
            case .typeChanged?: return "T"
            }
        }
        return letter(staged) + letter(unstaged)
    }

    init(_ flags: UInt32) {
        func has(_ flag: git_status_t) -> Bool { flags & flag.rawValue != 0 }
        if has(GIT_STATUS_INDEX_NEW) { staged = .added }
        else if has(GIT_STATUS_INDEX_DELETED) { staged = .deleted }
        else if has(GIT_STATUS_INDEX_RENAMED) { staged = .renamed }
        else if has(GIT_STATUS_INDEX_TYPECHANGE) { staged = .typeChanged }
        else if has(GIT_STATUS_INDEX_MODIFIED) { staged = .modified }
        if has(GIT_STATUS_WT_NEW) { unstaged = .added }
        else if has(GIT_STATUS_WT_DELETED) { unstaged = .deleted }
        else if has(GIT_STATUS_WT_RENAMED) { unstaged = .renamed }
        else if has(GIT_STATUS_WT_TYPECHANGE) { unstaged = .typeChanged }
        else if has(GIT_STATUS_WT_MODIFIED) || has(GIT_STATUS_WT_UNREADABLE) { unstaged = .modified }
        isConflicted = has(GIT_STATUS_CONFLICTED)
    }
}

extension GitRepository {
    /// Every path under `prefix` that differs from HEAD in the index or the working tree
    /// (untracked files included, ignored files not), with how it differs. Clean paths are absent.
    /// Reads only: the index file is not rewritten.
    public func fileStatus(under prefix: String) throws -> [String: FileStatus] {
        let prefix = try RepositoryPath.normalise(prefix, location: location)
        return try status(pathspec: prefix.isEmpty ? [] : [prefix])
            .filter { RepositoryPath.isInside($0.key, prefix) }
    }

    /// The paths among `paths` (files, or folders meaning everything under them) whose working
    /// tree or index content differs from HEAD: the user's uncommitted edits, which a caller
    /// about to overwrite and commit those files should refuse to lose (unless forced).
    /// Untracked files count; files ignored by `.gitignore` do not. Sorted.
    public func uncommittedChanges(paths: [String]) throws -> [String] {
        let normalised = try paths.map { try RepositoryPath.normalise($0, location: location) }
        guard !normalised.isEmpty else { return [] }
        let statuses = try status(pathspec: normalised.contains("") ? [] : normalised)
        return statuses.keys
            .filter { path in normalised.contains { RepositoryPath.isInside(path, $0) } }
            .sorted()
    }

    /// `git status` for the given literal paths (all paths when empty).
    func status(pathspec: [String]) throws -> [String: FileStatus] {
        var options = git_status_options()
        try LibGit2.check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)),
                          "cannot prepare git status", location: location)
        options.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        options.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
            | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        // Paths are literal (a `*` in an experiment name is a star); a path with characters git
        // would still read as magic is filtered by the caller instead.
        let literal = pathspec.filter { !RepositoryPath.hasPathspecMagic($0) }
        let usePathspec = !pathspec.isEmpty && literal.count == pathspec.count
        if usePathspec { options.flags |= GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH.rawValue }

        var list: OpaquePointer?
        let code: Int32 = LibGit2.withStrarray(usePathspec ? pathspec : []) { array in
            options.pathspec = array
            return git_status_list_new(&list, pointer, &options)
        }
        try LibGit2.check(code, "cannot compute git status", location: location)
        guard let list else { return [:] }
        defer { git_status_list_free(list) }

        var result: [String: FileStatus] = [:]
        for index in 0 ..< git_status_list_entrycount(list) {
            guard let entry = git_status_byindex(list, index)?.pointee else { continue }
            let delta = entry.index_to_workdir ?? entry.head_to_index
            guard let delta, let cPath = delta.pointee.new_file.path ?? delta.pointee.old_file.path else { continue }
            let status = FileStatus(entry.status.rawValue)
            if status == FileStatus() { continue }
            result[String(cString: cPath)] = status
        }
        return result
    }
}
