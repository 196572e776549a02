import Foundation
@testable import AttnServe

/// A server started on a free port for one test, over a temporary project folder whose Models/
/// is the repository's, and stopped at the end.
final class ServerHarness: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let project: URL
    let server: AttnServer
    let port: Int
    let token: String
    private let task: Task<Void, Error>

    /// Starts the server; `limits` bound it as `attnlab serve` would be bounded.
    init(limits: ServerSettings.Limits = ServerSettings.Limits()) async throws {
        project = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-serve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: project.appendingPathComponent("Models"),
                                                   withDestinationURL: Self.repository.appendingPathComponent("Models"))
        let settings = ServerSettings(host: "127.0.0.1", port: 0, project: project, limits: limits)
        token = settings.token
        let server = AttnServer(settings: settings)
        self.server = server
        let started = AsyncStream<Int>.makeStream()
        task = Task { try await server.run { _, port in started.continuation.yield(port) } }
        var chosen: Int?
        for await port in started.stream { chosen = port; break }
        guard let chosen else { throw HeadlessBrowser.Failure(description: "the server did not start") }
        port = chosen
    }

    /// The address a person opens.
    var address: String { AttnServer.address(host: "127.0.0.1", port: port, token: token) }

    func stop() async {
        task.cancel()
        _ = try? await task.value
        try? FileManager.default.removeItem(at: project)
    }

    /// Runs a test with a server, stopping it afterwards whatever happens.
    static func with(limits: ServerSettings.Limits = ServerSettings.Limits(), _ body: (ServerHarness) async throws -> Void) async throws {
        let server = try await ServerHarness(limits: limits)
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// One HTTP/1.1 request on a connection of its own; `token: true` adds the Authorization header.
    /// The blocking socket work runs off Swift's cooperative threads, which the server needs.
    func request(_ path: String, method: String = "GET", body: Data? = nil, token: Bool = true,
                 headers: [String: String] = [:], timeout: TimeInterval = 120) async throws -> HTTPResult {
        let raw = rawRequest(path, method: method, body: body, token: token, headers: headers)
        let port = self.port
        return try await offPool { try HTTPResult.exchange(port: port, raw, timeout: timeout) }
    }

    /// The bytes of a request.
    func rawRequest(_ path: String, method: String = "GET", body: Data? = nil, token: Bool = true,
                    headers: [String: String] = [:]) -> Data {
        var lines = ["\(method) \(path) HTTP/1.1"]
        var fields = ["Host": "127.0.0.1:\(port)", "Connection": "close"]
        if token { fields["Authorization"] = "token \(self.token)" }
        if let body { fields["Content-Length"] = "\(body.count)"; fields["Content-Type"] = "application/json" }
        fields.merge(headers) { $1 }
        lines += fields.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        var data = Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
        if let body { data.append(body) }
        return data
    }

    func post(_ path: String, _ json: Any, headers: [String: String] = [:], timeout: TimeInterval = 120) async throws -> HTTPResult {
        try await request(path, method: "POST", body: try JSONSerialization.data(withJSONObject: json), headers: headers, timeout: timeout)
    }
}

/// Runs blocking work (sockets, Chromium) on a thread of its own, not on Swift's cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// A response: status, headers (lower-cased names), body.
struct HTTPResult: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var jsonArray: [[String: Any]] { (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] ?? [] }

    /// Sends `data` and reads the answer until the server closes the connection.
    static func exchange(port: Int, _ data: Data, timeout: TimeInterval) throws -> HTTPResult {
        let connection = try TCPConnection(port: port)
        defer { connection.close() }
        try connection.write(data)
        var response = Data()
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let chunk = try connection.read(until: deadline) else { throw HeadlessBrowser.Failure(description: "no answer within \(Int(timeout)) s") }
            if chunk.isEmpty { break }
            response.append(chunk)
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else {
            throw HeadlessBrowser.Failure(description: "not an HTTP answer: \(String(decoding: response.prefix(200), as: UTF8.self))")
        }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResult(status: status, headers: headers, body: Data(response[split.upperBound...]))
    }
}

/// The eminem pair of the README's case study, as the app sends it.
enum Eminem {
    static let model: [String: Any] = ["id": "sentence-transformers/all-MiniLM-L6-v2", "task": "similarity", "threshold": 0.75,
                                       "labels": ["not-paraphrase", "paraphrase"]]
    static let input: [String: Any] = ["id": "eminem", "base": "sick", "a": "the eminem tune was totally awesome.",
                                       "b": "dude, that song from eminem was sick!"]
    static let terrific: [String: Any] = ["id": "terrific", "kind": "replace", "word": "sick", "with": "terrific", "in": "b"]

    static func analyze(perturbation: [String: Any]? = terrific, intervention: [String: Any]? = nil) -> [String: Any] {
        var body: [String: Any] = ["model": model, "input": input]
        if let perturbation { body["perturbation"] = perturbation }
        if let intervention { body["intervention"] = intervention }
        return body
    }
}
