import Foundation
import Testing

/// The README's "Suites and clusters" section runs as written: its experiment is the file it names,
/// and its shell blocks run from a copy of the repository's root (the cluster block in `SlurmTests`,
/// which owns the machine's one Slurm cluster).
@Suite(.serialized) struct ReadmeSuitesTests {
    static func section() throws -> String {
        let readme = try String(contentsOf: CLI.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "\n## Suites and clusters\n"))
        let rest = readme[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    /// The fenced blocks of `language` in the section.
    static func blocks(_ language: String) throws -> [String] {
        try section().components(separatedBy: "```\(language)\n").dropFirst().map { String($0.components(separatedBy: "```")[0]) }
    }

    /// A folder holding a copy of `Experiments/` and a link to `Models/`, as the repository's root is.
    static func root() throws -> URL {
        let folder = try CLI.temporaryFolder()
        try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent("Experiments"), to: folder.appendingPathComponent("Experiments"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("Models"), withDestinationURL: CLI.repository.appendingPathComponent("Models"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("Tools"), withDestinationURL: CLI.repository.appendingPathComponent("Tools"))
        return folder
    }

    /// Runs a shell block with `bash -eu -o pipefail`, `attnlab` on the PATH.
    static func run(_ block: String, in folder: URL, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-eu", "-o", "pipefail", "-c", block]
        process.currentDirectoryURL = folder
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        env["PATH"] = CLI.binary.deletingLastPathComponent().path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        process.environment = env
        let log = folder.appendingPathComponent("block.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        return (process.terminationStatus, try String(contentsOf: log, encoding: .utf8))
    }

    @Test func theExampleIsTheExperimentFile() throws {
        let yaml = try Self.blocks("yaml")
        #expect(yaml.count == 1)
        let file = try String(contentsOf: CLI.repository.appendingPathComponent("Experiments/paraphrase-sample.yaml"), encoding: .utf8)
        let body = file.split(separator: "\n", omittingEmptySubsequences: false).drop { $0.hasPrefix("#") }.joined(separator: "\n")
        #expect(yaml.first == body, "the README's example differs from Experiments/paraphrase-sample.yaml")
    }

    @Test func theShellBlocksRunAsWritten() throws {
        let blocks = try Self.blocks("sh").filter { !$0.contains("slurm-cluster.sh") }
        #expect(blocks.count == 3)
        let folder = try Self.root()
        defer { try? FileManager.default.removeItem(at: folder) }
        for block in blocks {
            let result = try Self.run(block, in: folder)
            #expect(result.status == 0, "\(block)\n→ \(result.output)")
        }
        let runs = folder.appendingPathComponent("runs/paraphrase-sample")
        #expect(FileManager.default.fileExists(atPath: runs.appendingPathComponent("whole/traces/minilm/hotel-cheap/syn-cheap-inexpensive.full.safetensors").path))
        #expect(try SuiteCommandTests.manifestWithoutTiming(runs.appendingPathComponent("whole"))
                == SuiteCommandTests.manifestWithoutTiming(runs.appendingPathComponent("merged")))
        for file in ["variants.jsonl", "results.jsonl"] {
            #expect(try Data(contentsOf: runs.appendingPathComponent("whole/\(file)")) == Data(contentsOf: runs.appendingPathComponent("merged/\(file)")))
        }
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("demo.slurm").path), "--dry-run writes nothing")
    }
}

extension SlurmTests {
    @Test(.enabled(if: SlurmCluster.canRun, "Slurm is not installed and cannot be: installing slurmctld, slurmd and munge needs apt-get and root or sudo"),
          .timeLimit(.minutes(15)))
    func theReadmeClusterBlockRunsAsWritten() throws {
        let blocks = try ReadmeSuitesTests.blocks("sh").filter { $0.contains("slurm-cluster.sh") }
        try #require(blocks.count == 1)
        let folder = try ReadmeSuitesTests.root()
        defer {
            // The block stops its cluster; if it failed before that, stop it here.
            _ = try? ReadmeSuitesTests.run("ATTNLAB_SLURM_DIR=/tmp/attnlab-slurm Tools/slurm-cluster.sh stop", in: folder)
            try? FileManager.default.removeItem(at: folder)
        }
        let result = try ReadmeSuitesTests.run(blocks[0], in: folder, environment: ["ATTNLAB_SLURM_DIR": "/tmp/attnlab-slurm"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("merged 4 shards into"), "\(result.output)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs/paraphrase-sample/cluster/manifest.json").path))
    }
}
