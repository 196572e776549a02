import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import Foundation

/// `attnlab bench --scan`: the case study's full layer × head scan (all-MiniLM-L6-v2, "sick" ←
/// "terrific", similarity) timed with each thread count, and in the same run the same scan done
/// with PyTorch forward hooks in a loop (`Tools/bench/scan_hooks.py`: one full forward pass per
/// cell, a pre-hook on the output projection replacing that head's columns), with the ratio.
enum ScanBench {
    static let a = "the eminem tune was totally awesome."
    static let target = "dude, that song from eminem was sick!"
    static let source = "dude, that song from eminem was terrific!"

    /// What the PyTorch peer prints.
    struct Peer: Decodable {
        struct Timing: Decodable { var median: Double; var best: Double; var runs: Int; var cpu: Double }
        var torch: String
        var threads: [String: Timing]
        var effects: [[Double]]
        var target: Double
        var source: Double
    }

    static func run(folder: ModelFolder, threadCounts: [Int], seconds: Double, python: String, script: URL?) throws {
        print("machine load before: \(loadAverage())")
        let loaded = try LoadedModel(folder: folder)
        let summary = loaded.model.summary
        let targetRequest = TraceRequest(a: a, b: target, task: .similarity)
        var sourceRequest = targetRequest
        sourceRequest.b = source
        print("scan: \(folder.id), \(summary.layers) layers × \(summary.heads) heads, head outputs patched \"terrific\" → \"sick\", metric similarity")

        var rows = [["", "threads", "median", "best", "runs", "CPU time (median)", "cells/s"]]
        var result: ScanResult?
        var medians: [Int: Double] = [:], cpuMedians: [Int: Double] = [:]
        let cells = Double(summary.layers * summary.heads)
        for threads in threadCounts {
            let spec = ScanSpec(site: .head, metric: .similarity, threads: threads)
            result = try ScanRunner.run(spec, model: loaded, target: targetRequest, source: sourceRequest, names: ("sick", "terrific"))
            var wall: [Double] = [], cpu: [Double] = []
            let start = DispatchTime.now().uptimeNanoseconds
            while wall.count < 5 || (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds && wall.count < 200) {
                let (t0, c0) = (DispatchTime.now().uptimeNanoseconds, cpuSeconds())
                result = try ScanRunner.run(spec, model: loaded, target: targetRequest, source: sourceRequest, names: ("sick", "terrific"))
                wall.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                cpu.append(cpuSeconds() - c0)
            }
            let median = wall.sorted()[wall.count / 2]
            medians[threads] = median
            cpuMedians[threads] = cpu.sorted()[cpu.count / 2]
            rows.append(["AttnLab", "\(threads)", BenchCommand.ms(median), BenchCommand.ms(wall.min()!), "\(wall.count)",
                         BenchCommand.ms(cpu.sorted()[cpu.count / 2]), String(format: "%.0f", cells / median)])
        }
        guard let result else { return }

        var notes: [String] = []
        do {
            guard let script else {
                throw CoreError("Tools/bench/scan_hooks.py is not found", hint: "run from the repository's root")
            }
            let peer = try runPeer(python: python, script: script, model: folder.url, threads: threadCounts, seconds: max(seconds, 3))
            for threads in threadCounts {
                guard let timing = peer.threads["\(threads)"] else { continue }
                rows.append(["PyTorch hooks", "\(threads)", BenchCommand.ms(timing.median), BenchCommand.ms(timing.best), "\(timing.runs)",
                             BenchCommand.ms(timing.cpu), String(format: "%.0f", cells / timing.median)])
            }
            let difference = zip(result.effects.joined(), peer.effects.joined()).map { abs($0 - $1) }.max() ?? .nan
            notes.append(String(format: "same scan: PyTorch %@ finds target %.4f, source %.4f; largest difference of a cell's effect %.1e",
                                peer.torch, peer.target, peer.source, difference))
            for threads in threadCounts {
                guard let ours = medians[threads], let theirs = peer.threads["\(threads)"]?.median else { continue }
                let cpu = (peer.threads["\(threads)"]?.cpu ?? .nan) / (cpuMedians[threads] ?? .nan)
                notes.append(String(format: "%d thread%@: AttnLab %.1f× faster than the PyTorch loop (%.1f× less CPU time)", threads, threads == 1 ? "" : "s", theirs / ours, cpu))
            }
        } catch {
            notes.append("PyTorch peer not run: \(error)")
        }
        print(Table.render(rows))
        for note in notes { print(note) }
        if let two = medians[2] {
            print(String(format: "target: at most 0.3 s with 2 threads — %@ (%.3f s)", two <= 0.3 ? "met" : "MISSED", two))
        }
        print("machine load after: \(loadAverage())")
    }

    /// Runs the peer script and reads its JSON.
    static func runPeer(python: String, script: URL, model: URL, threads: [Int], seconds: Double) throws -> Peer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script.path, "--model", model.path, "--threads", threads.map(String.init).joined(separator: ","),
                             "--seconds", String(seconds)]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw CoreError("cannot start \(python)", hint: "give a Python with torch and transformers with --python")
        }
        let data = output.fileHandleForReading.readUntilEnd()
        let stderr = errors.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let last = String(decoding: stderr, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
            throw CoreError("\(python) \(script.lastPathComponent) failed (\(last))", hint: "give a Python with torch and transformers with --python")
        }
        do {
            return try JSONDecoder().decode(Peer.self, from: data)
        } catch {
            throw CoreError("\(script.lastPathComponent) printed no result: \(TraceFile.describe(error))")
        }
    }

    /// The peer script: under the current folder, or the repository the binary was built in.
    static func peerScript() -> URL? {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                          executable.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()]
        return candidates.map { $0.appendingPathComponent("Tools/bench/scan_hooks.py") }
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// CPU seconds the process has used (user and system, all threads).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// `uptime`'s load averages (1, 5, 15 minutes) and the core count, since other work on the
    /// machine distorts the figures.
    static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        let parts = text.split(separator: " ").prefix(3).joined(separator: ", ")
        return "load average \(parts.isEmpty ? "unknown" : parts) on \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
