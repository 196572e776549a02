import ArgumentParser
import AttnCore
import AttnExperiments
import AttnReports
import Foundation

/// `attnlab run`: execute an experiment file, write the run folder and report, check the expectations.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment: every model × input × variant, its expectations and its report.",
        discussion: "Exits 1 when an expectation fails, after printing which and with what numbers.")

    @Argument(help: "The experiment file (YAML).")
    var experiment: String

    @Option(help: "Variants traced at once.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Where runs are written: RUNS/<experiment>/<run-id>/.")
    var runs = "runs"

    @Flag(help: "Print every variant and every passing expectation, however many (by default a long run prints its failures, and the report lists the rest).")
    var verbose = false

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let spec = try ExperimentParser.load(URL(fileURLWithPath: experiment))
        let progress = ProgressLine()
        // Views, figures and the report are written before the run folder is renamed into place.
        let result = try Executor.run(spec, options: RunOptions(threads: threads, runsFolder: URL(fileURLWithPath: runs),
                                                                progress: { progress.update($0, $1, $2) },
                                                                finish: { progress.finish(); try RunArtifacts.writeAll(spec, result: $0) }))
        let report = result.folder.appendingPathComponent("report.html")
        print(RunSummary.render(result.manifest, folder: result.folder, verbose: verbose))
        print("report: \(report.path)")
        if !result.manifest.passed { throw ExitCode(1) }
    }
}

/// A progress bar on a terminal, plain lines otherwise (both on standard error).
final class ProgressLine: @unchecked Sendable {
    private let terminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()

    func update(_ done: Int, _ total: Int, _ what: String) {
        lock.withLock {
            if terminal {
                let width = 30, filled = total == 0 ? width : width * done / total
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(done)/\(total) \(what)".utf8))
            } else {
                FileHandle.standardError.write(Data("traced \(done)/\(total): \(what)\n".utf8))
            }
        }
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The terminal summary of a run. What failed comes first: variants that could not be run, then
/// failed expectations; the variants and the passing expectations follow, in full for a short run
/// (or with `verbose`), as a count for a long one, whose report lists them.
enum RunSummary {
    /// Above these, rows are counted rather than printed.
    static let shownVariants = 20, shownPasses = 10

    static func render(_ manifest: Manifest, folder: URL, verbose: Bool = false) -> String {
        let models = manifest.models.count
        var lines = ["experiment \(manifest.experiment.name): \(plural(manifest.variants.count + (manifest.failures?.filter { $0.subject.contains("/") }.count ?? 0), "variant")) on \(plural(models, "model"))"]
        let failed = manifest.expectations.filter { !$0.passed }, passed = manifest.expectations.filter(\.passed)
        if let failures = manifest.failures, !failures.isEmpty {
            lines.append("\nFAILED TO RUN: \(plural(failures.count, "variant")) (the rest ran)")
            for failure in failures { lines.append("  ERROR \(failure.subject) [\(failure.model)]: \(failure.message)") }
        }
        if !failed.isEmpty {
            lines.append("\nFAILED: \(failed.count) of \(plural(manifest.expectations.count, "expectation"))")
            for result in failed { lines.append(line(result)) }
        }
        lines.append("")
        if verbose || manifest.variants.count <= shownVariants {
            var rows = [["model", "variant", "output", "label", "change"]]
            for record in manifest.variants {
                var output = ""
                if let s = record.outputs.similarity { output = String(format: "similarity %.4f", s) }
                if let label = record.outputs.label, let p = record.outputs.probabilities?.max() { output = String(format: "%@ %.3f", label, p) }
                if let top = record.outputs.topk?.first?.candidates.first { output = String(format: "%@ %.3f", top.token, top.probability) }
                rows.append([record.model, record.variant.path, output, record.label ?? "", record.variant.change])
            }
            lines.append(Table.render(rows))
        } else {
            lines.append("\(plural(manifest.variants.count, "variant")) traced: their outputs are in the report (--verbose prints them)")
        }
        if !manifest.expectations.isEmpty {
            lines.append("\nexpectations: \(passed.count) of \(manifest.expectations.count) passed")
            if verbose || passed.count <= shownPasses {
                for result in passed { lines.append(line(result)) }
            } else {
                lines.append("  the \(passed.count) that passed are listed in the report (--verbose prints them)")
            }
        }
        lines.append("\nrun: \(folder.path)")
        return lines.joined(separator: "\n")
    }

    static func line(_ result: Manifest.ExpectationResult) -> String {
        "  \(result.passed ? "pass" : "FAIL")  \(result.variant) [\(result.model)]: \(result.expectation) — \(result.actual)"
    }

    /// "1 variant", "3 variants".
    static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }
}
