import Foundation

/// Writes and removes a set of files under one folder all at once or not at all: `record`
/// generates every snapshot in memory, then applies them through this, so that a run that fails
/// leaves the old snapshots as they were.
///
/// `apply()` first writes every new file to a temporary file beside its target, then moves the
/// old files aside and the new ones into place; on any error it puts the old files back, removes
/// what it created and throws, so nothing under `root` has changed. Files whose bytes do not
/// change are not touched. Nothing is written through a symbolic link to outside `boundary`, and
/// a folder where a file goes is refused, not moved aside; `removeLeftovers()` cleans what an
/// update killed in the middle left behind.
///
/// ```swift
/// var update = AtomicDirectoryUpdate(root: snapshotsFolder)
/// try update.write(json, to: "minilm/eminem/terrific.json")
/// try update.remove("minilm/eminem/old.json")
/// let changed = try update.apply()   // ["minilm/eminem/old.json", "minilm/eminem/terrific.json"]
/// ```
public struct AtomicDirectoryUpdate {
    /// The folder every path is relative to; created when missing.
    public let root: URL
    /// New contents by path (relative to `root`).
    public private(set) var writes: [String: Data] = [:]
    /// Paths (relative to `root`) to remove.
    public private(set) var removals: Set<String> = []
    /// The folder no write or removal may leave, symbolic links followed (the repository's working
    /// tree); nil: `root`.
    public var boundary: URL?

    /// The stage `apply()` has reached, for the failure injected by tests (of this package).
    package enum Step: Equatable, Sendable {
        /// The temporary file for this path has been written.
        case staged(String)
        /// This path is about to be replaced or removed.
        case installing(String)
    }
    /// Called at each step; an error thrown here fails `apply()` as a real failure would.
    package var injectedFailure: ((Step) throws -> Void)?

    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    /// An update that leaves exactly `files` under `root`: it writes them and removes every other
    /// file already there, except hidden ones (names starting with `.`, such as `.gitattributes`).
    public static func replacingContents(of root: URL, with files: [String: Data]) throws -> AtomicDirectoryUpdate {
        var update = AtomicDirectoryUpdate(root: root)
        for (path, data) in files { try update.write(data, to: path) }
        for path in try update.existingFiles() where files[path] == nil {
            try update.remove(path)
        }
        return update
    }

    /// Schedules `data` to be written at `path` (relative to `root`, `/`-separated).
    public mutating func write(_ data: Data, to path: String) throws {
        let path = try Self.normalise(path, root: root)
        removals.remove(path)
        writes[path] = data
    }

    /// Schedules the file at `path` to be removed (nothing happens if there is none).
    public mutating func remove(_ path: String) throws {
        let path = try Self.normalise(path, root: root)
        writes[path] = nil
        removals.insert(path)
    }

    /// The regular files now under `root` (relative paths, sorted), hidden files excepted.
    public func existingFiles() throws -> [String] {
        let fileManager = FileManager.default
        guard let enumerator = fileManager.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey],
                                                      options: [.skipsHiddenFiles]) else { return [] }
        var result: [String] = []
        let base = root.resolvingSymlinksInPath().path
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            let path = url.resolvingSymlinksInPath().path
            guard path.hasPrefix(base + "/") else { continue }
            result.append(String(path.dropFirst(base.count + 1)))
        }
        return result.sorted()
    }

    /// Applies every scheduled write and removal, or none of them.
    ///
    /// - Returns: the paths (relative to `root`, sorted) whose content changed.
    @discardableResult
    public func apply() throws -> [String] {
        let fileManager = FileManager.default
        for path in writes.keys.sorted() + removals.sorted() { try checkConfined(path) }
        // Only real changes: a file that keeps its bytes keeps its timestamps too.
        var changedWrites: [String] = []
        for (path, data) in writes {
            let size = (try? fileManager.attributesOfItem(atPath: url(path).path))?[.size] as? Int
            if size != data.count || (try? Data(contentsOf: url(path))) != data {
                changedWrites.append(path)
            }
        }
        let changedRemovals = removals.filter { fileManager.fileExists(atPath: url($0).path) }
        let changed = (changedWrites + changedRemovals).sorted()
        guard !changed.isEmpty else { return [] }

        var created: [URL] = []              // folders this update made, outermost first
        var temporaries: [String: URL] = [:] // path → new content, not yet in place
        var backups: [String: URL] = [:]     // path → old content, moved aside
        var installed: [String] = []         // paths whose new content is in place

        func rollBack() -> [String] {
            var problems: [String] = []
            for path in installed.reversed() where fileManager.fileExists(atPath: url(path).path) {
                if unlink(url(path).path) != 0 { problems.append("cannot remove the new \(path): \(Self.errnoText())") }
            }
            for (path, backup) in backups where rename(backup.path, url(path).path) != 0 {
                problems.append("cannot put back \(path) (its old content is in \(backup.path)): \(Self.errnoText())")
            }
            for temporary in temporaries.values { unlink(temporary.path) }
            for folder in created.reversed() { rmdir(folder.path) }
            return problems
        }
        func fail(_ error: Error) -> Error {
            let problems = rollBack()
            guard !problems.isEmpty else { return error }
            return GitError(.fileSystem, "\(error); and undoing the partial update failed: \(problems.joined(separator: "; "))",
                            location: root.path, hint: "restore the files listed from git (git checkout -- <path>)")
        }

        let token = "\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do {
            // 1. Every new content goes to a temporary file beside its target.
            for path in changedWrites.sorted() {
                let target = url(path)
                try makeFolders(for: target.deletingLastPathComponent(), created: &created)
                let temporary = target.deletingLastPathComponent()
                    .appendingPathComponent(".\(target.lastPathComponent)\(Self.newMarker)\(token)")
                guard fileManager.createFile(atPath: temporary.path, contents: writes[path]) else {
                    throw GitError(.fileSystem, "cannot write a temporary file", location: temporary.path,
                                   hint: "check that the folder is writable and the disk has room")
                }
                temporaries[path] = temporary
                try injectedFailure?(.staged(path))
            }
            // 2. Old files aside, new ones into place.
            for path in changed {
                try injectedFailure?(.installing(path))
                let target = url(path)
                if fileManager.fileExists(atPath: target.path) {
                    let backup = target.deletingLastPathComponent()
                        .appendingPathComponent(".\(target.lastPathComponent)\(Self.oldMarker)\(token)")
                    guard rename(target.path, backup.path) == 0 else {
                        throw GitError(.fileSystem, "cannot move the old file aside (\(Self.errnoText()))", location: target.path)
                    }
                    backups[path] = backup
                }
                if let temporary = temporaries[path] {
                    guard rename(temporary.path, target.path) == 0 else {
                        throw GitError(.fileSystem, "cannot put the new file in place (\(Self.errnoText()))", location: target.path)
                    }
                    temporaries[path] = nil
                    installed.append(path)
                }
            }
        } catch {
            throw fail(error)
        }
        // 3. Done: drop the old contents, and folders that removals left empty.
        for backup in backups.values { unlink(backup.path) }
        for path in changedRemovals {
            var folder = url(path).deletingLastPathComponent().standardizedFileURL
            while folder.path.count > root.path.count, folder.path.hasPrefix(root.path + "/"), rmdir(folder.path) == 0 {
                folder = folder.deletingLastPathComponent().standardizedFileURL
            }
        }
        return changed
    }

    // MARK: - Confinement and leftovers

    /// Throws unless `path` can be written or removed without leaving `boundary`: every folder on
    /// the way resolves inside it, and the path itself is neither a symbolic link nor a folder.
    func checkConfined(_ path: String) throws {
        let target = url(path)
        try checkInsideBoundary(target.deletingLastPathComponent(), for: target)
        var info = stat()
        guard lstat(target.path, &info) == 0 else { return }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            throw GitError(.invalidPath, "is a symbolic link, which is not written through", location: target.path,
                           hint: "remove the link; the file is written in its place")
        case S_IFDIR:
            throw GitError(.fileSystem, "is a folder, where a file goes", location: target.path, hint: "remove or rename the folder")
        default:
            return
        }
    }

    /// Throws unless `folder` (or, when missing, the nearest folder above it) resolves inside `boundary`.
    private func checkInsideBoundary(_ folder: URL, for target: URL) throws {
        let boundary = (self.boundary ?? root).resolvingSymlinksInPath().path
        var folder = folder.standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path) {
            let parent = folder.deletingLastPathComponent().standardizedFileURL
            if parent.path == folder.path { break }
            folder = parent
        }
        let real = folder.resolvingSymlinksInPath().path
        guard real == boundary || real.hasPrefix(boundary + "/") else {
            throw GitError(.invalidPath, "\(folder.path) leads to \(real), outside \(boundary), through a symbolic link",
                           location: target.path, hint: "replace the link with a real folder; files are only written inside the repository")
        }
    }

    /// Removes the temporary files that an update killed in the middle left under `root`
    /// (`.NAME.attnlab-new-…`, and `.NAME.attnlab-old-…`, which is put back as NAME when NAME is
    /// missing), unless the process that made them is still running. Returns the paths cleaned.
    @discardableResult
    public func removeLeftovers() throws -> [String] {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: root.path) else { return [] }
        try checkInsideBoundary(root, for: root)
        guard let enumerator = fileManager.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var cleaned: [String] = []
        let base = root.standardizedFileURL.path
        for case let url as URL in enumerator {
            let name = url.lastPathComponent
            guard Self.isTemporaryName(name) else { continue }
            let marker = name.contains(Self.newMarker) ? Self.newMarker : Self.oldMarker
            let parts = name.components(separatedBy: marker)
            guard parts.count == 2, parts[0].count > 1 else { continue }
            let token = parts[1].split(separator: "-")
            if let pid = token.first.flatMap({ Int32($0) }), pid != getpid(), kill(pid, 0) == 0 {
                throw GitError(.locked, "another process (\(pid)) is updating the folder", location: url.path,
                               hint: "wait for it to finish; if no attnlab is running, remove the file")
            }
            let original = url.deletingLastPathComponent().appendingPathComponent(String(parts[0].dropFirst()))
            var info = stat()
            if marker == Self.oldMarker, lstat(original.path, &info) != 0 {
                guard rename(url.path, original.path) == 0 else { continue }
            } else {
                guard (try? fileManager.removeItem(at: url)) != nil else { continue }
            }
            let path = url.standardizedFileURL.path
            cleaned.append(path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path)
        }
        return cleaned.sorted()
    }

    // MARK: - Helpers

    static let newMarker = ".attnlab-new-"
    static let oldMarker = ".attnlab-old-"

    /// Whether a file name is one of the temporary files `apply()` makes (left behind only if the
    /// process was killed in the middle).
    static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && (name.contains(newMarker) || name.contains(oldMarker))
    }

    private func url(_ path: String) -> URL {
        root.appendingPathComponent(path)
    }

    private func makeFolders(for folder: URL, created: inout [URL]) throws {
        var missing: [URL] = []
        var current = folder.standardizedFileURL
        var isFolder: ObjCBool = false
        while !FileManager.default.fileExists(atPath: current.path, isDirectory: &isFolder) {
            missing.append(current)
            let parent = current.deletingLastPathComponent().standardizedFileURL
            if parent.path == current.path { break }
            current = parent
        }
        if missing.isEmpty, !isFolder.boolValue {
            throw GitError(.fileSystem, "a file is in the way of a folder", location: folder.path, hint: "remove or rename it")
        }
        for url in missing.reversed() {
            guard mkdir(url.path, 0o777) == 0 else {
                throw GitError(.fileSystem, "cannot create the folder (\(Self.errnoText()))", location: url.path,
                               hint: "check that the path is writable and that no file is in the way")
            }
            created.append(url)
        }
    }

    private static func normalise(_ path: String, root: URL) throws -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !path.hasPrefix("/"), !components.isEmpty, !components.contains("..") else {
            throw GitError(.invalidPath, "the path '\(path)' is not a relative path inside the folder", location: root.path,
                           hint: "give paths relative to the folder, without '..'")
        }
        return components.joined(separator: "/")
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
