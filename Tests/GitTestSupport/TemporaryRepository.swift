import AttnGit
import CGit2
import AttnCore
import Foundation

/// A git repository in a fresh temporary folder, removed when the value goes away, with the
/// few set-up steps the tests need (done through libgit2), and the `git` program for checking.
public final class TemporaryRepository {
    public let root: URL
    public let repository: GitRepository

    public static let author = Signature(name: "Ada Tester", email: "ada@example.com",
                                  date: Date(timeIntervalSince1970: 1_700_000_000), timeZoneOffsetMinutes: 60)

    public init(initialBranch: String = "main") throws {
        root = try makeTemporaryFolder()
        repository = try GitRepository.create(at: root, initialBranch: initialBranch)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    public func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    /// Modification times handed out by `write`, one whole second apart.
    private var clock = Date().addingTimeInterval(-7200).timeIntervalSince1970.rounded(.down)

    /// Writes a working-tree file. Its modification time is set in the past, so that index
    /// entries made from it are not "racily clean" (git would smudge them on the next index
    /// write), and a second after the previous write's, so that git's stat check sees every edit.
    public func write(_ text: String, to path: String) throws {
        let url = url(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        clock += 1
        let past = Date(timeIntervalSince1970: clock)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: url.path)
    }

    public func read(_ path: String) -> String? {
        (try? Data(contentsOf: url(path))).map { String(decoding: $0, as: UTF8.self) }
    }

    public func delete(_ path: String) throws {
        try FileManager.default.removeItem(at: url(path))
    }

    /// Writes `files` and commits everything under `prefix` with the test author.
    @discardableResult
    public func record(_ files: [String: String], under prefix: String, message: String, date: Date? = nil) throws -> String? {
        for (path, text) in files { try write(text, to: path) }
        var author = Self.author
        if let date { author.date = date }
        return try repository.commitChanges(under: prefix, message: message, author: author)
    }

    /// `git add` (or `git rm --cached` for a missing file) of `paths`, through libgit2.
    public func stage(_ paths: String...) throws {
        var index: OpaquePointer?
        try libgit2(git_repository_index(&index, repository.pointer))
        defer { git_index_free(index) }
        try libgit2(git_index_read(index, 1))
        for path in paths {
            if FileManager.default.fileExists(atPath: url(path).path) {
                try libgit2(git_index_add_bypath(index, path))
            } else {
                try libgit2(git_index_remove_bypath(index, path))
            }
        }
        try libgit2(git_index_write(index))
    }

    /// Points HEAD at `commit` directly (detached HEAD), through libgit2.
    public func detachHead(at commit: String) throws {
        var oid = git_oid()
        try libgit2(git_oid_fromstr(&oid, commit))
        try libgit2(git_repository_set_head_detached(repository.pointer, &oid))
    }

    /// Every file of the working tree (outside .git), path → bytes.
    public func workingTreeBytes() throws -> [String: Data] {
        var result: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        let base = root.resolvingSymlinksInPath().path
        while let url = enumerator?.nextObject() as? URL {
            if url.lastPathComponent == ".git" { enumerator?.skipDescendants(); continue }
            guard (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true else { continue }
            result[String(url.resolvingSymlinksInPath().path.dropFirst(base.count + 1))] = try Data(contentsOf: url)
        }
        return result
    }

    /// Every index entry with all of its fields (times, device, inode, mode, id, size, flags),
    /// read from the index file by a fresh libgit2 index; keyed by "path:stage".
    public func indexEntries() throws -> [String: String] {
        var index: OpaquePointer?
        try libgit2(git_index_open(&index, repository.gitDirectory.appendingPathComponent("index").path))
        defer { git_index_free(index) }
        var result: [String: String] = [:]
        for position in 0 ..< git_index_entrycount(index) {
            guard let entry = git_index_get_byindex(index, position)?.pointee else { continue }
            let path = String(cString: entry.path)
            let stage = (Int(entry.flags) >> 12) & 3
            result["\(path):\(stage)"] = "ctime \(entry.ctime.seconds).\(entry.ctime.nanoseconds)"
                + " mtime \(entry.mtime.seconds).\(entry.mtime.nanoseconds) dev \(entry.dev) ino \(entry.ino)"
                + " mode \(String(entry.mode, radix: 8)) uid \(entry.uid) gid \(entry.gid) size \(entry.file_size)"
                + " id \(LibGit2.hex(entry.id)) flags \(entry.flags) \(entry.flags_extended)"
        }
        return result
    }

    /// The index file's bytes.
    public func indexFileBytes() throws -> Data {
        try Data(contentsOf: repository.gitDirectory.appendingPathComponent("index"))
    }

    /// Runs the `git` program in the repository and returns its standard output.
    @discardableResult
    public func git(_ arguments: String...) throws -> String {
        try runGit(arguments, in: root)
    }
}

/// Throws when a libgit2 call made by a test's set-up fails.
public func libgit2(_ code: Int32, file: String = #file, line: Int = #line) throws {
    guard code >= 0 else {
        throw TestFailure("libgit2 call failed (\(code)) at \(file):\(line): \(LibGit2.lastErrorMessage() ?? "")")
    }
}

/// Runs the `git` program, to check results and for set-ups libgit2 makes awkward (a conflicting
/// merge). It is kept from the user's configuration and from rewriting the index on its own
/// (`GIT_OPTIONAL_LOCKS=0`: `git status` would otherwise refresh it).
@discardableResult
public func runGit(_ arguments: [String], in folder: URL, allowFailure: Bool = false) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git"] + arguments
    process.currentDirectoryURL = folder
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_CONFIG_NOSYSTEM"] = "1"
    environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
    environment["GIT_OPTIONAL_LOCKS"] = "0"
    environment["GIT_AUTHOR_NAME"] = "Git Program"
    environment["GIT_AUTHOR_EMAIL"] = "program@example.com"
    environment["GIT_COMMITTER_NAME"] = "Git Program"
    environment["GIT_COMMITTER_EMAIL"] = "program@example.com"
    environment["LC_ALL"] = "C"
    process.environment = environment
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readUntilEnd()
    let errorData = errors.fileHandleForReading.readUntilEnd()
    process.waitUntilExit()
    if process.terminationStatus != 0 && !allowFailure {
        throw TestFailure("git \(arguments.joined(separator: " ")) failed: \(String(decoding: errorData, as: UTF8.self))")
    }
    return String(decoding: data, as: UTF8.self)
}

public func makeTemporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("attnlab-git-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.resolvingSymlinksInPath()
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
