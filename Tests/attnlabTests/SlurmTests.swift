import AttnCore
import Foundation
import Testing

/// A one-node Slurm cluster on this machine (Tools/slurm-cluster.sh), for the test of `attnlab submit --slurm`.
enum SlurmCluster {
    /// Where the script keeps the cluster's configuration, keys, logs and pids; fixed, so that a
    /// cluster a killed test left is stopped by the next start.
    static let folder = URL(fileURLWithPath: "/tmp/attnlab-slurm-test")
    static var environment: [String: String] { ["ATTNLAB_SLURM_DIR": folder.path, "SLURM_CONF": folder.appendingPathComponent("slurm.conf").path] }

    static func installed(_ program: String) -> Bool {
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(program)") }
    }

    /// Slurm is installed, or can be: apt-get and root (or sudo without a password), as `make test` has on Debian.
    static var canRun: Bool {
        if ["slurmctld", "slurmd", "munged", "sbatch"].allSatisfy(installed) { return true }
        guard installed("apt-get") else { return false }
        return getuid() == 0 || (try? shell("/usr/bin/sudo", ["-n", "true"]).status) == 0
    }

    @discardableResult
    static func shell(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static func script(_ command: String) throws -> (status: Int32, output: String) {
        try shell("/bin/bash", [CLI.repository.appendingPathComponent("Tools/slurm-cluster.sh").path, command])
    }

    /// Jobs in the queue.
    static func queued() throws -> String {
        try shell("/bin/bash", ["-c", "squeue -h -o '%i %j %T %r'"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// `attnlab submit --slurm` on a real Slurm cluster: a 4-shard suite as a job array and the
/// dependent merge, whose run equals the run made on this machine.
@Suite(.serialized) struct SlurmTests {
    @Test(.enabled(if: SlurmCluster.canRun, "Slurm is not installed and cannot be: installing slurmctld, slurmd and munge needs apt-get and root or sudo"),
          .timeLimit(.minutes(15)))
    func aSubmittedSuiteMergesIntoTheLocalRun() throws {
        let folder = try SuiteCommandTests.suiteFolder()
        let local = try CLI.run(["run", "capitals.yaml", "--run-id", "local", "--threads", "2"], in: folder)
        #expect(local.status == 0, "\(local.stderr)")

        let started = try SlurmCluster.script("start")
        defer { _ = try? SlurmCluster.script("stop") }
        try #require(started.status == 0, "the cluster did not start: \(started.output)")

        let submitted = try CLI.run(["submit", "capitals.yaml", "--slurm", "--shards", "4", "--run-id", "cluster"], in: folder,
                                    environment: SlurmCluster.environment)
        try #require(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stdout.contains("submitted 4 shards of capitals as job array"), "\(submitted.stdout)")

        // The merge renames the run into place when it is whole; the queue empties when every job ended.
        let merged = folder.appendingPathComponent("runs/capitals/cluster")
        let deadline = Date().addingTimeInterval(600)
        while Date() < deadline, try !SlurmCluster.queued().isEmpty { Thread.sleep(forTimeInterval: 1) }
        let logs = folder.appendingPathComponent("runs/capitals/cluster.slurm")
        let logText = ((try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? []).sorted().filter { $0.hasSuffix(".log") }
            .map { "\($0): " + ((try? String(contentsOf: logs.appendingPathComponent($0), encoding: .utf8)) ?? "") }.joined(separator: "\n")
        let queue = (try? SlurmCluster.queued()) ?? ""
        try #require(FileManager.default.fileExists(atPath: merged.appendingPathComponent("manifest.json").path),
                     "no merged run; queue: \(queue); logs:\n\(logText)")
        #expect(logText.contains("shard-1.log") && logText.contains("shard-4.log") && logText.contains("merged 4 shards"), "\(logText)")
        for index in 1 ... 4 {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs/capitals/cluster.shard-\(index)-of-4/manifest.json").path))
        }

        let localRun = folder.appendingPathComponent("runs/capitals/local")
        #expect(try SuiteCommandTests.manifestWithoutTiming(localRun) == SuiteCommandTests.manifestWithoutTiming(merged))
        let (a, b) = (try SuiteCommandTests.files(of: localRun), try SuiteCommandTests.files(of: merged))
        #expect(a.keys.sorted() == b.keys.sorted())
        for (path, bytes) in a { #expect(b[path] == bytes, "\(path) differs") }
    }
}
