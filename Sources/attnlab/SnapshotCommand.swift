import ArgumentParser
import AttnExperiments
import AttnSnapshots
import Foundation

/// `attnlab snapshot`: an experiment's results kept in `Snapshots/`, versioned in git, checked like tests.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Record, check and list an experiment's snapshots (kept in Snapshots/, versioned in git).",
        discussion: """
        Snapshots/<experiment>/<model>/<input>/<variant>.json holds the outputs, label, expectation \
        results, tokens and per-head summaries (rounded, one item per line, so that `git diff` reads \
        well); <variant>.safetensors beside it holds the attention in float16. `record` writes them \
        (and with --commit commits exactly them), `check` re-runs the experiment and fails when \
        something drifted, `log` lists the commits that changed them. See also `attnlab review`.
        """,
        subcommands: [SnapshotRecordCommand.self, SnapshotCheckCommand.self, SnapshotLogCommand.self])
}

/// Options shared by the snapshot commands that run an experiment.
struct SnapshotRunArguments: ParsableArguments {
    @Argument(help: "The experiment file (YAML).")
    var experiment: String?

    @Option(help: "Variants traced at once (the snapshots do not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    /// The workspace (the git repository around the current folder), the experiment, and its fresh snapshot files.
    func run(requireRepository: Bool) throws -> (SnapshotWorkspace, Experiment, ExperimentSnapshotFiles) {
        guard let experiment else { throw ValidationError("give the experiment file (YAML)") }
        let workspace = try self.workspace(requireRepository: requireRepository)
        let (spec, files) = try run(experiment, in: workspace)
        return (workspace, spec, files)
    }

    /// The git repository around the current folder (or the current folder, outside one).
    func workspace(requireRepository: Bool) throws -> SnapshotWorkspace {
        try SnapshotWorkspace.discover(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), requireRepository: requireRepository)
    }

    /// Runs one experiment file and returns its fresh snapshot files.
    func run(_ experiment: String, in workspace: SnapshotWorkspace) throws -> (Experiment, ExperimentSnapshotFiles) {
        let spec = try ExperimentParser.load(URL(fileURLWithPath: experiment))
        let progress = ProgressLine()
        defer { progress.finish() }
        let files = try SnapshotRun.files(spec, workspace: workspace, threads: threads, progress: { progress.update($0, $1, $2) })
        return (spec, files)
    }

    /// Every experiment file under `Experiments/` at the top of the workspace, in path order, as
    /// paths relative to the current folder when they are inside it.
    static func allExperiments(in workspace: SnapshotWorkspace) throws -> [String] {
        let folder = workspace.root.appendingPathComponent("Experiments")
        guard let paths = FileManager.default.subpaths(atPath: folder.path) else {
            throw ValidationError("--all checks the experiments in \(folder.path), which does not exist")
        }
        let current = FileManager.default.currentDirectoryPath + "/"
        let files = paths.filter { path in
            !path.split(separator: "/").contains { $0.hasPrefix(".") } && [".yaml", ".yml"].contains { path.lowercased().hasSuffix($0) }
        }.sorted().map { path -> String in
            let full = folder.appendingPathComponent(path).path
            return full.hasPrefix(current) ? String(full.dropFirst(current.count)) : full
        }
        guard !files.isEmpty else { throw ValidationError("--all found no experiment files (.yaml) in \(folder.path)") }
        return files
    }
}

/// An experiment named on the command line: a YAML file (its `name:`) or the name of a folder under Snapshots/.
enum ExperimentName {
    static func resolve(_ argument: String) throws -> String {
        let lower = argument.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
            return try ExperimentParser.load(URL(fileURLWithPath: argument)).name
        }
        return argument.split(separator: "/").last.map(String.init) ?? argument
    }
}
