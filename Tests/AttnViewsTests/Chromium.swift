import AttnCore
import Foundation

/// Drives Debian's headless Chromium for the browser tests: runs a page's `#selftest` and reads
/// the results it writes into the DOM, and takes screenshots.
enum Chromium {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// What a page's self-test wrote into `#attnlab-selftest`.
    struct SelfTest {
        var passed: Bool
        var checks: [(name: String, passed: Bool, detail: String)]
        var errors: [String]
        var facts: [String: Any]
        var firstDrawMilliseconds: Double?

        var failures: [String] { checks.filter { !$0.passed }.map { "\($0.name): \($0.detail)" } }
        var checkNames: Set<String> { Set(checks.map(\.name)) }
    }

    /// The browser, or a failure saying how to install it (tests never skip silently).
    static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for folder in path.split(separator: ":") {
                let candidate = "\(folder)/\(name)"
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        throw Failure(description: "chromium is not installed, and the view tests need it: run `make test`, which installs it (Debian package `chromium`)")
    }

    /// Runs Chromium with its own profile folder; returns standard output.
    static func run(_ arguments: [String], timeout: TimeInterval = 180) throws -> String {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                             "--disable-dev-shm-usage", "--user-data-dir=\(profile.path)"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        let data = output.fileHandleForReading.readUntilEnd()
        process.waitUntilExit()
        timer.cancel()
        guard process.terminationReason == .exit else {
            throw Failure(description: "chromium did not finish within \(Int(timeout)) s: \(arguments.joined(separator: " "))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Opens `page#selftest`, lets its scripts run, and reads the results from the DOM.
    static func selfTest(_ page: URL, budgetMilliseconds: Int = 120_000, windowSize: (Int, Int)? = nil) throws -> SelfTest {
        let size = windowSize.map { ["--window-size=\($0.0),\($0.1)"] } ?? []
        let dom = try run(size + ["--virtual-time-budget=\(budgetMilliseconds)", "--dump-dom", page.absoluteString + "#selftest"])
        return try parseSelfTest(dom: dom)
    }

    static func parseSelfTest(dom: String) throws -> SelfTest {
        guard let open = dom.range(of: "<pre id=\"attnlab-selftest\""), let start = dom[open.upperBound...].firstIndex(of: ">"),
              let end = dom.range(of: "</pre>", range: start ..< dom.endIndex) else {
            let failure = dom.range(of: "id=\"attnlab-failure\"").map { String(dom[$0.upperBound...].prefix(400)) } ?? String(dom.prefix(600))
            throw Failure(description: "the page wrote no self-test results; it shows: \(failure)")
        }
        let text = unescapeHTML(String(dom[dom.index(after: start) ..< end.lowerBound]))
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw Failure(description: "the self-test results are not a JSON object: \(text.prefix(300))")
        }
        let checks = (json["checks"] as? [[String: Any]] ?? []).map {
            (name: $0["name"] as? String ?? "?", passed: $0["passed"] as? Bool ?? false, detail: $0["detail"] as? String ?? "")
        }
        let timings = json["timings"] as? [String: Any]
        return SelfTest(passed: json["passed"] as? Bool ?? false, checks: checks, errors: json["errors"] as? [String] ?? [],
                        facts: json["facts"] as? [String: Any] ?? [:], firstDrawMilliseconds: timings?["firstDrawMs"] as? Double)
    }

    /// A PNG of the page as a window of `width` × `height` shows it once its scripts have run.
    static func screenshot(_ page: URL, to file: URL, width: Int = 1200, height: Int = 900) throws {
        try? FileManager.default.removeItem(at: file)
        _ = try run(["--virtual-time-budget=60000", "--hide-scrollbars", "--window-size=\(width),\(height)",
                     "--screenshot=\(file.path)", page.absoluteString])
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw Failure(description: "chromium wrote no screenshot of \(page.path)")
        }
    }

    static func unescapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&nbsp;", with: "\u{a0}").replacingOccurrences(of: "&amp;", with: "&")
    }
}
