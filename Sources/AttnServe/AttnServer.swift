import AttnModels
import Foundation
import Hummingbird
import Logging
import NIOCore

/// The request context of the app's routes: the body limit is the server's.
struct AppContext: RequestContext {
    var coreContext: CoreRequestContextStorage

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    var maxUploadSize: Int { ServerSettings.Limits().bodyBytes }
}

/// The local server of `attnlab serve`: the app's page and its JSON API over the library, behind
/// the access guard. `run` serves until the task is cancelled or the process is interrupted.
///
/// ```swift
/// let server = AttnServer(settings: ServerSettings(port: 0))
/// try await server.run { address in print(address) }
/// ```
public final class AttnServer: Sendable {
    public let settings: ServerSettings
    let queue: ComputeQueue
    let models: ModelCache
    let traces: TraceStore
    let lanes = Lanes()
    let project: ProjectFolder
    /// The second secret, in the paths of run files (see `AccessGuard`).
    let filesKey = ServerSettings.randomToken()

    public init(settings: ServerSettings, locator: ModelLocator? = nil) {
        self.settings = settings
        queue = ComputeQueue(workers: settings.limits.workers, capacity: settings.limits.queue)
        project = ProjectFolder(settings.project)
        models = ModelCache(locator: locator ?? .standard(workingDirectory: project.root), queue: queue, capacity: settings.limits.models)
        traces = TraceStore(budgetBytes: settings.limits.traceBytes)
    }

    deinit { queue.stop() }

    /// The address a person opens: `http://HOST:PORT/?token=…`.
    public static func address(host: String, port: Int, token: String) -> String {
        let shown = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "http://\(shown):\(port)/?token=\(token)"
    }

    /// Serves until cancelled. `started` gets the address (with the port chosen, when 0 was asked).
    public func run(started: @escaping @Sendable (_ address: String, _ port: Int) -> Void = { _, _ in }) async throws {
        let router = Router(context: AppContext.self)
        let portBox = PortBox()
        router.add(middleware: PortGuard(box: portBox, token: settings.token, filesKey: filesKey, boundHost: settings.host))
        Routes(server: self).add(to: router)
        var logger = Logger(label: "attnlab.serve")
        // Hummingbird reports the connections a stop cancels as errors; nothing a person needs.
        logger.logLevel = .critical
        let settings = self.settings
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: nil, reuseAddress: true),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                portBox.set(port)
                started(Self.address(host: settings.host, port: port, token: settings.token), port)
            },
            logger: logger
        )
        try await app.run()
    }
}

/// The port, known once the server listens (port 0 asks for a free one).
final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func set(_ port: Int) { lock.withLock { value = port } }
    var port: Int { lock.withLock { value } }
}

/// The access guard, made once the port is known.
struct PortGuard<Context: RequestContext>: RouterMiddleware {
    let box: PortBox
    let token: String
    let filesKey: String
    let boundHost: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await AccessGuard<Context>(token: token, filesKey: filesKey, port: box.port, boundHost: boundHost)
            .handle(request, context: context, next: next)
    }
}
