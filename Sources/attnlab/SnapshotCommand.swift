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
    var experiment: String

    @Option(help: "Variants traced at once (the snapshots do not depend on it).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    /// The workspace (the git repository around the current folder), the experiment, and its fresh snapshot files.
    func run(requireRepository: Bool) throws -> (SnapshotWorkspace, Experiment, ExperimentSnapshotFiles) {
        let workspace = try SnapshotWorkspace.discover(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                                       requireRepository: requireRepository)
        let spec = try ExperimentParser.load(URL(fileURLWithPath: experiment))
        let progress = ProgressLine()
        let files = try SnapshotRun.files(spec, workspace: workspace, threads: threads, progress: { progress.update($0, $1, $2) })
        progress.finish()
        return (workspace, spec, files)
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
