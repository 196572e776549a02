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
        and exits 1. Snapshots keep attention in float16, so attention tolerances below 5e-4 mean nothing.
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

    @Option(help: "Drifted heads listed per variant.")
    var heads = DriftReport.headsListed

    func validate() throws {
        for (name, value) in [("--tolerance", tolerance), ("--attention-tolerance", attentionTolerance), ("--js-tolerance", jsTolerance)]
        where !(value >= 0) || !value.isFinite {
            throw ValidationError("\(name) must be a number at least 0")
        }
        guard heads > 0 else { throw ValidationError("--heads must be at least 1") }
    }

    func run() throws {
        let started = Date()
        let (workspace, spec, files) = try arguments.run(requireRepository: update)
        let tolerances = SnapshotTolerances(output: tolerance, attention: attentionTolerance, jsDivergence: jsTolerance)
        let comparison = try workspace.check(files, tolerances: tolerances)
        let seconds = Date().timeIntervalSince(started)
        print(DriftReport.render(comparison, experimentFile: arguments.experiment, heads: heads))
        if let junit {
            let xml = JUnitReport.render([comparison], experimentFiles: [arguments.experiment], seconds: seconds)
            try AtomicFile.write(Data(xml.utf8), to: URL(fileURLWithPath: junit))
        }
        if update && !comparison.isIdentical {
            let result = try workspace.record(files)
            print("updated: \(result.changedFiles.count) file\(result.changedFiles.count == 1 ? "" : "s") rewritten in \(result.folder)/ (not committed)")
            return
        }
        print(String(format: "checked %@ in %.1f s", spec.name, seconds))
        if comparison.hasDrift {
            // Exit 1 without an `error:` line: the report said what failed.
            throw ExitCode(1)
        }
    }
}
