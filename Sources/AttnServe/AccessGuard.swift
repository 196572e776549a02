import Foundation
import HTTPTypes
import Hummingbird

/// What every request must pass before a route sees it, as Jupyter does it:
/// - its Host is this server's own (an IP address, `localhost` or the host it was started on,
///   with its port), so a page of another site that rebinds its name to 127.0.0.1 is refused;
/// - its Origin, when it has one, is the same as its Host (no other site's page can call the API);
/// - it carries the access token: in the address once (`?token=…`, which sets a cookie and
///   redirects to the same address without it), then the cookie, or an `Authorization: token …`
///   header for programs. Files of runs are reached through a second secret in their path, so a
///   report's figures load inside its sandbox, where no cookie is sent.
/// Every response says not to sniff types, not to send a referrer, and not to cache.
struct AccessGuard<Context: RequestContext>: RouterMiddleware {
    let token: String
    let filesKey: String
    let port: Int
    let boundHost: String

    var cookieName: String { "attnlab-\(port)" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        if let refusal = refusal(request) {
            response = Self.forbidden(refusal)
        } else if request.uri.path.hasPrefix("/files/") {
            // The path carries the secret; the route checks it.
            response = try await next(request, context)
        } else if let query = request.uri.queryParameters.get("token"), Self.same(query, token) {
            if request.method == .get, !request.uri.path.hasPrefix("/api/") {
                // The first visit: keep the token as a cookie and drop it from the address (and history).
                response = Response(status: .seeOther, headers: [.location: request.uri.path == "" ? "/" : request.uri.path])
                response.setCookie(Cookie(name: cookieName, value: token, path: "/", httpOnly: true, sameSite: .strict))
            } else {
                response = try await next(request, context)
            }
        } else if authorized(request) {
            response = try await next(request, context)
        } else {
            response = Self.forbidden("this server needs its access token: open the address `attnlab serve` printed, with ?token=…")
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// Why the request is refused before its token is even looked at, or nil.
    func refusal(_ request: Request) -> String? {
        guard let host = request.head.authority, isOwnHost(host) else {
            return "this server answers only to its own address (Host \(request.head.authority ?? "missing") is not it)"
        }
        if let origin = request.headers[.origin] {
            guard origin.lowercased() == "http://" + host.lowercased() else {
                return "requests from other sites are refused (Origin \(origin))"
            }
        }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" {
            return "requests from other sites are refused"
        }
        return nil
    }

    /// An IP address (which no other site can make its name resolve to), `localhost`, or the
    /// host the server was started on, with the server's port.
    func isOwnHost(_ value: String) -> Bool {
        let value = value.lowercased()
        guard let colon = value.lastIndex(of: ":"), value[value.index(after: colon)...] == String(port) else { return false }
        var name = String(value[..<colon])
        if name.hasPrefix("[") && name.hasSuffix("]") {
            name = String(name.dropFirst().dropLast())
            return name.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } && name.contains(":")
        }
        if name == "localhost" || name == boundHost.lowercased() { return true }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part).map { _ in !part.isEmpty && part.count <= 3 } ?? false }
    }

    func authorized(_ request: Request) -> Bool {
        if let cookie = request.cookies[cookieName], Self.same(cookie.value, token) { return true }
        if let header = request.headers[.authorization] {
            for prefix in ["token ", "Bearer "] where header.hasPrefix(prefix) {
                if Self.same(String(header.dropFirst(prefix.count)), token) { return true }
            }
        }
        return false
    }

    /// Compares in time that does not depend on where the strings differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    static func forbidden(_ message: String) -> Response {
        var response = Response(status: .forbidden, body: .init(byteBuffer: ByteBuffer(string: "403 forbidden: \(message)\n")))
        response.headers[.contentType] = "text/plain; charset=utf-8"
        return response
    }
}
