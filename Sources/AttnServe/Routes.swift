import AttnCore
import AttnExperiments
import AttnModels
import AttnReports
import AttnSnapshots
import AttnViews
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The routes: each reads the request, calls the `Workbench` or a library function on a compute
/// worker, and answers JSON (or a page). Requests of one page's lane (`?session=…&lane=…`)
/// replace each other: typing a letter cancels the trace of the word before.
struct Routes: Sendable {
    let server: AttnServer

    var settings: ServerSettings { server.settings }
    var workbench: Workbench { Workbench(traces: server.traces, limits: settings.limits) }

    func add(to router: Router<AppContext>) {
        router.get("/") { _, _ in try appPage() }
        router.get("/api/state") { _, _ in try await json { try await state() } }
        router.get("/api/model") { request, _ in
            try await json {
                let id = try required(request, "id")
                let loaded = try await server.models.model(id)
                return Workbench.info(loaded.model, chat: loaded.chat != nil)
            }
        }
        router.post("/api/analyze") { request, _ in
            try await json {
                let body = try await decode(AnalyzeRequest.self, request)
                let loaded = try await server.models.model(body.model.id)
                let flag = flag(request)
                let workbench = self.workbench
                return try await server.queue.run(flag) { try workbench.analyze(body, model: loaded.model, chat: loaded.chat, flag: flag) }
            }
        }
        router.post("/api/scan") { request, _ in
            try await json {
                let body = try await decode(ScanRequest.self, request)
                let loaded = try await server.models.model(body.model.id)
                let flag = flag(request)
                let workbench = self.workbench
                return try await server.queue.run(flag) { try workbench.scan(body, model: loaded.model, flag: flag) }
            }
        }
        router.get("/api/view") { request, _ in try await viewPage(request, payload: false) }
        router.get("/api/payload") { request, _ in try await viewPage(request, payload: true) }
        router.get("/api/trace/:id") { request, context in try await traceFile(request, context) }
        router.post("/api/save") { request, _ in
            try await json {
                let body = try await decode(SaveRequest.self, request)
                return try await server.queue.run { try save(body) }
            }
        }
        router.get("/api/runs") { _, _ in try await json { try await server.queue.run { runs() } } }
        router.get("/api/review") { request, _ in try await reviewPage(request) }
        router.get("/files/:key/**") { request, context in try files(request, context) }
    }

    // MARK: pages

    func appPage() throws -> Response {
        let nonce = ServerSettings.randomToken()
        var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: try AppPage.html(nonce: nonce))))
        response.headers[.contentType] = "text/html; charset=utf-8"
        // Only the page's own script runs; it talks only to this server; nothing may frame it.
        response.headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'unsafe-inline'; "
            + "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return response
    }

    /// A page AttnLab rendered (a view, a report, a review): it runs in a sandbox of its own origin,
    /// so its scripts can reach neither the app nor the API.
    static func sandboxed(_ data: Data, type: String = "text/html; charset=utf-8") -> Response {
        var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        response.headers[.contentType] = type
        response.headers[.contentSecurityPolicy] = "sandbox allow-scripts allow-downloads allow-popups; frame-ancestors 'self'"
        return response
    }

    func state() async throws -> StateResponse {
        let models = server.models.available().map(\.id)
        return StateResponse(models: models, loaded: await server.models.loaded(), files: "/files/\(server.filesKey)/",
                             limits: .init(textCharacters: settings.limits.textCharacters, bodyBytes: settings.limits.bodyBytes,
                                           messages: settings.limits.messages),
                             version: AttnLab.version, project: server.project.root.lastPathComponent)
    }

    /// `attnlab view` of a stored trace, for an iframe; or its data alone, for a frame already
    /// showing the view (the page posts it there, and the view draws it).
    func viewPage(_ request: Request, payload: Bool) async throws -> Response {
        do {
            let query = request.uri.queryParameters
            let id = try required(request, "trace")
            guard let kind = ViewKind(rawValue: query.get("view") ?? "head") else { throw ServeError.badRequest("view is head, model or neuron") }
            var options = ViewOptions()
            options.layer = query.get("layer").flatMap { Int($0) }
            options.selectedHeads = query.get("heads").map { $0.split(separator: ",").compactMap { Int($0) } }.flatMap { $0.isEmpty ? nil : $0 }
            options.token = query.get("token").flatMap { Int($0) }
            options.mode = query.get("mode").flatMap(DisplayMode.init(rawValue:)) ?? .light
            options.sentences = query.get("sentences").flatMap(SentenceFilter.init(rawValue:)) ?? .all
            options.stack = query.get("stack").flatMap(StackKind.init(rawValue:))
            options.title = query.get("title").map { String($0.prefix(200)) }
            let flag = flag(request)
            let workbench = self.workbench
            let chosen = options
            let page = try await server.queue.run(flag) { try workbench.view(trace: id, kind: kind, options: chosen, payload: payload, flag: flag) }
            if payload {
                var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: page)))
                response.headers[.contentType] = "application/json"
                return response
            }
            return Self.sandboxed(page)
        } catch {
            return Self.failure(error, plain: true)
        }
    }

    /// A stored trace as a safetensors file, as `attnlab trace --out` writes it.
    func traceFile(_ request: Request, _ context: AppContext) async throws -> Response {
        do {
            let id = String((context.parameters.get("id") ?? "").replacingOccurrences(of: ".safetensors", with: ""))
            guard let trace = server.traces.trace(id) else { throw ServeError.notFound("trace") }
            let data = try await server.queue.run { try TraceFile.encode(trace) }
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: data)))
            response.headers[.contentType] = "application/octet-stream"
            response.headers[.contentDisposition] = "attachment; filename=\"\(id).safetensors\""
            return response
        } catch {
            return Self.failure(error, plain: true)
        }
    }

    /// `attnlab review`: what moved between two revisions' snapshots.
    func reviewPage(_ request: Request) async throws -> Response {
        do {
            let query = request.uri.queryParameters
            let experiment = query.get("experiment").flatMap { $0.isEmpty ? nil : $0 }
            if let experiment, !ProjectFolder.isExperimentName(experiment) { throw ServeError.notFound("experiment") }
            let sides = [query.get("a"), query.get("b")].compactMap { $0 }.filter { !$0.isEmpty }
            for side in sides where side.hasPrefix("-") || side.count > 200 || side.contains("..") && side.contains("/") {
                throw ServeError.badRequest("\"\(side)\" is not a revision")
            }
            let root = server.project.root
            let html = try await server.queue.run { () -> String in
                let workspace = try SnapshotWorkspace.discover(from: root, requireRepository: true)
                let repository = try workspace.requireRepository(for: "review")
                for side in sides where ReviewSide(parsing: side) != .workingTree { _ = try repository.resolve(side) }
                let (a, b): (ReviewSide, ReviewSide)
                switch sides.count {
                case 0: (a, b) = try workspace.defaultReviewSides()
                case 1: (a, b) = (ReviewSide(parsing: sides[0]), .workingTree)
                default: (a, b) = (ReviewSide(parsing: sides[0]), ReviewSide(parsing: sides[1]))
                }
                return try ReviewPage.render(try workspace.review(a, b, experiment: experiment))
            }
            return Self.sandboxed(Data(html.utf8))
        } catch {
            return Self.failure(error, plain: true)
        }
    }

    // MARK: project files

    /// Save as experiment: `Experiments/NAME.yaml`, read back by the parser before it is written,
    /// so that a file the app writes is one `attnlab run` accepts.
    func save(_ request: SaveRequest) throws -> SaveResponse {
        let draft = request.draft
        guard ProjectFolder.isExperimentName(draft.name) else {
            throw ServeError.badRequest("\"\(draft.name)\" cannot name an experiment", hint: "use letters, digits, '-', '_' and '.'")
        }
        for input in draft.inputs { try workbench.check(input) }
        let yaml = try draft.yaml()
        let relative = "Experiments/\(draft.name).yaml"
        let folder = server.project.root.appendingPathComponent("Experiments")
        do {
            _ = try ExperimentParser.parse(yaml, file: relative, folder: folder)
        } catch let error as ExperimentError {
            throw ServeError(.unprocessableContent, "the experiment would not run: \(error.description)")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard let url = server.project.resolve(["Experiments", "\(draft.name).yaml"]) else { throw ServeError.notFound("that path") }
        if FileManager.default.fileExists(atPath: url.path), request.overwrite != true {
            throw ServeError(.conflict, "\(relative) exists", hint: "choose another name, or overwrite it")
        }
        try AtomicFile.write(Data(yaml.utf8), to: url)
        return SaveResponse(path: relative, yaml: yaml)
    }

    /// The runs under runs/, newest first.
    func runs() -> [RunEntry] {
        let fm = FileManager.default
        guard let runsFolder = server.project.resolve(["runs"]) else { return [] }
        var entries: [RunEntry] = []
        for experiment in (try? fm.contentsOfDirectory(atPath: runsFolder.path)) ?? [] where ProjectFolder.isSafeComponent(experiment) {
            for run in (try? fm.contentsOfDirectory(atPath: runsFolder.appendingPathComponent(experiment).path)) ?? []
            where ProjectFolder.isSafeComponent(run) {
                guard let folder = server.project.resolve(["runs", experiment, run]) else { continue }
                let manifest = try? Manifest.read(folder.appendingPathComponent("manifest.json"))
                let hasReport = fm.fileExists(atPath: folder.appendingPathComponent("report.html").path)
                entries.append(RunEntry(experiment: experiment, run: run, passed: manifest?.passed, variants: manifest?.variantCount,
                                        expectations: manifest?.expectations.count,
                                        failed: manifest.map { $0.expectations.filter { !$0.passed }.count },
                                        started: manifest?.timing.started,
                                        report: hasReport ? "runs/\(experiment)/\(run)/report.html" : nil,
                                        manifest: manifest == nil ? nil : "runs/\(experiment)/\(run)/manifest.json"))
            }
        }
        return Array(entries.sorted { ($0.started ?? $0.run, $0.experiment) > ($1.started ?? $1.run, $1.experiment) }.prefix(500))
    }

    /// A file of a run (`/files/KEY/runs/EXPERIMENT/RUN/…`): only below runs/, every component
    /// checked, links resolved inside the project. Anything else is 404.
    func files(_ request: Request, _ context: AppContext) throws -> Response {
        guard let key = context.parameters.get("key"), AccessGuard<AppContext>.same(key, server.filesKey) else {
            return AccessGuard<AppContext>.forbidden("this address needs the server's files key")
        }
        let components = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }
        guard components.first == "runs", components.count >= 2, let url = server.project.resolve(components),
              let runs = server.project.resolve(["runs"]), url.path.hasPrefix(runs.path + "/") else {
            return Self.failure(ServeError.notFound("that file"), plain: true)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let data = FileManager.default.contents(atPath: url.path) else {
            return Self.failure(ServeError.notFound("that file"), plain: true)
        }
        let types = ["html": "text/html; charset=utf-8", "png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf",
                     "json": "application/json", "yaml": "text/plain; charset=utf-8", "txt": "text/plain; charset=utf-8"]
        return Self.sandboxed(data, type: types[url.pathExtension.lowercased()] ?? "application/octet-stream")
    }

    // MARK: helpers

    /// A cancel flag for the request's lane.
    func flag(_ request: Request) -> CancelFlag {
        let query = request.uri.queryParameters
        return server.lanes.begin(session: query.get("session").map { String($0.prefix(64)) }, lane: query.get("lane").map { String($0.prefix(64)) })
    }

    func required(_ request: Request, _ name: String) throws -> String {
        guard let value = request.uri.queryParameters.get(name), !value.isEmpty else { throw ServeError.badRequest("give \(name)=") }
        return value
    }

    /// The body, at most the limit (more: 413), decoded from JSON (not JSON: 400).
    func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: settings.limits.bodyBytes)
        } catch is NIOTooManyBytesError {
            throw ServeError(.contentTooLarge, "the request is larger than \(settings.limits.bodyBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            throw ServeError.badRequest("the request is not what this route reads: \(TraceFile.describe(error))")
        }
    }

    func json<T: Encodable>(_ body: () async throws -> T) async throws -> Response {
        do {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            var response = Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(try await body()))))
            response.headers[.contentType] = "application/json"
            return response
        } catch {
            return Self.failure(error, plain: false)
        }
    }

    /// An error as JSON `{"error": …}` (or plain text, for pages), with the status it calls for:
    /// the server's own errors carry one; the library's errors are the request's fault (400).
    static func failure(_ error: Error, plain: Bool) -> Response {
        let status: HTTPResponse.Status
        let message: String
        switch error {
        case let error as ServeError: (status, message) = (error.status, error.description)
        case is NIOTooManyBytesError: (status, message) = (.contentTooLarge, "the request is too large")
        case let error as ExplainedError: (status, message) = (.badRequest, error.description)
        case let error as TokenizerError: (status, message) = (.badRequest, error.description)
        case is CancellationError: (status, message) = (ServeError.superseded.status, ServeError.superseded.description)
        default: (status, message) = (.internalServerError, String(describing: error))
        }
        let body: Data
        if plain {
            body = Data("\(status.code) \(message)\n".utf8)
        } else {
            body = (try? JSONEncoder().encode(ErrorResponse(error: message))) ?? Data()
        }
        var response = Response(status: status, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        response.headers[.contentType] = plain ? "text/plain; charset=utf-8" : "application/json"
        return response
    }
}
