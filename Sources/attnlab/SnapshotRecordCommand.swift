import ArgumentParser
import AttnSnapshots
import Foundation

/// `attnlab snapshot record`: run an experiment and write (and optionally commit) its snapshots.
struct SnapshotRecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Run an experiment and write its snapshots to Snapshots/<experiment>/ (with --commit, commit them).",
        discussion: """
        All files are written or none: a run that fails leaves the old snapshots as they were. \
        With --commit, the commit holds exactly the changed files under Snapshots/<experiment>/; \
        your other staged and unstaged changes stay as they were. It refuses during a merge or \
        rebase, and when the snapshot files have uncommitted edits of yours (unless --force). \
        Without --commit it also works during a merge: recording again resolves a conflict in \
        snapshot files.
        """)

    @OptionGroup var arguments: SnapshotRunArguments

    @Flag(help: "Commit the changed snapshot files (and nothing else).")
    var commit = false

    @Option(name: [.short, .customLong("message")], help: "The commit message (default: what changed, variant by variant).")
    var message: String?

    @Flag(help: "With --commit: overwrite and commit your uncommitted edits of the snapshot files.")
    var force = false

    func validate() throws {
        if message != nil && !commit { throw ValidationError("-m/--message goes with --commit") }
        if force && !commit { throw ValidationError("--force goes with --commit (without it, record overwrites the files anyway)") }
    }

    func run() throws {
        let (workspace, spec, files) = try arguments.run(requireRepository: true)
        let result = try workspace.record(files, options: SnapshotRecordOptions(commit: commit, message: message, force: force))
        // A variant's JSON file, or a line of a suite's <model>.outputs.jsonl; a scan's <model>/<scan>.scan.json.
        let variants = files.files.reduce(0) { count, file in
            if file.key.hasSuffix(".outputs.jsonl") { return count + file.value.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
            return count + (file.key.hasSuffix(".json") && file.key != "experiment.json" && !file.key.hasSuffix(".scan.json") ? 1 : 0)
        }
        let scans = files.files.keys.filter { $0.hasSuffix(".scan.json") }.count
        print("recorded \(spec.name): \(variants) variant\(variants == 1 ? "" : "s")\(scans == 0 ? "" : ", \(scans) scan\(scans == 1 ? "" : "s")"), \(files.files.count) files in \(result.folder)/")
        // With --commit, what changed is measured against HEAD (the files may already be on disk,
        // written by `check --update` or a `record` without --commit).
        let changed = commit ? result.committedFiles : result.changedFiles
        if changed.isEmpty {
            print("no file changed: the snapshots were up to date" + (commit ? " (HEAD already has them)" : ""))
        } else {
            if commit && result.changedFiles.isEmpty {
                print("the working tree already held these snapshots (from check --update or record without --commit)")
            }
            print("\(changed.count) file\(changed.count == 1 ? "" : "s") changed (compared with \(commit ? "HEAD" : "the working tree")):")
            for variant in result.comparison.variants where variant.status != .identical {
                print("  \(variant.model) \(variant.path): \(DriftReport.summary(variant))")
            }
            for scan in result.comparison.scans where scan.status != .identical {
                print("  \(scan.model) scan \(scan.id): \(DriftReport.summary(scan))")
            }
            for note in result.comparison.notes { print("  note: \(note)") }
        }
        if commit {
            if let id = result.commit {
                print("committed \(id.prefix(10)): \(result.message?.split(separator: "\n").first ?? "")")
            } else {
                print("nothing to commit: HEAD already has these snapshots")
            }
        }
    }
}
