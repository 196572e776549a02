import Foundation

/// `attnlab bench --serve`: how long the app takes from a change of text or perturbation to the
/// outputs and the current view, through the HTTP API (the page's two requests: the analysis, then
/// the view of base and variant) and in headless Chromium (from the input event to the views'
/// frames loaded), on a server started in this process.
public enum ServeBench {
    public struct Figures: Sendable {
        public var name: String
        public var milliseconds: [Double]

        public func percentile(_ p: Double) -> Double {
            let sorted = milliseconds.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
        }
    }

    public struct Report: Sendable {
        public var model: String
        public var tokens: Int
        public var workers: Int
        public var figures: [Figures]
    }

    /// A sentence pair of `all-MiniLM-L6-v2` with 32 tokens, the BertViz paper's pair lengthened.
    public static let pair = (a: "the eminem tune was totally awesome, and the crowd sang along.",
                              b: "dude, that song from eminem at the show last night was sick!")

    public static func run(model: String, edits: Int, view: String = "head", chromium: Bool = true,
                           log: @escaping @Sendable (String) -> Void = { _ in }) throws -> Report {
        let settings = ServerSettings(port: 0)
        let server = AttnServer(settings: settings)
        let started = DispatchSemaphore(value: 0)
        let portBox = PortBox()
        let task = Task {
            try await server.run { _, port in
                portBox.set(port)
                started.signal()
            }
        }
        defer { task.cancel() }
        guard started.wait(timeout: .now() + 60) == .success else { throw ServeError(.internalServerError, "the server did not start") }
        let port = portBox.port
        let client = Client(port: port, token: settings.token)

        // Load the model and check the input's length.
        let first = try client.analyze(model: model, a: pair.a, b: pair.b, replacement: "terrific")
        guard let variants = first["variants"] as? [[String: Any]], let tokens = (variants.first?["tokens"] as? [Any])?.count else {
            throw ServeError(.internalServerError, "the server did not analyse the pair: \(first["error"] as? String ?? "?")")
        }
        log("model \(model), \(tokens) tokens; \(edits) edits each")

        // Through the HTTP API: the analysis, then the current view of the base and the variant.
        // Even edits change sentence A's last word, odd ones the word replacing "sick" (as `AttnLabApp.bench` does).
        let endings = ["along", "loud", "too", "again", "all", "twice", "once", "live", "hard", "well"]
        let words = ["terrific", "great", "fine", "awesome", "cool", "bad", "superb", "nice", "ok", "wild"]
        var api: [Double] = []
        var a = pair.a, replacement = "terrific"
        for index in 0 ..< edits {
            let start = DispatchTime.now()
            if index % 2 == 0 {
                a = pair.a.replacingOccurrences(of: "along.", with: "\(endings[index % endings.count]).")
            } else {
                replacement = words[index % words.count]
            }
            let result = try client.analyze(model: model, a: a, b: pair.b, replacement: replacement)
            guard let shown = result["variants"] as? [[String: Any]] else {
                throw ServeError(.internalServerError, "analysis failed: \(result["error"] as? String ?? "?")")
            }
            for variant in shown.prefix(2) {
                let status = try client.get("/api/view?trace=\(variant["trace"] as? String ?? "")&view=\(view)&mode=light&layer=5").status
                guard status == 200 else { throw ServeError(.internalServerError, "a view answered \(status)") }
            }
            api.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
        }
        var figures = [Figures(name: "HTTP API", milliseconds: api)]

        if chromium {
            let browser = try HeadlessBrowser.launch()
            defer { browser.close() }
            try browser.navigate(AttnServer.address(host: "127.0.0.1", port: port, token: settings.token))
            try browser.wait("window.AttnLabApp && AttnLabApp.updates >= 1", timeout: 120)
            let literal = { (text: String) in String(decoding: try! JSONSerialization.data(withJSONObject: [text]), as: UTF8.self) + "[0]" }
            _ = try browser.evaluate("(async () => { await AttnLabApp.type('text-a', \(literal(pair.a))); await AttnLabApp.type('text-b', \(literal(pair.b))); })()")
            _ = try browser.evaluate("document.getElementById('view-kind').value = \(literal(view)); document.getElementById('view-kind').dispatchEvent(new Event('change'))")
            _ = try browser.evaluate("document.querySelector('.word[data-word=\"sick\"][data-segment=\"1\"]').click()")
            _ = try browser.evaluate("(() => { const box = document.getElementById('replacement'); box.value = 'terrific'; const done = AttnLabApp.nextUpdate(); box.dispatchEvent(new Event('input', {bubbles: true})); return done; })()")
            let times = try browser.evaluate("AttnLabApp.bench(\(edits))", timeout: Double(edits) * 10 + 60) as? [Any] ?? []
            let values = times.compactMap { ($0 as? Double) ?? ($0 as? Int).map(Double.init) }
            guard values.count == edits else { throw ServeError(.internalServerError, "the page's bench gave \(values.count) of \(edits) figures") }
            figures.append(Figures(name: "Chromium", milliseconds: values))
            // Where the page's time goes: the analysis answered, the outputs drawn, the views loaded.
            let parts = try browser.evaluate("JSON.stringify(AttnLabApp.latencies.slice(-\(edits)))") as? String ?? "[]"
            if let rows = try? JSONSerialization.jsonObject(with: Data(parts.utf8)) as? [[String: Double]] {
                func median(_ key: String) -> Double { let v = rows.compactMap { $0[key] }.sorted(); return v.isEmpty ? .nan : v[v.count / 2] }
                log(String(format: "in Chromium, medians: analysis answered %.1f ms (model work %.1f ms), outputs drawn %.1f ms, views loaded %.1f ms",
                           median("answer"), median("server"), median("draw"), median("views")))
            }
            let viewParts = try browser.evaluate("JSON.stringify(AttnLabApp.viewTimes.slice(-\(2 * edits)))") as? String ?? "[]"
            if let rows = try? JSONSerialization.jsonObject(with: Data(viewParts.utf8)) as? [[String: Any]] {
                func median(_ key: String) -> Double { let v = rows.compactMap { ($0[key] as? Double) ?? ($0[key] as? Int).map(Double.init) }.sorted(); return v.isEmpty ? .nan : v[v.count / 2] }
                log(String(format: "each view, medians: data fetched %.1f ms (%.0f kB), drawn by the view %.1f ms", median("fetch"), median("bytes") / 1000, median("drawn")))
            }
        }
        return Report(model: model, tokens: tokens, workers: settings.limits.workers, figures: figures)
    }

    /// A small blocking HTTP client with the token.
    struct Client {
        let port: Int
        let token: String

        func get(_ path: String) throws -> (status: Int, body: Data) {
            try exchange("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: token \(token)\r\nConnection: close\r\n\r\n", body: nil)
        }

        func analyze(model: String, a: String, b: String, replacement: String) throws -> [String: Any] {
            let body: [String: Any] = [
                "model": ["id": model], "input": ["id": "bench", "a": a, "b": b],
                "perturbation": ["id": "p", "kind": "replace", "word": "sick", "with": replacement, "in": "b"],
            ]
            let data = try JSONSerialization.data(withJSONObject: body)
            let head = "POST /api/analyze?session=bench&lane=analyze HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: token \(token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n"
            let (_, response) = try exchange(head, body: data)
            return (try JSONSerialization.jsonObject(with: response)) as? [String: Any] ?? [:]
        }

        func exchange(_ head: String, body: Data?) throws -> (status: Int, body: Data) {
            let connection = try TCPConnection(port: port)
            defer { connection.close() }
            try connection.write(Data(head.utf8) + (body ?? Data()))
            var response = Data()
            let deadline = Date().addingTimeInterval(120)
            while let chunk = try connection.read(until: deadline), !chunk.isEmpty { response.append(chunk) }
            guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw ServeError(.internalServerError, "no HTTP answer") }
            let status = Int(String(decoding: response.prefix(12), as: UTF8.self).dropFirst(9).prefix(3)) ?? 0
            return (status, Data(response[split.upperBound...]))
        }
    }
}
