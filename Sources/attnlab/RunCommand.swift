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
        print(RunSummary.render(result.manifest, folder: result.folder))
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

/// The terminal summary of a run.
enum RunSummary {
    static func render(_ manifest: Manifest, folder: URL) -> String {
        var lines = ["experiment \(manifest.experiment.name): \(manifest.variants.count) variants on \(manifest.models.count) model\(manifest.models.count == 1 ? "" : "s")"]
        var rows = [["model", "variant", "output", "label", "change"]]
        for record in manifest.variants {
            var output = ""
            if let s = record.outputs.similarity { output = String(format: "similarity %.4f", s) }
            if let label = record.outputs.label, let p = record.outputs.probabilities?.max() { output = String(format: "%@ %.3f", label, p) }
            if let top = record.outputs.topk?.first?.candidates.first { output = String(format: "%@ %.3f", top.token, top.probability) }
            rows.append([record.model, record.variant.path, output, record.label ?? "", record.variant.change])
        }
        lines.append(Table.render(rows))
        if !manifest.expectations.isEmpty {
            let passed = manifest.expectations.filter(\.passed).count
            lines.append("\nexpectations: \(passed) of \(manifest.expectations.count) passed")
            for result in manifest.expectations {
                lines.append("  \(result.passed ? "pass" : "FAIL")  \(result.variant) [\(result.model)]: \(result.expectation) — \(result.actual)")
            }
        }
        lines.append("\nrun: \(folder.path)")
        return lines.joined(separator: "\n")
    }
}
