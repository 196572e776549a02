import AttnCore
import Foundation
import Testing

/// Runs the `attnlab` binary that `swift build` made, as a user would, from the repository root.
enum CLI {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["ATTNLAB_BIN"] { return URL(fileURLWithPath: path) }
        // The products of the same build sit in the test runner's folder (or beside its bundle).
        let candidates = [Bundle.main.bundleURL.appendingPathComponent("attnlab"),
                          Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("attnlab"),
                          repository.appendingPathComponent(".build/debug/attnlab")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `attnlab ARGUMENTS` in `directory` (the repository by default) and waits for it; after
    /// `timeout` seconds it is killed (a hang then shows as signal 9 and an issue, not a stuck suite).
    @discardableResult
    static func run(_ arguments: [String], in directory: URL = repository, environment: [String: String] = [:],
                    timeout: TimeInterval = 600) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        // Read before waiting so that a large output cannot fill the pipe and block the child.
        let stdout = out.fileHandleForReading.readUntilEnd()
        let stderr = err.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// A fresh temporary folder.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let miniLM = "sentence-transformers/all-MiniLM-L6-v2"
}
