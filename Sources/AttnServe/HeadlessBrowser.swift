import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Headless Chromium driven over the DevTools protocol (a websocket): opens a page, evaluates
/// script in it and waits for promises, takes screenshots. `attnlab bench --serve` times the app
/// with it as a person's browser runs it, and the tests drive the app with it.
///
/// ```swift
/// let browser = try HeadlessBrowser.launch()
/// try browser.navigate("http://127.0.0.1:8765/?token=…")
/// let title = try browser.evaluate("document.title") as? String
/// ```
public final class HeadlessBrowser {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let process: Process
    private let profile: URL
    private let socket: WebSocket
    private var nextID = 0

    private init(process: Process, profile: URL, socket: WebSocket) {
        self.process = process
        self.profile = profile
        self.socket = socket
    }

    deinit { close() }

    /// Chromium's executable: `chromium`, `chromium-browser` or `google-chrome` on the PATH.
    public static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for folder in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
                return "\(folder)/\(name)"
            }
        }
        throw Failure(description: "chromium is not installed: install Debian's package `chromium` (make setup does)")
    }

    /// Starts Chromium headless with a profile of its own and connects to its first page.
    public static func launch(width: Int = 1400, height: Int = 1000) throws -> HeadlessBrowser {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                             "--disable-dev-shm-usage", "--remote-debugging-port=0", "--user-data-dir=\(profile.path)",
                             "--window-size=\(width),\(height)", "--hide-scrollbars", "about:blank"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Chromium writes the port it chose into the profile once it listens.
        let portFile = profile.appendingPathComponent("DevToolsActivePort")
        let deadline = Date().addingTimeInterval(30)
        var port: Int?
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOf: portFile, encoding: .utf8), let first = text.split(separator: "\n").first, let value = Int(first) {
                port = value
                break
            }
            usleep(50_000)
        }
        guard let port else {
            process.terminate()
            throw Failure(description: "chromium did not open its DevTools port within 30 s")
        }
        let socket = try WebSocket.connect(port: port, path: try pagePath(port: port))
        let browser = HeadlessBrowser(process: process, profile: profile, socket: socket)
        _ = try browser.send("Page.enable")
        _ = try browser.send("Runtime.enable")
        return browser
    }

    /// The websocket path of the first page, from `/json/list`.
    static func pagePath(port: Int) throws -> String {
        for _ in 0 ..< 100 {
            if let body = try? HTTPGet.fetch(port: port, path: "/json/list"),
               let targets = try? JSONSerialization.jsonObject(with: body) as? [[String: Any]],
               let page = targets.first(where: { $0["type"] as? String == "page" }),
               let url = page["webSocketDebuggerUrl"] as? String, let range = url.range(of: "/devtools/") {
                return String(url[range.lowerBound...])
            }
            usleep(50_000)
        }
        throw Failure(description: "chromium lists no page to attach to")
    }

    /// Stops Chromium and removes its profile.
    public func close() {
        socket.close()
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Sends a DevTools command and returns its result (events in between are skipped).
    @discardableResult
    public func send(_ method: String, _ params: [String: Any] = [:], timeout: TimeInterval = 60) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        try socket.send(text: message)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            guard let data = try socket.receive(until: deadline) else {
                throw Failure(description: "\(method): no answer from chromium within \(Int(timeout)) s")
            }
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["id"] as? Int == id else { continue }
            if let error = object["error"] as? [String: Any] {
                throw Failure(description: "\(method): \(error["message"] as? String ?? "error")")
            }
            return object["result"] as? [String: Any] ?? [:]
        }
    }

    /// Opens `url` and waits for its load event.
    public func navigate(_ url: String, timeout: TimeInterval = 60) throws {
        _ = try send("Page.navigate", ["url": url], timeout: timeout)
        _ = try wait("document.readyState === 'complete'", timeout: timeout)
    }

    /// The value of `expression` (awaited when it is a promise), as JSON gives it.
    public func evaluate(_ expression: String, timeout: TimeInterval = 60) throws -> Any? {
        let result = try send("Runtime.evaluate", ["expression": expression, "awaitPromise": true, "returnByValue": true], timeout: timeout)
        if let exception = result["exceptionDetails"] as? [String: Any] {
            let text = (exception["exception"] as? [String: Any])?["description"] as? String ?? exception["text"] as? String ?? "exception"
            throw Failure(description: "evaluating \(expression.prefix(80)): \(text)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Waits until `condition` (a script expression) is true; throws after `timeout`.
    @discardableResult
    public func wait(_ condition: String, timeout: TimeInterval = 60) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? evaluate("Boolean(\(condition))")) as? Bool == true { return true }
            usleep(20_000)
        }
        throw Failure(description: "waited \(Int(timeout)) s for \(condition)")
    }

    /// A PNG of the page as the window shows it (`fullPage`: the whole page).
    public func screenshot(fullPage: Bool = false) throws -> Data {
        var params: [String: Any] = ["format": "png"]
        // The window is made as tall as the page rather than captured beyond it: frames of another
        // origin (the app's sandboxed views) are left blank beyond the viewport.
        var resized = false
        if fullPage, let metrics = try? send("Page.getLayoutMetrics"), let size = metrics["cssContentSize"] as? [String: Any],
           let width = size["width"] as? Double, let height = size["height"] as? Double {
            try send("Emulation.setDeviceMetricsOverride", ["width": Int(width.rounded(.up)), "height": Int(height.rounded(.up)),
                                                            "deviceScaleFactor": 1, "mobile": false])
            resized = true
            params["clip"] = ["x": 0, "y": 0, "width": width, "height": height, "scale": 1]
            // Let the frames draw at the new size.
            _ = try? evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))")
            usleep(300_000)
        }
        defer { if resized { _ = try? send("Emulation.clearDeviceMetricsOverride") } }
        let result = try send("Page.captureScreenshot", params)
        guard let text = result["data"] as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "chromium returned no screenshot")
        }
        return data
    }
}

/// A blocking HTTP/1.1 GET on 127.0.0.1, for DevTools' JSON list.
enum HTTPGet {
    static func fetch(port: Int, path: String) throws -> Data {
        let connection = try TCPConnection(port: port)
        defer { connection.close() }
        try connection.write(Data("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
        var response = Data()
        while let chunk = try connection.read(until: Date().addingTimeInterval(10)), !chunk.isEmpty { response.append(chunk) }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw HeadlessBrowser.Failure(description: "no HTTP answer") }
        return response[split.upperBound...]
    }
}

/// A TCP connection to 127.0.0.1 with reads that give up at a deadline.
final class TCPConnection {
    private var descriptor: Int32

    init(port: Int) throws {
        descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HeadlessBrowser.Failure(description: "cannot open a socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw HeadlessBrowser.Failure(description: "cannot connect to 127.0.0.1:\(port)")
        }
    }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                guard sent > 0 else { throw HeadlessBrowser.Failure(description: "the connection closed while writing") }
                offset += sent
            }
        }
    }

    /// Some bytes; empty at the end of the stream; nil when the deadline passed first.
    func read(until deadline: Date) throws -> Data? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let wait = max(0, Int32(deadline.timeIntervalSinceNow * 1000))
        let ready = poll(&poller, 1, wait)
        if ready == 0 { return nil }
        guard ready > 0 else { throw HeadlessBrowser.Failure(description: "poll failed") }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let count = Glibc.recv(descriptor, &buffer, buffer.count, 0)
        guard count >= 0 else { throw HeadlessBrowser.Failure(description: "the connection failed while reading") }
        return Data(buffer[0 ..< count])
    }

    func close() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }
}

/// The client side of a websocket (RFC 6455): text frames out, masked; whole messages in.
final class WebSocket {
    private let connection: TCPConnection
    private var buffer = Data()

    private init(connection: TCPConnection) { self.connection = connection }

    static func connect(port: Int, path: String) throws -> WebSocket {
        let connection = try TCPConnection(port: port)
        let key = Data((0 ..< 16).map { _ in UInt8.random(in: 0 ... 255) }).base64EncodedString()
        try connection.write(Data(("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n").utf8))
        let socket = WebSocket(connection: connection)
        let deadline = Date().addingTimeInterval(10)
        while socket.buffer.range(of: Data("\r\n\r\n".utf8)) == nil {
            guard let chunk = try connection.read(until: deadline), !chunk.isEmpty else {
                throw HeadlessBrowser.Failure(description: "chromium did not accept the DevTools websocket")
            }
            socket.buffer.append(chunk)
        }
        let end = socket.buffer.range(of: Data("\r\n\r\n".utf8))!
        let head = String(decoding: socket.buffer[..<end.lowerBound], as: UTF8.self)
        guard head.hasPrefix("HTTP/1.1 101") else { throw HeadlessBrowser.Failure(description: "websocket refused: \(head.prefix(80))") }
        socket.buffer = Data(socket.buffer[end.upperBound...])
        return socket
    }

    func send(text: Data) throws {
        var frame = Data([0x81])
        let count = text.count
        if count < 126 {
            frame.append(UInt8(count) | 0x80)
        } else if count <= 0xFFFF {
            frame.append(126 | 0x80)
            frame.append(contentsOf: [UInt8(count >> 8), UInt8(count & 0xFF)])
        } else {
            frame.append(127 | 0x80)
            frame.append(contentsOf: (0 ..< 8).reversed().map { UInt8((count >> ($0 * 8)) & 0xFF) })
        }
        let mask = (0 ..< 4).map { _ in UInt8.random(in: 0 ... 255) }
        frame.append(contentsOf: mask)
        frame.append(contentsOf: text.enumerated().map { $1 ^ mask[$0 & 3] })
        try connection.write(frame)
    }

    /// The next whole message (continuation frames joined), or nil at the deadline.
    func receive(until deadline: Date) throws -> Data? {
        var message = Data()
        while true {
            guard let (fin, opcode, payload) = try frame(until: deadline) else { return nil }
            switch opcode {
            case 0x8: throw HeadlessBrowser.Failure(description: "chromium closed the DevTools websocket")
            case 0x9: continue // ping: chromium does not need the pong to keep talking
            case 0xA: continue
            default:
                message.append(payload)
                if fin { return message }
            }
        }
    }

    private func frame(until deadline: Date) throws -> (Bool, UInt8, Data)? {
        func need(_ count: Int) throws -> Bool {
            while buffer.count < count {
                guard let chunk = try connection.read(until: deadline) else { return false }
                if chunk.isEmpty { throw HeadlessBrowser.Failure(description: "chromium closed the DevTools connection") }
                buffer.append(chunk)
            }
            return true
        }
        guard try need(2) else { return nil }
        let bytes = [UInt8](buffer.prefix(2))
        var length = Int(bytes[1] & 0x7F), offset = 2
        if length == 126 {
            guard try need(4) else { return nil }
            length = Int(buffer[buffer.startIndex + 2]) << 8 | Int(buffer[buffer.startIndex + 3])
            offset = 4
        } else if length == 127 {
            guard try need(10) else { return nil }
            length = (2 ..< 10).reduce(0) { $0 << 8 | Int(buffer[buffer.startIndex + $1]) }
            offset = 10
        }
        let masked = bytes[1] & 0x80 != 0
        let total = offset + (masked ? 4 : 0) + length
        guard try need(total) else { return nil }
        var payload = Data(buffer[(buffer.startIndex + total - length) ..< (buffer.startIndex + total)])
        if masked {
            let mask = [UInt8](buffer[(buffer.startIndex + offset) ..< (buffer.startIndex + offset + 4)])
            payload = Data(payload.enumerated().map { $1 ^ mask[$0 & 3] })
        }
        buffer = Data(buffer[(buffer.startIndex + total)...])
        return (bytes[0] & 0x80 != 0, bytes[0] & 0x0F, payload)
    }

    func close() { connection.close() }
}
