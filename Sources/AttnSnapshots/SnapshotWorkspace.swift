import AttnCore
import AttnGit
import Foundation

/// Where snapshots live: `Snapshots/` at the top of a git repository's working tree (or of a
/// plain folder, for `check` outside git), and how to read them from the working tree or from a
/// revision.
public final class SnapshotWorkspace {
    /// The folder under the root that holds every experiment's snapshots.
    public static let folderName = "Snapshots"

    /// The working tree's top folder (or the plain folder).
    public let root: URL
    /// The repository, when there is one.
    public let repository: GitRepository?

    public init(repository: GitRepository) {
        self.repository = repository
        root = repository.workdir
    }

    /// A workspace without git: snapshots under `folder/Snapshots`, read from the folder only.
    public init(folder: URL) {
        repository = nil
        root = folder.standardizedFileURL
    }

    /// The workspace of the git repository that contains `folder` (looking upwards, as git does);
    /// without one, `folder` itself when `requireRepository` is false, otherwise an error saying
    /// that snapshots are kept in git.
    public static func discover(from folder: URL, requireRepository: Bool) throws -> SnapshotWorkspace {
        do {
            return SnapshotWorkspace(repository: try GitRepository.discover(from: folder))
        } catch let error as GitError where error.kind == .notARepository && !requireRepository {
            return SnapshotWorkspace(folder: folder)
        }
    }

    /// The repository, or an error saying the command needs one.
    public func requireRepository(for command: String) throws -> GitRepository {
        guard let repository else {
            throw GitError(.notARepository, "\(command) needs a git repository, and this folder is not inside one", location: root.path,
                           hint: "run it inside your project's git repository, or create one with `git init`")
        }
        return repository
    }

    /// `Snapshots/<experiment>`, relative to the root.
    public func relativeFolder(_ experiment: String) -> String { "\(Self.folderName)/\(experiment)" }

    /// `<root>/Snapshots/<experiment>`.
    public func folder(_ experiment: String) -> URL {
        root.appendingPathComponent(Self.folderName).appendingPathComponent(experiment)
    }

    /// The path of a file relative to the root when it is inside it, otherwise its name.
    public func recordedPath(of file: URL) -> String {
        if let repository, let path = try? repository.relativePath(of: file) { return path }
        let base = root.resolvingSymlinksInPath().path + "/"
        let path = file.standardizedFileURL.resolvingSymlinksInPath().path
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : file.lastPathComponent
    }

    // MARK: reading

    /// The experiment's snapshots in the working tree (nil when there are none). Files that
    /// `.gitignore` excludes are left out, as git would.
    public func workingTreeSnapshots(_ experiment: String) throws -> StoredSnapshots? {
        let relative = relativeFolder(experiment)
        var files: [String: Data] = [:]
        if let repository {
            for (path, data) in try repository.workingTreeFiles(under: relative) where !Self.isHidden(path) {
                files[String(path.dropFirst(relative.count + 1))] = data
            }
        } else {
            let folder = folder(experiment)
            for path in try AtomicDirectoryUpdate(root: folder).existingFiles() {
                files[path] = try RegularFile.read(folder.appendingPathComponent(path))
            }
        }
        guard !files.isEmpty else { return nil }
        return try StoredSnapshots(name: experiment, files: files, folder: relative)
    }

    /// The experiment's snapshots at a revision, read from git's objects (nil when there are none).
    public func snapshots(_ experiment: String, at revision: String) throws -> StoredSnapshots? {
        let repository = try requireRepository(for: "reading snapshots at \(revision)")
        let relative = relativeFolder(experiment)
        var files: [String: Data] = [:]
        for (path, data) in try repository.files(at: revision, under: relative) where !Self.isHidden(path) {
            files[String(path.dropFirst(relative.count + 1))] = data
        }
        guard !files.isEmpty else { return nil }
        return try StoredSnapshots(name: experiment, files: files, folder: relative, revision: revision)
    }

    /// The names of the experiments with snapshots at a revision (nil: the working tree).
    public func experimentNames(at revision: String?) throws -> [String] {
        let top = Self.folderName
        let paths: [String]
        if let revision {
            paths = Array(try requireRepository(for: "reading snapshots at \(revision)").files(at: revision, under: top).keys)
        } else if let repository {
            paths = Array(try repository.workingTreeFiles(under: top).keys)
        } else {
            let folder = root.appendingPathComponent(top)
            paths = try AtomicDirectoryUpdate(root: folder).existingFiles().map { "\(top)/\($0)" }
        }
        return Set(paths.filter { !Self.isHidden($0) }.compactMap { path -> String? in
            let parts = path.split(separator: "/")
            return parts.count >= 3 ? String(parts[1]) : nil
        }).sorted()
    }

    /// Hidden files (`.gitattributes`) belong to the user, not to the snapshots: `record` keeps
    /// them and the comparisons ignore them.
    static func isHidden(_ path: String) -> Bool {
        path.split(separator: "/").contains { $0.hasPrefix(".") }
    }
}
