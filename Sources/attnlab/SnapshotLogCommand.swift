import ArgumentParser
import AttnGit
import AttnSnapshots
import Foundation

/// `attnlab snapshot log`: the commits that changed an experiment's snapshots, with what moved.
struct SnapshotLogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "List the commits that changed an experiment's snapshots, with what moved in each.",
        discussion: "Newest first, as `git log -- Snapshots/<experiment>` lists them, each with its author, date, message and a one-line summary of what changed (outputs moved, labels, expectation results, heads drifted).")

    @Argument(help: "The experiment file (YAML) or the experiment's name (its folder under Snapshots/).")
    var experiment: String

    @Option(help: "Only commits that changed this variant: input/variant or model/input/variant.")
    var variant: String?

    @Option(help: "At most this many commits.")
    var limit: Int?

    @Option(help: "The revision to start from.")
    var from = "HEAD"

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let workspace = try SnapshotWorkspace.discover(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                                       requireRepository: true)
        let name = try ExperimentName.resolve(experiment)
        let entries = try workspace.log(name, variant: variant, from: from, limit: limit)
        if entries.isEmpty {
            print("no commit changed \(workspace.relativeFolder(name))\(variant.map { " (variant \($0))" } ?? "")")
            return
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm Z"
        for (index, entry) in entries.enumerated() {
            let commit = entry.commit
            formatter.timeZone = TimeZone(secondsFromGMT: commit.author.timeZoneOffsetMinutes * 60)
            if index > 0 { print("") }
            print("\(commit.id.prefix(10))  \(formatter.string(from: commit.author.date))  \(commit.author.name) <\(commit.author.email)>")
            print("    \(commit.summary)")
            print("    changed: \(entry.summary)")
        }
    }
}
