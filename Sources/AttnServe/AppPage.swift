import Foundation

/// The app: one page, its CSS and script inline (nothing is fetched but the API), the script
/// carrying the nonce the page's Content-Security-Policy allows.
enum AppPage {
    static func html(nonce: String) throws -> String {
        let page = try AppResources.text("app.html")
        return page
            .replacingOccurrences(of: "/*APP_CSS*/", with: try AppResources.text("app.css"))
            .replacingOccurrences(of: "<script>", with: "<script nonce=\"\(nonce)\">")
            .replacingOccurrences(of: "/*APP_JS*/", with: try AppResources.text("app.js"))
    }
}

/// The app's files, read from the package's resources once.
enum AppResources {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var texts: [String: String] = [:]

    /// Where they may be: the resource bundle beside the executable (or the test runner), then
    /// the source tree this was built from (looked up by hand, as AttnViews does, because
    /// `Bundle.module` stops the process when the bundle has been moved away).
    static let folders: [URL] = {
        let bundleName = "AttnLab_AttnServe.resources"
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        var bundles = [Bundle.main.bundleURL.appendingPathComponent(bundleName), executable.appendingPathComponent(bundleName)]
        if let resources = Bundle.main.resourceURL { bundles.append(resources.appendingPathComponent(bundleName)) }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources")
        return bundles.flatMap { [$0.appendingPathComponent("Resources"), $0] } + [source]
    }()

    static func text(_ name: String) throws -> String {
        try lock.withLock {
            if let text = texts[name] { return text }
            guard let data = folders.lazy.compactMap({ try? Data(contentsOf: $0.appendingPathComponent(name)) }).first else {
                throw ServeError(.internalServerError, "the app's file \(name) is missing",
                                 hint: "reinstall attnlab: its resource bundle AttnLab_AttnServe.resources must sit beside the executable")
            }
            let text = String(decoding: data, as: UTF8.self)
            texts[name] = text
            return text
        }
    }
}
