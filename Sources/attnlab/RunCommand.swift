import ArgumentParser
import AttnCore
import AttnExperiments
import AttnReports
import AttnModels
import Foundation

/// `attnlab run`: execute an experiment file, write the run folder and report, check the expectations.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run an experiment: every model × input × variant, its expectations and its report.",
        discussion: """
        Exits 1 when an expectation fails, after printing which and with what numbers. With \
        --shard I/N, runs the I-th of N shares of the inputs into RUNS/<experiment>/<run-id>.shard-I-of-N/; \
        `attnlab merge` joins the N shards into one run.
        """)

    @Argument(help: "The experiment file (YAML).")
    var experiment: String

    @Option(help: "Inputs traced at once.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Where runs are written: RUNS/<experiment>/<run-id>/.")
    var runs = "runs"

    @Option(name: .customLong("run-id"), help: "The run's folder name (default: the time, UTC); the shards of one run share it.")
    var runID: String?

    @Option(help: "Run only share I of N of the inputs (I from 1), for `attnlab merge`.")
    var shard: String?

    @Flag(name: .customLong("skip-bad-rows"), help: "Leave out the rows of an inputs file that cannot be inputs, instead of stopping.")
    var skipBadRows = false

    @Flag(help: "Print every variant and every passing expectation, however many (by default a long run prints its failures, and the report lists the rest).")
    var verbose = false

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let shard = try self.shard.map { try Shard(parsing: $0) }
        let spec = try ExperimentParser.load(URL(fileURLWithPath: experiment), options: .init(skipBadRows: skipBadRows))
        RunSummary.warnSkipped(spec)
        let progress = ProgressLine()
        let artifacts = RunArtifacts.options(for: spec)
        // Views and figures are written as each variant is traced, the report before the run folder is renamed into place.
        let result = try Executor.run(spec, options: RunOptions(threads: threads, runsFolder: URL(fileURLWithPath: runs), progress: { progress.update($0, $1, $2) },
                                                                runID: runID, shard: shard, artifacts: artifacts.artifacts,
                                                                scanArtifacts: artifacts.scans,
                                                                finish: { progress.finish(); try artifacts.finish($0) }))
        print(try RunSummary.render(result.run, verbose: verbose))
        print("report: \(result.folder.appendingPathComponent("report.html").path)")
        if let shard {
            // A shard's failure rates are partial: the merged run judges the expectations.
            print("shard \(shard) written; `attnlab merge` of all \(shard.count) shards judges the expectations")
            return
        }
        if !result.manifest.passed { throw ExitCode(1) }
    }
}

/// A progress bar on a terminal, plain lines otherwise (both on standard error): a line for each
/// of the first inputs and the last, and in between one every few seconds, so that the log of a
/// suite of 10,000 inputs stays short.
final class ProgressLine: @unchecked Sendable {
    private let terminal = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private var lastLine = DispatchTime.now()
    /// Inputs that each get a line, and the seconds between the lines after them.
    static let everyInput = 20
    static let interval: UInt64 = 5_000_000_000

    func update(_ done: Int, _ total: Int, _ what: String) {
        lock.withLock {
            if terminal {
                let width = 30, filled = total == 0 ? width : width * done / total
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                FileHandle.standardError.write(Data("\r\u{1B}[K\(bar) \(done)/\(total) \(what)".utf8))
                return
            }
            let now = DispatchTime.now()
            guard done <= Self.everyInput || done == total || now.uptimeNanoseconds - lastLine.uptimeNanoseconds >= Self.interval else { return }
            lastLine = now
            FileHandle.standardError.write(Data("traced \(done)/\(total): \(what)\n".utf8))
        }
    }

    func finish() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The terminal summary of a run: what ran, the variants (when there are few), and the
/// expectations, failures first; an expectation over many variants is counted, its worst failures listed.
enum RunSummary {
    /// Variants listed one by one, at most.
    static let variantsListed = 40
    /// Worst failures listed per expectation.
    static let worstListed = 5
    /// Passing expectations listed one by one, at most (`--verbose` lists them all).
    static let passesListed = 10

    static func render(_ run: RunFolder, verbose: Bool = false) throws -> String {
        let manifest = run.manifest
        // Variants that could not be run count among the variants.
        let variants = manifest.variantCount + (manifest.failures?.filter { $0.subject.contains("/") }.count ?? 0)
        var heading = "experiment \(manifest.experiment.name): \(RunText.count(variants, "variant"))"
        if let inputs = manifest.experiment.inputs, inputs > 1, inputs < variants { heading += " of \(RunText.count(inputs, "input"))" }
        heading += " on \(manifest.models.count) model\(manifest.models.count == 1 ? "" : "s")"
        if let shard = manifest.shard { heading += " (shard \(shard.index) of \(shard.count): inputs \(shard.first + 1)–\(shard.end) of \(shard.total))" }
        var lines = [heading]
        // What could not be run comes first (the rest of the run went on), then what failed.
        if let failures = manifest.failures, !failures.isEmpty {
            lines.append("\nFAILED TO RUN: \(RunText.count(failures.count, "variant")) (the rest ran)")
            for failure in failures { lines.append("  ERROR \(failure.subject) [\(failure.model)]: \(failure.message)") }
        }
        let failed = manifest.expectations.filter { !$0.passed }, passed = manifest.expectations.filter(\.passed)
        if !failed.isEmpty {
            lines.append("\nFAILED: \(failed.count) of \(RunText.count(manifest.expectations.count, "expectation"))")
            for summary in failed { lines += describe(summary) }
        }
        lines.append("")
        if verbose || manifest.variantCount <= variantsListed {
            var rows = [["model", "variant", "output", "label", "change"]]
            try run.forEachRecord { record in
                var output = ""
                if let s = record.outputs.similarity { output = String(format: "similarity %.4f", s) }
                if let label = record.outputs.label, let p = record.outputs.probabilities?.max() { output = String(format: "%@ %.3f", label, p) }
                if let top = record.outputs.topk?.first?.candidates.first { output = String(format: "%@ %.3f", top.token, top.probability) }
                rows.append([record.model, record.variant.path, output, record.label ?? "", record.variant.change])
                return true
            }
            lines.append(Table.render(rows))
        } else {
            lines.append("\(RunText.count(manifest.variantCount, "variant")) traced: their outputs are in the report (--verbose prints them)")
        }
        if !manifest.expectations.isEmpty {
            lines.append("\nexpectations: " + expectationCount(manifest))
            if verbose || passed.count <= passesListed {
                for summary in passed { lines += describe(summary) }
            } else {
                lines.append("  the \(passed.count) that passed are listed in the report (--verbose prints them)")
            }
        }
        lines.append("\nrun: \(run.url.path)")
        return lines.joined(separator: "\n")
    }

    /// `8 of 8 passed`, `2 of 3 passed; 44 of 820 checks failed`.
    static func expectationCount(_ manifest: Manifest) -> String {
        let passed = manifest.expectations.filter(\.passed).count
        let checks = manifest.expectations.reduce(0) { $0 + $1.checked }
        let failed = manifest.expectations.reduce(0) { $0 + $1.failed }
        var text = "\(passed) of \(manifest.expectations.count) passed"
        if checks > manifest.expectations.count { text += "; \(RunText.number(failed)) of \(RunText.count(checks, "check")) failed" }
        return text
    }

    /// One line per result of an expectation that checked few variants (as measured), or one line
    /// of counts, with the worst failures and the failures per model and perturbation below.
    static func describe(_ summary: Manifest.ExpectationSummary) -> [String] {
        if let results = summary.results, !results.isEmpty, summary.allowed == nil {
            return results.map { "  \($0.passed ? "pass" : "FAIL")  \($0.variant) [\($0.model)]: \($0.expectation) — \($0.actual)" }
        }
        var lines = ["  \(summary.passed ? "pass" : "FAIL")  \(summary.variant) [\(summary.model ?? "all models")] (line \(summary.line)): \(summary.expectation) — \(RunText.counts(summary))"]
        guard !summary.passed, summary.problem == nil else { return lines }
        if summary.byModel.count > 1 {
            lines.append("        by model: " + summary.byModel.map { "\($0.name) \($0.failed)/\($0.checked) (\(RunText.percent($0.rate)))" }.joined(separator: ", "))
        }
        if summary.byPerturbation.count > 1 {
            let shown = summary.byPerturbation.prefix(6)
            lines.append("        by perturbation: " + shown.map { "\($0.name) \($0.failed)/\($0.checked) (\(RunText.percent($0.rate)))" }.joined(separator: ", ")
                         + (summary.byPerturbation.count > shown.count ? ", …" : ""))
        }
        for (index, result) in summary.worst.prefix(worstListed).enumerated() {
            lines.append("        \(index == 0 ? "worst:" : "      ") \(result.variant) [\(result.model)]: \(result.actual)"
                         + (result.margin.map { String(format: ", missed by %.4f", $0) } ?? ""))
        }
        return lines
    }

    /// Says on standard error which rows `--skip-bad-rows` left out.
    static func warnSkipped(_ experiment: Experiment) {
        let skipped = experiment.inputs.skippedRows
        guard let first = skipped.first else { return }
        FileHandle.standardError.write(Data("warning: skipped \(RunText.count(skipped.count, "bad row")) (first: \(first.description))\n".utf8))
    }
}
