import Foundation

/// The project folder the server may read and write, and nothing outside it: names that become
/// paths are checked one component at a time, and every path is resolved (symbolic links too)
/// and must stay inside the folder.
public struct ProjectFolder: Sendable {
    /// The folder, with symbolic links resolved.
    public let root: URL

    public init(_ url: URL) {
        root = url.standardizedFileURL.resolvingSymlinksInPath()
    }

    /// True when `name` can be one path component: not empty, not `.` or `..`, no separator, no
    /// control character, not hidden, at most 255 bytes.
    public static func isSafeComponent(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix("."), name != "~" else { return false }
        return !name.unicodeScalars.contains { $0 == "/" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F || $0 == ":" }
    }

    /// True when `name` can name an experiment (and so a file `Experiments/NAME.yaml` and the
    /// folders `runs/NAME/` and `Snapshots/NAME/`): letters, digits, `-`, `_`, `.`, not starting with a dot.
    public static func isExperimentName(_ name: String) -> Bool {
        isSafeComponent(name) && name.utf8.count <= 100
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// The file or folder at `components` below the root, when every component is safe and the
    /// resolved path (links followed) is still inside the root; nil otherwise.
    public func resolve(_ components: [String]) -> URL? {
        guard !components.isEmpty, components.allSatisfy(Self.isSafeComponent) else { return nil }
        let url = components.reduce(root) { $0.appendingPathComponent($1) }
        let resolved = url.resolvingSymlinksInPath().standardizedFileURL
        return contains(resolved) ? resolved : nil
    }

    /// True when `url` lies inside the root (or is it).
    public func contains(_ url: URL) -> Bool {
        let path = url.standardizedFileURL.path
        let rootPath = root.path.hasSuffix("/") ? root.path : root.path + "/"
        return path == root.path || path.hasPrefix(rootPath)
    }
}
