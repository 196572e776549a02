import Foundation

/// How a server is started: where it listens, its access token, the project folder it serves,
/// and the bounds on what a request may cost.
public struct ServerSettings: Sendable {
    /// The bounds on requests.
    public struct Limits: Sendable {
        /// Bytes of a request body (larger: 413).
        public var bodyBytes = 1 << 20
        /// Characters of one text (sentence A, B, the decoder text, a message).
        public var textCharacters = 20_000
        /// Chat messages of one request.
        public var messages = 64
        /// Jobs waiting for a worker (more: 503).
        public var queue = 64
        /// Workers running model code at once.
        public var workers = 2
        /// Models kept loaded.
        public var models = 3
        /// Bytes of traces kept for views and scans.
        public var traceBytes = 768 << 20

        public init() {}
    }

    /// The address to listen on: 127.0.0.1 unless asked otherwise.
    public var host: String
    /// 0: a free port, chosen when the server starts.
    public var port: Int
    /// The access token every request must carry (in the address, a cookie or an Authorization header).
    public var token: String
    /// The folder whose Experiments/, runs/ and Snapshots/ the app reads and writes (the working
    /// directory of `attnlab serve`).
    public var project: URL
    public var limits: Limits

    public init(host: String = "127.0.0.1", port: Int = 0, token: String = ServerSettings.randomToken(),
                project: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath), limits: Limits = Limits()) {
        self.host = host
        self.port = port
        self.token = token
        self.project = project
        self.limits = limits
    }

    /// 24 random bytes as 48 hexadecimal digits, from the system's generator.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0 ..< 24).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
    }

    /// True for the loopback addresses, which only this machine reaches.
    public var isLoopback: Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) || host.hasPrefix("127.")
    }
}
