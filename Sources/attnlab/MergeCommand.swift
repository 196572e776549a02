import ArgumentParser
import AttnExperiments
import AttnReports
import Foundation

/// `attnlab merge`: join the shards of a run into one run.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the shards of a run (attnlab run --shard I/N) into one run.",
        discussion: """
        The merged run's manifest, variant records, expectation results and traces are those of the \
        same experiment run unsharded (but for timing). Shards of different experiments, inputs, \
        weights or AttnLab versions are refused, and so is a missing or repeated shard. The shards \
        are left as they are (their traces are hard-linked where the file system allows). Exits 1 \
        when an expectation fails.
        """)

    @Argument(help: "The shard folders (RUNS/<experiment>/<run-id>.shard-I-of-N).")
    var shards: [String]

    @Option(help: "The merged run's folder (RUNS/<experiment>/<run-id>).")
    var out: String

    func validate() throws {
        guard !shards.isEmpty else { throw ValidationError("give the shard folders to merge") }
    }

    func run() throws {
        let result = try ShardMerge.merge(shards.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: out),
                                          finish: { try RunArtifacts.writeReport($0.run) })
        print("merged \(shards.count) shard\(shards.count == 1 ? "" : "s") into \(result.folder.path)")
        print(try RunSummary.render(result.run))
        print("report: \(result.folder.appendingPathComponent("report.html").path)")
        if !result.manifest.passed { throw ExitCode(1) }
    }
}
