import ArgumentParser
import AttnCore
import AttnGit
import AttnReports
import AttnSnapshots
import Foundation

/// `attnlab review`: a page showing what moved between two revisions' snapshots.
struct ReviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Render what moved between two revisions' snapshots as one HTML page.",
        discussion: """
        attnlab review [REV_A [REV_B]] [EXPERIMENT] --out review.html

        Revisions are anything git understands (HEAD~1, main, a tag, a sha); `working-tree` names \
        the working tree. One revision compares it with the working tree. With none: HEAD and the \
        working tree when Snapshots/ has uncommitted changes, otherwise HEAD~1 and HEAD. Both sides \
        are read from git's objects: nothing is checked out and the working tree is not touched. \
        EXPERIMENT (a YAML file or an experiment's name) limits the page to one experiment.
        """)

    @Argument(help: ArgumentHelp("Up to two revisions, then optionally an experiment.", valueName: "REV_A REV_B EXPERIMENT"))
    var arguments: [String] = []

    @Option(help: "The page to write.")
    var out = "review.html"

    @Option(help: "Heads drawn per drifted variant.")
    var heads = 3

    @Option(help: "Largest change of an output counted as no change.")
    var tolerance = 1e-4

    @Option(help: "Largest change of one attention weight counted as no change.")
    var attentionTolerance = 1e-3

    @Option(help: "Largest mean Jensen–Shannon divergence (bits) of a head counted as no change.")
    var jsTolerance = 1e-3

    func validate() throws {
        guard arguments.count <= 3 else { throw ValidationError("give at most two revisions and one experiment") }
        guard heads >= 0 else { throw ValidationError("--heads must be at least 0") }
    }

    func run() throws {
        let workspace = try SnapshotWorkspace.discover(from: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                                       requireRepository: true)
        let repository = try workspace.requireRepository(for: "review")
        var sides: [ReviewSide] = [], experiment: String?
        for argument in arguments {
            let lower = argument.lowercased()
            let side = ReviewSide(parsing: argument)
            if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
                experiment = try ExperimentName.resolve(argument)
            } else if side == .workingTree || (try? repository.resolve(argument)) != nil {
                sides.append(side)
            } else if argument.contains("~") || argument.contains("^") {
                _ = try repository.resolve(argument) // throws the unknown-revision error
            } else if experiment == nil, try workspace.isExperiment(argument) {
                // Not a revision: the name of an experiment (its folder under Snapshots/).
                experiment = argument
            } else {
                throw try workspace.unknownReviewArgument(argument)
            }
        }
        guard sides.count <= 2 else { throw ValidationError("give at most two revisions") }
        let (a, b): (ReviewSide, ReviewSide)
        switch sides.count {
        case 0: (a, b) = try workspace.defaultReviewSides()
        case 1: (a, b) = (sides[0], .workingTree)
        default: (a, b) = (sides[0], sides[1])
        }
        let tolerances = SnapshotTolerances(output: tolerance, attention: attentionTolerance, jsDivergence: jsTolerance)
        let review = try workspace.review(a, b, experiment: experiment, tolerances: tolerances)
        let html = try ReviewPage.render(review, options: ReviewPage.Options(headsPerVariant: heads))
        try AtomicFile.write(Data(html.utf8), toOutput: out)
        // With --out -, the page is standard output and what it holds goes to standard error.
        let say: (String) -> Void = out == "-" ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { print($0) }
        say("review \(a) → \(b): \(review.experiments.count) experiment\(review.experiments.count == 1 ? "" : "s")")
        for item in review.experiments {
            say("  \(item.name): \(DriftReport.summary(item.comparison))")
        }
        if out != "-" { say("page: \(out)") }
    }
}
