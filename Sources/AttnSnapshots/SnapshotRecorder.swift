import AttnCore
import AttnGit
import Foundation

/// What `snapshot record` is asked to do besides writing the files.
public struct SnapshotRecordOptions: Sendable {
    /// Commit the changed snapshot files (and only them).
    public var commit: Bool
    /// The commit message; nil: `Record <experiment> snapshots` with a summary of what changed.
    public var message: String?
    /// Overwrite (and commit) the user's uncommitted edits of the snapshot files.
    public var force: Bool
    /// Who commits; nil: git's usual sources (`GIT_AUTHOR_NAME`…, then `user.name`/`user.email`).
    public var author: Signature?

    public init(commit: Bool = false, message: String? = nil, force: Bool = false, author: Signature? = nil) {
        self.commit = commit
        self.message = message
        self.force = force
        self.author = author
    }
}

/// What `snapshot record` did.
public struct SnapshotRecordResult: Sendable {
    /// `Snapshots/<experiment>`.
    public var folder: String
    /// The files whose content changed (written or removed), relative to the working tree.
    public var changedFiles: [String]
    /// The new commit, when one was made.
    public var commit: String?
    /// The files the commit holds (relative to the working tree): every snapshot file that differed
    /// from HEAD, written now or by an earlier `record` or `check --update` that was not committed.
    public var committedFiles: [String] = []
    /// The commit message used.
    public var message: String?
    /// The previous snapshots (HEAD's with `--commit`, the working tree's otherwise) against the new.
    public var comparison: ExperimentComparison
}

extension SnapshotWorkspace {
    /// Writes an experiment's snapshot files under `Snapshots/<experiment>/` (all of them or none:
    /// a failure leaves the previous files as they were), removes the ones the experiment no longer
    /// makes and, with `options.commit`, commits exactly the changed files there.
    ///
    /// With `commit` it refuses, before writing anything, during a merge, rebase or similar, when
    /// git has no author identity, and when snapshot files have uncommitted edits that the new
    /// snapshots would overwrite (unless `force`). Without `commit` it writes during a merge too:
    /// recording again is how a conflict in snapshot files is resolved.
    public func record(_ snapshot: ExperimentSnapshotFiles, options: SnapshotRecordOptions = .init()) throws -> SnapshotRecordResult {
        try record(snapshot, options: options, injectedFailure: nil)
    }

    func record(_ snapshot: ExperimentSnapshotFiles, options: SnapshotRecordOptions,
                injectedFailure: ((AtomicDirectoryUpdate.Step) throws -> Void)?) throws -> SnapshotRecordResult {
        let repository = try requireRepository(for: "snapshot record")
        let relative = relativeFolder(snapshot.name)
        let folder = folder(snapshot.name)
        let new = try StoredSnapshots(name: snapshot.name, files: snapshot.files, folder: relative, revision: "the new run")
        // What an earlier record killed in the middle left (temporary files) goes first.
        var cleaner = AtomicDirectoryUpdate(root: folder)
        cleaner.boundary = repository.workdir
        try cleaner.removeLeftovers()

        // What the new files are compared with: what the commit will be made on, or what is on disk.
        // Damaged snapshots there are what recording replaces: they are noted, not an error.
        var comparison: ExperimentComparison
        do {
            let previous = options.commit ? try snapshots(snapshot.name, at: "HEAD") : try workingTreeSnapshotsIfReadable(snapshot.name)
            comparison = try SnapshotComparer.compare(old: previous, new: new)
        } catch let error as SnapshotError {
            comparison = try SnapshotComparer.compare(old: nil, new: new)
            comparison.notes.append("the previous snapshots could not be read (\(error.location.map { "\($0): " } ?? "")\(error.message)); they are replaced")
        }

        if options.commit {
            try repository.checkReadyToCommit(author: options.author)
            if !options.force {
                let edits = try usersEdits(repository, folder: relative, new: snapshot.files)
                if !edits.isEmpty {
                    throw SnapshotError("the snapshot files have uncommitted changes that recording would overwrite: "
                                        + edits.joined(separator: ", "), location: repository.workdir.path,
                                        hint: "commit them, discard them (git restore --staged --worktree -- \(relative)), or pass --force to replace them with the new snapshots")
                }
            }
        }

        // Keep the old files, to put them back if the commit fails after they were replaced.
        let before = AtomicDirectoryUpdate(root: folder)
        var oldFiles: [String: Data] = [:]
        for path in try before.existingFiles() {
            oldFiles[path] = try RegularFile.read(folder.appendingPathComponent(path))
        }
        var update = try AtomicDirectoryUpdate.replacingContents(of: folder, with: snapshot.files)
        update.boundary = repository.workdir
        update.injectedFailure = injectedFailure
        let changed = try update.apply().map { "\(relative)/\($0)" }

        var result = SnapshotRecordResult(folder: relative, changedFiles: changed, commit: nil, message: nil, comparison: comparison)
        guard options.commit else { return result }
        let message = options.message ?? Self.defaultMessage(comparison)
        do {
            // Every snapshot file that differs from HEAD (this run's changes, and a previous record's
            // that was not committed); the user's hidden files in the folder stay out.
            let paths = try repository.fileStatus(under: relative).keys.filter { !Self.isHidden($0) }.sorted()
            result.commit = paths.isEmpty ? nil : try repository.commit(paths: paths, message: message, author: options.author)
            result.message = result.commit == nil ? nil : message
            result.committedFiles = result.commit == nil ? [] : paths
        } catch {
            // Put the previous snapshots back, so that a failed record changes nothing.
            if !changed.isEmpty {
                var restore = try? AtomicDirectoryUpdate.replacingContents(of: folder, with: oldFiles)
                restore?.boundary = repository.workdir
                _ = try? restore?.apply()
            }
            throw error
        }
        return result
    }

    /// The working tree's snapshots, or nil when they cannot be read (a merge conflict in them is
    /// exactly what recording again repairs).
    func workingTreeSnapshotsIfReadable(_ name: String) throws -> StoredSnapshots? {
        do {
            return try workingTreeSnapshots(name)
        } catch is SnapshotError {
            return nil
        }
    }

    /// The uncommitted snapshot files (relative to the working tree) whose content recording would
    /// lose: those whose working-tree bytes differ from the new ones, or whose staged content
    /// differs from both HEAD and the working tree. A file that already holds exactly the new
    /// snapshot (a previous `record` without `--commit`) is not the user's edit.
    func usersEdits(_ repository: GitRepository, folder relative: String, new files: [String: Data]) throws -> [String] {
        var edits: [String] = []
        for (path, status) in try repository.fileStatus(under: relative).sorted(by: { $0.key < $1.key }) where !Self.isHidden(path) {
            let inside = String(path.dropFirst(relative.count + 1))
            let onDisk = try? Data(contentsOf: root.appendingPathComponent(path))
            let ours = onDisk == files[inside] && !(status.staged != nil && status.unstaged != nil) && !status.isConflicted
            if !ours { edits.append("\(path) (\(status.description.trimmingCharacters(in: .whitespaces)))") }
        }
        return edits
    }

    /// `Record <experiment> snapshots`, and one line per changed variant saying what moved.
    static func defaultMessage(_ comparison: ExperimentComparison) -> String {
        var lines = ["Record \(comparison.name) snapshots", ""]
        let severalModels = Set(comparison.variants.map(\.model)).count > 1
        for variant in comparison.variants where variant.status != .identical {
            lines.append("\(severalModels ? variant.model + " " : "")\(variant.path): \(DriftReport.summary(variant))")
        }
        lines += comparison.notes.map { "Note: \($0)" }
        if comparison.old == nil { lines.append("First recording.") }
        return lines.joined(separator: "\n")
    }

    // MARK: check

    /// Compares freshly built snapshot files with the ones in the working tree.
    public func check(_ snapshot: ExperimentSnapshotFiles, tolerances: SnapshotTolerances = .init()) throws -> ExperimentComparison {
        let relative = relativeFolder(snapshot.name)
        let new = try StoredSnapshots(name: snapshot.name, files: snapshot.files, folder: relative, revision: "the new run")
        return try SnapshotComparer.compare(old: try workingTreeSnapshots(snapshot.name), new: new, tolerances: tolerances)
    }
}
