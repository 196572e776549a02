import AttnCore
import Foundation

/// Assembles a view's single HTML file: inline CSS, the payload as JSON in a
/// `<script type="application/json">` element, inline scripts, and last the call that starts the
/// view (so that every script, the self-test's too, is in before it runs). Nothing is fetched.
enum Page {
    /// The page's bytes.
    static func html(payload: ViewPayload, scripts: [String], mode: DisplayMode) throws -> Data {
        try html(fields: payload, blob: payload.blob, view: payload.view, title: payload.title, scripts: scripts, mode: mode)
    }

    /// The page of any view: `fields` as the payload's JSON, `blob` as its packed numbers.
    static func html(fields payload: some Encodable, blob: [UInt8], view: ViewKind, title: String, scripts: [String],
                     mode: DisplayMode) throws -> Data {
        let data = try json(fields: payload, blob: blob)
        let css = try Resources.text("views.css")
        let javascript = try scripts.map { try Resources.text($0) }.joined(separator: "\n")

        var page = Data()
        page.reserveCapacity(data.count + css.utf8.count + javascript.utf8.count + 1024)
        func add(_ text: String) { page.append(contentsOf: Array(text.utf8)) }
        add("""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="AttnLab \(AttnLab.version)">
        <title>\(Markup.escape("AttnLab \(view.rawValue) view: \(title)"))</title>
        <style>
        \(css)
        </style>
        </head>
        <body class="attnlab mode-\(mode.rawValue) view-\(view.rawValue)">
        <div id="attnlab"><noscript>This AttnLab view needs JavaScript.</noscript></div>
        <script type="application/json" id="attnlab-payload">
        """)
        page.append(data)
        add("""
        </script>
        <script>
        \(javascript)
        AttnLab.boot('\(view.rawValue)');
        </script>
        </body>
        </html>

        """)
        return page
    }

    /// The payload element's text: `{"blob":"<base64>","fields":{…}}`, safe inside a script element.
    static func json(_ payload: ViewPayload) throws -> Data {
        try json(fields: payload, blob: payload.blob)
    }

    /// The same for any view's fields and packed numbers.
    static func json(fields payload: some Encodable, blob: [UInt8]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let fields = scriptSafe(try encoder.encode(payload))
        var data = Data()
        data.reserveCapacity(fields.count + blob.count * 4 / 3 + 32)
        data.append(contentsOf: Array("{\"blob\":\"".utf8))
        // The base64 alphabet needs no escaping inside a script element.
        data.append(Data(blob).base64EncodedData())
        data.append(contentsOf: Array("\",\"fields\":".utf8))
        data.append(fields)
        data.append(UInt8(ascii: "}"))
        return data
    }

    /// JSON that cannot end its script element or open a comment in it: `<`, `>`, `&` and the
    /// JavaScript line terminators U+2028/U+2029 become `\u` escapes (valid JSON, same value).
    static func scriptSafe(_ json: Data) -> Data {
        var out = Data()
        out.reserveCapacity(json.count + 64)
        var index = json.startIndex
        while index < json.endIndex {
            let byte = json[index]
            switch byte {
            case UInt8(ascii: "<"): out.append(contentsOf: Array("\\u003c".utf8))
            case UInt8(ascii: ">"): out.append(contentsOf: Array("\\u003e".utf8))
            case UInt8(ascii: "&"): out.append(contentsOf: Array("\\u0026".utf8))
            case 0xE2 where index + 2 < json.endIndex && json[index + 1] == 0x80 && (json[index + 2] == 0xA8 || json[index + 2] == 0xA9):
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
                out.append(contentsOf: Array((json[index + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8))
                index += 2
            default: out.append(byte)
            }
            index += 1
        }
        return out
    }

}

/// The views' JS and CSS, read from the package's resources once.
enum Resources {
    private static let cache = ResourceCache()

    /// The text of `Resources/<name>`.
    static func text(_ name: String) throws -> String {
        try cache.text(name)
    }

    private final class ResourceCache: @unchecked Sendable {
        /// Where the JS and CSS may be: the resource bundle beside the executable (or the test runner),
        /// then the source tree this was built from. Looked up by hand, because SwiftPM's
        /// `Bundle.module` stops the process when the bundle has been moved away.
        static let folders: [URL] = {
            let bundleName = "AttnLab_AttnViews.resources"
            let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
            var bundles = [Bundle.main.bundleURL.appendingPathComponent(bundleName), executable.appendingPathComponent(bundleName)]
            if let resources = Bundle.main.resourceURL { bundles.append(resources.appendingPathComponent(bundleName)) }
            let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")
            // `.copy("Resources")` keeps the folder; where it ends up inside the bundle differs between platforms.
            return bundles.flatMap { [$0.appendingPathComponent("Resources"), $0] } + [source]
        }()

        private let lock = NSLock()
        private var texts: [String: String] = [:]

        func text(_ name: String) throws -> String {
            lock.lock()
            defer { lock.unlock() }
            if let text = texts[name] { return text }
            guard let data = Self.folders.lazy.compactMap({ try? Data(contentsOf: $0.appendingPathComponent(name)) }).first else {
                throw CoreError("the view resource \(name) is missing", location: Self.folders.first?.path,
                                hint: "reinstall attnlab: its resource bundle AttnLab_AttnViews.resources must sit beside the executable")
            }
            let text = String(decoding: data, as: UTF8.self)
            texts[name] = text
            return text
        }
    }
}
