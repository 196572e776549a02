import CGit2
import Foundation

/// Process-wide libgit2 set-up and the small conversions every git file needs (`package`: the
/// package's git test helpers use them too).
package enum LibGit2 {
    /// `git_libgit2_init` runs once per process, the first time a repository is opened. libgit2 is
    /// never shut down: another thread may still hold a repository.
    static let initialised: Void = {
        _ = git_libgit2_init()
    }()

    /// libgit2's message for the last failure on this thread, if any.
    package static func lastErrorMessage() -> String? {
        guard let error = git_error_last(), let message = error.pointee.message else { return nil }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Turns a failing libgit2 return code into a `GitError` carrying libgit2's own message.
    static func check(_ code: Int32, _ message: @autoclosure () -> String, location: String?,
                      hint: String? = nil) throws {
        guard code < 0 else { return }
        throw error(code, message(), location: location, hint: hint)
    }

    /// A `GitError` for a failing libgit2 return code.
    static func error(_ code: Int32, _ message: String, location: String?, hint: String? = nil) -> GitError {
        let reason = lastErrorMessage()
        if code == GIT_ELOCKED.rawValue || reason?.contains(".lock") == true {
            return GitError(.locked, message, location: location, reason: reason,
                            hint: hint ?? "another git process seems to be running; wait for it to finish (or remove the stale .lock file) and try again")
        }
        return GitError(.libgit2, message, location: location, reason: reason, hint: hint)
    }

    /// The 40-digit hexadecimal form of an object id.
    package static func hex(_ oid: git_oid) -> String {
        var copy = oid
        var buffer = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ) + 1)
        git_oid_tostr(&buffer, buffer.count, &copy)
        return String(cString: buffer)
    }

    /// Parses a full 40-digit hexadecimal object id; nil for anything else.
    static func oid(_ hex: String) -> git_oid? {
        guard hex.utf8.count == Int(GIT_OID_HEXSZ), hex.allSatisfy(\.isHexDigit) else { return nil }
        var oid = git_oid()
        guard git_oid_fromstr(&oid, hex) == 0 else { return nil }
        return oid
    }

    static func equal(_ a: git_oid, _ b: git_oid) -> Bool {
        var a = a, b = b
        return git_oid_equal(&a, &b) != 0
    }

    /// Calls `body` with a `git_strarray` holding copies of `strings`, freed afterwards.
    static func withStrarray<T>(_ strings: [String], _ body: (inout git_strarray) throws -> T) rethrows -> T {
        let pointers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: max(strings.count, 1))
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        defer {
            for index in strings.indices { free(pointers[index]) }
            pointers.deallocate()
        }
        var array = git_strarray(strings: pointers, count: strings.count)
        return try body(&array)
    }
}

/// Paths inside a repository: always relative to the working tree, `/`-separated, no `.` or `..`.
enum RepositoryPath {
    /// The normal form of `path`: no leading `./`, no trailing `/`, no empty components.
    /// Throws for absolute paths and paths that leave the working tree. `""` is the whole tree.
    static func normalise(_ path: String, location: String?) throws -> String {
        guard !path.hasPrefix("/") else {
            throw GitError(.invalidPath, "the path '\(path)' is absolute", location: location,
                           hint: "give paths relative to the repository's working tree")
        }
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) where component != "." {
            guard component != ".." else {
                throw GitError(.invalidPath, "the path '\(path)' leaves the working tree", location: location,
                               hint: "give paths inside the repository, without '..'")
            }
            guard component != ".git" else {
                throw GitError(.invalidPath, "the path '\(path)' is inside .git", location: location,
                               hint: "snapshots live in the working tree, never in .git")
            }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// Whether `path` is `prefix` itself or lies under it (`""` contains everything).
    static func isInside(_ path: String, _ prefix: String) -> Bool {
        prefix.isEmpty || path == prefix || path.hasPrefix(prefix + "/")
    }

    /// Whether git's pathspec matching would read `path` as something other than a literal path.
    static func hasPathspecMagic(_ path: String) -> Bool {
        path.contains { "*?[]\\!:".contains($0) }
    }
}
