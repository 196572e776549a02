import ArgumentParser
import AttnCore
import AttnSnapshots
import Foundation

/// `attnlab snapshot check`: re-run an experiment and compare it with its snapshots, like a test.
struct SnapshotCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Re-run an experiment and compare it with its snapshots in the working tree.",
        discussion: """
        Passes (exit 0) when every output is within --tolerance, labels, tokens and expectation \
        results are equal, and every head's attention is within --attention-tolerance (largest \
        absolute difference of a weight) and --js-tolerance (mean Jensen–Shannon divergence of its \
        rows, in bits). Otherwise prints what drifted (variant, outputs, heads, words, by how much) \
        and exits 1. Snapshots keep attention in float16, so attention tolerances below 5e-4 mean nothing. \
        With --all, checks every experiment under Experiments/ and exits 1 if any drifted or failed.
        """)

    @OptionGroup var arguments: SnapshotRunArguments

    @Option(help: "Largest change of an output (similarity, a probability).")
    var tolerance = 1e-4

    @Option(help: "Largest change of one attention weight in a head.")
    var attentionTolerance = 1e-3

    @Option(help: "Largest mean Jensen–Shannon divergence (bits) of a head's attention rows.")
    var jsTolerance = 1e-3

    @Option(help: "Also write a JUnit XML report to this file (for CI systems).")
    var junit: String?

    @Flag(help: "Re-record the snapshots instead of failing (does not commit).")
    var update = false

    @Flag(help: "Check every experiment under Experiments/ (at the top of the repository) instead of one.")
    var all = false

    @Option(help: "Drifted heads listed per variant.")
    var heads = DriftReport.headsListed

    func validate() throws {
        for (name, value) in [("--tolerance", tolerance), ("--attention-tolerance", attentionTolerance), ("--js-tolerance", jsTolerance)]
        where !(value >= 0) || !value.isFinite {
            throw ValidationError("\(name) must be a number at least 0")
        }
        guard heads > 0 else { throw ValidationError("--heads must be at least 1") }
        if all == (arguments.experiment != nil) {
            throw ValidationError(all ? "give an experiment file or --all, not both" : "give the experiment file (YAML), or --all for every experiment under Experiments/")
        }
    }

    func run() throws {
        // With --junit -, the XML is standard output and the report goes to standard error.
        let say: (String) -> Void = junit == "-" ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        let started = Date()
        let workspace = try arguments.workspace(requireRepository: update)
        let experiments = all ? try SnapshotRunArguments.allExperiments(in: workspace) : [arguments.experiment!]
        let tolerances = SnapshotTolerances(output: tolerance, attention: attentionTolerance, jsDivergence: jsTolerance)
        var comparisons: [(file: String, comparison: ExperimentComparison)] = []
        var failed: [String] = []
        var errored = false
        for (index, experiment) in experiments.enumerated() {
            let checked = Date()
            if index > 0 { say("") }
            do {
                let (spec, files) = try arguments.run(experiment, in: workspace)
                let comparison = try workspace.check(files, tolerances: tolerances)
                comparisons.append((experiment, comparison))
                say(DriftReport.render(comparison, experimentFile: experiment, heads: heads))
                if update && !comparison.isIdentical {
                    let result = try workspace.record(files)
                    say("updated: \(result.changedFiles.count) file\(result.changedFiles.count == 1 ? "" : "s") rewritten in \(result.folder)/ (not committed)")
                    continue
                }
                say(String(format: "checked %@ in %.1f s", spec.name, Date().timeIntervalSince(checked)))
                if comparison.hasDrift { failed.append(experiment) }
            } catch {
                // One experiment that cannot run does not hide the others' results.
                guard all else { throw error }
                say("ERROR \(experiment): \(error)")
                failed.append(experiment)
                errored = true
            }
        }
        let seconds = Date().timeIntervalSince(started)
        if let junit {
            let xml = JUnitReport.render(comparisons.map(\.comparison), experimentFiles: comparisons.map(\.file), seconds: seconds)
            try AtomicFile.write(Data(xml.utf8), toOutput: junit)
        }
        if all {
            say("")
            say(failed.isEmpty
                  ? String(format: "checked %d experiment%@ in %.1f s: all match their snapshots", experiments.count, experiments.count == 1 ? "" : "s", seconds)
                  : String(format: "checked %d experiment%@ in %.1f s: %d failed (%@)", experiments.count, experiments.count == 1 ? "" : "s", seconds,
                           failed.count, failed.joined(separator: ", ")))
        }
        if errored || (!update && !failed.isEmpty) {
            // Exit 1 without an `error:` line: the report said what failed.
            throw ExitCode(1)
        }
    }
}
