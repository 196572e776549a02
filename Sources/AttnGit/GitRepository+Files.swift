import AttnCore
import CGit2
import Foundation

/// A file as a tree records it: its blob and its mode (`0o100644`, `0o100755`, `0o120000`).
struct TreeFile: Equatable {
    var blob: git_oid
    var mode: UInt32

    static func == (a: TreeFile, b: TreeFile) -> Bool {
        a.mode == b.mode && LibGit2.equal(a.blob, b.blob)
    }
}

extension GitRepository {
    /// Every file under `prefix` in the commit `revision` names, path → bytes, read from git's
    /// objects: nothing is checked out and the working tree is not touched.
    ///
    /// Paths are relative to the working tree (`Snapshots/x/a.json`). `prefix` may name a folder
    /// (everything under it), a single file, or be `""` (the whole tree); a prefix the commit does
    /// not have gives an empty dictionary, and so does `HEAD` before the first commit.
    public func files(at revision: String, under prefix: String) throws -> [String: Data] {
        let prefix = try RepositoryPath.normalise(prefix, location: location)
        guard let commit = try lookupCommit(revision) else { return [:] }
        defer { git_commit_free(commit) }
        var result: [String: Data] = [:]
        for (path, file) in try treeFiles(of: commit, under: prefix) {
            var oid = file.blob
            var blob: OpaquePointer?
            try LibGit2.check(git_blob_lookup(&blob, pointer, &oid), "cannot read '\(path)' at \(revision)",
                              location: location)
            guard let blob else { continue }
            result[path] = Self.bytes(of: blob)
            git_blob_free(blob)
        }
        return result
    }

    /// Every file under `prefix` in the working tree, path → bytes, as `git add` would see them:
    /// files that `.gitignore` excludes and AttnLab's own temporary files are left out.
    /// Symbolic links give their target, as git stores them.
    public func workingTreeFiles(under prefix: String) throws -> [String: Data] {
        let prefix = try RepositoryPath.normalise(prefix, location: location)
        let fileManager = FileManager.default
        let top = prefix.isEmpty ? workdir : workdir.appendingPathComponent(prefix)
        var result: [String: Data] = [:]

        func visit(_ url: URL, path: String) throws {
            var isIgnored: Int32 = 0
            if git_ignore_path_is_ignored(&isIgnored, pointer, path) == 0, isIgnored == 1 { return }
            let attributes = try? fileManager.attributesOfItem(atPath: url.path)
            switch attributes?[.type] as? FileAttributeType {
            case .typeDirectory?:
                guard url.lastPathComponent != ".git" else { return }
                let names: [String]
                do { names = try fileManager.contentsOfDirectory(atPath: url.path) } catch {
                    throw GitError(.libgit2, "cannot list the folder", location: url.path,
                                   reason: error.localizedDescription, hint: "check its permissions")
                }
                for name in names.sorted() {
                    try visit(url.appendingPathComponent(name), path: path.isEmpty ? name : path + "/" + name)
                }
            case .typeRegular?:
                guard !AtomicDirectoryUpdate.isTemporaryName(url.lastPathComponent) else { return }
                do { result[path] = try RegularFile.read(url) } catch let error as CoreError {
                    throw GitError(.fileSystem, "cannot read the file: \(error.message)", location: url.path,
                                   hint: error.hint ?? "check its permissions")
                }
            case .typeSymbolicLink?:
                if let target = try? fileManager.destinationOfSymbolicLink(atPath: url.path) {
                    result[path] = Data(target.utf8)
                }
            default:
                return
            }
        }
        try visit(top, path: prefix)
        return result
    }

    // MARK: - Trees

    /// The tree of a commit (the caller frees it).
    func tree(of commit: OpaquePointer) throws -> OpaquePointer {
        var tree: OpaquePointer?
        try LibGit2.check(git_commit_tree(&tree, commit), "cannot read the tree of commit \(LibGit2.hex(git_commit_id(commit).pointee))",
                          location: location)
        guard let tree else { throw GitError(.libgit2, "cannot read a commit's tree", location: location) }
        return tree
    }

    /// The object id of what `prefix` names in the commit's tree (a tree or a blob), nil when the
    /// commit has nothing there. `""` names the root tree.
    func entryID(of commit: OpaquePointer, at prefix: String) throws -> git_oid? {
        if prefix.isEmpty { return git_commit_tree_id(commit).pointee }
        let root = try tree(of: commit)
        defer { git_tree_free(root) }
        var entry: OpaquePointer?
        let code = git_tree_entry_bypath(&entry, root, prefix)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try LibGit2.check(code, "cannot read '\(prefix)' in a commit's tree", location: location)
        guard let entry else { return nil }
        defer { git_tree_entry_free(entry) }
        return git_tree_entry_id(entry).pointee
    }

    /// Every file under `prefix` in the commit's tree, path → blob and mode (submodules left out).
    func treeFiles(of commit: OpaquePointer, under prefix: String) throws -> [String: TreeFile] {
        let root = try tree(of: commit)
        defer { git_tree_free(root) }
        var result: [String: TreeFile] = [:]
        if prefix.isEmpty {
            try collect(root, path: "", into: &result)
            return result
        }
        var entry: OpaquePointer?
        let code = git_tree_entry_bypath(&entry, root, prefix)
        if code == GIT_ENOTFOUND.rawValue { return [:] }
        try LibGit2.check(code, "cannot read '\(prefix)' in a commit's tree", location: location)
        guard let entry else { return [:] }
        defer { git_tree_entry_free(entry) }
        try add(entry, path: prefix, into: &result)
        return result
    }

    /// Every file under the tree with id `id`, for `log`, which compares sub-trees by id.
    func treeFiles(ofTree id: git_oid, path: String) throws -> [String: TreeFile] {
        var oid = id
        var object: OpaquePointer?
        try LibGit2.check(git_object_lookup(&object, pointer, &oid, GIT_OBJECT_ANY), "cannot read '\(path)'",
                          location: location)
        guard let object else { return [:] }
        defer { git_object_free(object) }
        var result: [String: TreeFile] = [:]
        switch git_object_type(object) {
        case GIT_OBJECT_TREE: try collect(object, path: path, into: &result)
        case GIT_OBJECT_BLOB: result[path] = TreeFile(blob: id, mode: UInt32(GIT_FILEMODE_BLOB.rawValue))
        default: break
        }
        return result
    }

    private func collect(_ tree: OpaquePointer, path: String, into result: inout [String: TreeFile]) throws {
        for index in 0 ..< git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let name = String(cString: git_tree_entry_name(entry))
            try add(entry, path: path.isEmpty ? name : path + "/" + name, into: &result)
        }
    }

    private func add(_ entry: OpaquePointer, path: String, into result: inout [String: TreeFile]) throws {
        switch git_tree_entry_type(entry) {
        case GIT_OBJECT_BLOB:
            result[path] = TreeFile(blob: git_tree_entry_id(entry).pointee,
                                    mode: UInt32(git_tree_entry_filemode(entry).rawValue))
        case GIT_OBJECT_TREE:
            var subtree: OpaquePointer?
            try LibGit2.check(git_tree_lookup(&subtree, pointer, git_tree_entry_id(entry)), "cannot read the folder '\(path)'",
                              location: location)
            guard let subtree else { return }
            defer { git_tree_free(subtree) }
            try collect(subtree, path: path, into: &result)
        default:
            return  // a submodule: its content is another repository's
        }
    }
}
