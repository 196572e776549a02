import ArgumentParser
import AttnCore
import AttnExperiments
import Foundation

/// `attnlab submit`: run an experiment's shards on a cluster and merge them when all are done.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Run an experiment as N shards on a Slurm cluster (a job array), then merge them (a dependent job).",
        discussion: """
        Writes RUNS/<experiment>/<run-id>.slurm/shards.sh (an `sbatch --array=1-N` job whose task I \
        runs `attnlab run EXPERIMENT --shard I/N`) and merge.sh (`attnlab merge` of the N shards into \
        RUNS/<experiment>/<run-id>, submitted with --dependency=afterok on the array), and submits \
        both with sbatch. The jobs run this attnlab binary from the current folder, which the nodes \
        must see (a shared file system). --dry-run prints the scripts and submits nothing.
        """)

    @Argument(help: "The experiment file (YAML).")
    var experiment: String

    @Flag(help: "Submit to Slurm (sbatch).")
    var slurm = false

    @Option(help: "Shards: tasks of the job array.")
    var shards: Int

    @Flag(name: .customLong("dry-run"), help: "Print the scripts and the sbatch commands; write and submit nothing.")
    var dryRun = false

    @Option(help: "Threads (CPUs) of each shard.")
    var threads = 1

    @Option(help: "Where runs are written: RUNS/<experiment>/<run-id>/.")
    var runs = "runs"

    @Option(name: .customLong("run-id"), help: "The run's folder name (default: the time, UTC).")
    var runID: String?

    @Option(help: "The Slurm partition.")
    var partition: String?

    @Option(help: "Each task's time limit (Slurm's --time, e.g. 1:00:00).")
    var time: String?

    @Option(name: .customLong("sbatch-option"), help: "More #SBATCH options for both jobs (repeatable), e.g. --sbatch-option=--mem=4G.")
    var sbatchOptions: [String] = []

    @Flag(name: .customLong("skip-bad-rows"), help: "Leave out the rows of an inputs file that cannot be inputs.")
    var skipBadRows = false

    func validate() throws {
        guard slurm else { throw ValidationError("say where to submit: --slurm (the only scheduler attnlab drives)") }
        guard shards >= 1 else { throw ValidationError("--shards must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        // The experiment must load here before anything is submitted.
        let spec = try ExperimentParser.load(URL(fileURLWithPath: experiment), options: .init(skipBadRows: skipBadRows))
        let id = try PathComponent(runID ?? Self.timeID(), what: "run id").name
        let jobs = SlurmJobs(binary: Self.binaryPath(), directory: FileManager.default.currentDirectoryPath, experiment: experiment,
                             name: spec.name, runs: runs, runID: id, shards: shards, threads: threads, partition: partition, time: time,
                             extra: sbatchOptions, skipBadRows: skipBadRows)
        if dryRun {
            print("# \(jobs.folder)/shards.sh")
            print(jobs.shardsScript)
            print("# \(jobs.folder)/merge.sh")
            print(jobs.mergeScript)
            print("# submitted with:")
            print("sbatch --parsable \(Shell.quote(jobs.folder + "/shards.sh"))")
            print("sbatch --parsable --dependency=afterok:JOB --kill-on-invalid-dep=yes \(Shell.quote(jobs.folder + "/merge.sh"))")
            return
        }
        guard let sbatch = Shell.which("sbatch") else {
            throw ExperimentError("Slurm's sbatch is not on the PATH, so nothing was submitted",
                                  hint: "run this on a Slurm login node (Debian: apt install slurm-client), or run the shards yourself with `attnlab run \(experiment) --shard I/\(shards)` and `attnlab merge`; --dry-run prints the scripts")
        }
        let folder = URL(fileURLWithPath: jobs.folder)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ExperimentError("the run \(id) was submitted already", location: folder.path, hint: "give another --run-id")
        }
        try AtomicFile.write(Data(jobs.shardsScript.utf8), to: folder.appendingPathComponent("shards.sh"))
        try AtomicFile.write(Data(jobs.mergeScript.utf8), to: folder.appendingPathComponent("merge.sh"))
        let array: String
        do {
            array = try Shell.run(sbatch, ["--parsable", folder.appendingPathComponent("shards.sh").path])
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
        let arrayJob = String(array.split(separator: ";").first ?? "")
        let merge: String
        do {
            merge = try Shell.run(sbatch, ["--parsable", "--dependency=afterok:\(arrayJob)", "--kill-on-invalid-dep=yes",
                                           folder.appendingPathComponent("merge.sh").path])
        } catch {
            if let scancel = Shell.which("scancel") { _ = try? Shell.run(scancel, [arrayJob]) }
            try? FileManager.default.removeItem(at: folder)
            throw ExperimentError("the shards were submitted as job \(arrayJob) but the merge could not be (\(error)); job \(arrayJob) was cancelled")
        }
        let mergeJob = String(merge.split(separator: ";").first ?? "")
        print("submitted \(shards) shard\(shards == 1 ? "" : "s") of \(spec.name) as job array \(arrayJob) (tasks 1-\(shards)) and the merge as job \(mergeJob), after every shard succeeds")
        print("scripts and logs: \(jobs.folder)")
        print("run: \(jobs.output)")
    }

    static func timeID() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }

    /// This binary, which the jobs run.
    static func binaryPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// The two job scripts of a submitted run.
struct SlurmJobs {
    var binary: String
    var directory: String
    var experiment: String
    var name: String
    var runs: String
    var runID: String
    var shards: Int
    var threads: Int
    var partition: String?
    var time: String?
    var extra: [String]
    var skipBadRows: Bool

    /// `RUNS/<experiment>/<run-id>.slurm`, relative to `directory` when `runs` is.
    var folder: String { "\(runs)/\(name)/\(runID).slurm" }
    var output: String { "\(runs)/\(name)/\(runID)" }

    func header(job: String, log: String, array: Bool) -> [String] {
        var lines = ["#!/bin/bash", "#SBATCH --job-name=\(Shell.quote("attnlab-\(name)-\(job)"))"]
        if array { lines.append("#SBATCH --array=1-\(shards)") }
        lines.append("#SBATCH --cpus-per-task=\(array ? threads : 1)")
        lines.append("#SBATCH --chdir=\(Shell.quote(directory))")
        lines.append("#SBATCH --output=\(Shell.quote("\(absolute(folder))/\(log)"))")
        if let partition { lines.append("#SBATCH --partition=\(Shell.quote(partition))") }
        if let time { lines.append("#SBATCH --time=\(Shell.quote(time))") }
        lines += extra.map { "#SBATCH \($0)" }
        lines.append("set -euo pipefail")
        return lines
    }

    func absolute(_ path: String) -> String { path.hasPrefix("/") ? path : "\(directory)/\(path)" }

    var shardsScript: String {
        var lines = header(job: "shards", log: "shard-%a.log", array: true)
        lines.append("# Task I runs shard I of \(shards); attnlab run exits 0 once the shard is written (the merge judges the expectations).")
        var command = [binary, "run", experiment, "--runs", runs, "--run-id", runID, "--threads", "\(threads)"].map(Shell.quote)
        command.append("--shard \"${SLURM_ARRAY_TASK_ID}/\(shards)\"")
        if skipBadRows { command.append("--skip-bad-rows") }
        lines.append("exec " + command.joined(separator: " "))
        return lines.joined(separator: "\n") + "\n"
    }

    var mergeScript: String {
        var lines = header(job: "merge", log: "merge.log", array: false)
        lines.append("shards=()")
        lines.append("for i in $(seq 1 \(shards)); do shards+=(\(Shell.quote("\(runs)/\(name)/\(runID).shard-"))\"$i\"\(Shell.quote("-of-\(shards)"))); done")
        lines.append("exec \(Shell.quote(binary)) merge \"${shards[@]}\" --out \(Shell.quote(output))")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Running programs and quoting for the shell.
enum Shell {
    /// `text` as one shell word.
    static func quote(_ text: String) -> String {
        if !text.isEmpty, text.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0) }) {
            return text
        }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// The program's path on the PATH.
    static func which(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a program; its standard output, trimmed; an error with its standard error when it fails.
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            throw ExperimentError("cannot run \(program)", cause: error)
        }
        let output = out.fileHandleForReading.readUntilEnd()
        let errors = err.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                .split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw ExperimentError("\(URL(fileURLWithPath: program).lastPathComponent) failed: \(message)",
                                  hint: "check that the Slurm controller is up (sinfo) and that you may submit jobs")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
