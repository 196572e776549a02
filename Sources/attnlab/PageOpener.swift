import AttnCore
import Foundation

/// Opens a written page in the browser, for `--open`: the program `$BROWSER` names (the first of a
/// colon-separated list, as Python's webbrowser reads it), else `xdg-open` (Linux) or `open` (macOS).
enum PageOpener {
    static func open(_ url: URL, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let browser = environment["BROWSER"].flatMap { $0.split(separator: ":").first.map(String.init) }
        #if os(macOS)
        let fallback = "open"
        #else
        let fallback = "xdg-open"
        #endif
        let program = browser ?? fallback
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program, url.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            throw CoreError("wrote the page, but could not start \(program) to open it: \(error.localizedDescription)", location: url.path,
                            hint: "open it yourself, or set $BROWSER to your browser")
        }
        guard process.terminationStatus == 0 else {
            throw CoreError("wrote the page, but \(program) could not open it (exit status \(process.terminationStatus))", location: url.path,
                            hint: browser == nil ? "open it yourself, or set $BROWSER to your browser" : "open it yourself, or check $BROWSER")
        }
    }
}
