import ArgumentParser
import AttnServe
import Foundation

/// `attnlab serve`: the workbench as a local web app. Parses the options and starts the server.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Explore models in a local web app: type, perturb, ablate, scan, and save what you find as an experiment.",
        discussion: """
        Serves the current folder's Experiments/, runs/ and Snapshots/ on 127.0.0.1 and prints the \
        address with its access token, which every request needs (the page keeps it as a cookie). \
        Models are those `attnlab models` lists, kept loaded between requests.
        """)

    @Option(help: "The port (0: a free one).")
    var port = 8765

    @Option(help: "The address to listen on. Anything but 127.0.0.1 (or localhost) lets other machines reach the app.")
    var host = "127.0.0.1"

    @Flag(help: "Open the app in the default browser.")
    var open = false

    func validate() throws {
        guard (0 ... 65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard !host.isEmpty else { throw ValidationError("--host must name an address") }
    }

    func run() throws {
        Self.unblockStopSignals()
        let settings = ServerSettings(host: host, port: port)
        if !settings.isLoopback {
            FileHandle.standardError.write(Data("warning: listening on \(host): other machines can reach this server; anyone with the token can read and write this project's experiments and runs\n".utf8))
        }
        let server = AttnServer(settings: settings)
        let open = self.open
        let done = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do {
                try await server.run { address, _ in
                    print("AttnLab \(FileManager.default.currentDirectoryPath)")
                    print("Open this address; it carries the access token:\n\n    \(address)\n")
                    print("Press Ctrl-C to stop.")
                    fflush(stdout)
                    if open { Self.openBrowser(address) }
                }
            } catch {
                failure.error = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.error {
            throw ServeFailure(message: "cannot serve on \(host):\(port): \(error)", hint: port == 0 ? nil : "another program may use the port; try --port 0")
        }
    }

    /// A parent can start the server with SIGINT and SIGTERM blocked (a process inherits the mask of
    /// the thread that spawned it: a test runner's worker threads block them). Ctrl-C and `kill`
    /// must stop the server whatever it inherited.
    static func unblockStopSignals() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    static func openBrowser(_ address: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [ProcessInfo.processInfo.environment["BROWSER"] ?? "xdg-open", address]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }
}

private final class FailureBox: @unchecked Sendable {
    var error: Error?
}

private struct ServeFailure: Error, CustomStringConvertible {
    var message: String
    var hint: String?
    var description: String { message + (hint.map { "; \($0)" } ?? "") }
}
