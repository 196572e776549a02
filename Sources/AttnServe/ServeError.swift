import AttnCore
import HTTPTypes

/// The error of AttnServe: what was wrong with a request, with the HTTP status it is answered with.
/// The page shows `description`; nothing else of the server's state reaches it.
public struct ServeError: ExplainedError {
    public var status: HTTPResponse.Status
    public var location: String?
    public var message: String
    public var hint: String?

    public init(_ status: HTTPResponse.Status, _ message: String, location: String? = nil, hint: String? = nil) {
        self.status = status
        self.message = message
        self.location = location
        self.hint = hint
    }

    static func notFound(_ what: String) -> ServeError {
        ServeError(.notFound, "\(what) not found")
    }

    static func badRequest(_ message: String, hint: String? = nil) -> ServeError {
        ServeError(.badRequest, message, hint: hint)
    }

    /// The request was replaced by a newer one of the same lane before it finished.
    static let superseded = ServeError(.conflict, "superseded by a newer request")

    /// Every worker is busy and the queue is full.
    static let busy = ServeError(.serviceUnavailable, "the server is busy", hint: "try again in a moment")
}
