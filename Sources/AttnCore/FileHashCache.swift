import Foundation

/// SHA-256 digests of files, remembered by path, size, modification and change times, inode and
/// device, so that the weights of a model (hundreds of megabytes) are hashed once, not on every
/// command. A file whose size or times change is hashed again. The cache is one small JSON file
/// (`$XDG_CACHE_HOME/attnlab/file-hashes.json`, else `~/.cache/attnlab/file-hashes.json`), written
/// atomically; an entry that does not read as a digest is ignored, and a cache file that cannot be
/// read or written only costs the hashing.
public final class FileHashCache: @unchecked Sendable {
    /// What identifies one version of a file.
    struct Stamp: Codable, Equatable {
        var size: Int64
        var modified: Int64   // nanoseconds since 1970
        var changed: Int64    // nanoseconds since 1970 (set by the kernel; `touch` cannot set it back)
        var inode: UInt64
        var device: UInt64
    }

    struct Entry: Codable {
        var stamp: Stamp
        var sha256: String
    }

    /// The cache file, or nil for no cache (hash every time).
    public let url: URL?
    private let lock = NSLock()
    /// Entries most recently read from or written to `url`, and that file's stamp then.
    private var entries: [String: Entry]?
    private var entriesStamp: Stamp?
    /// At most this many files are remembered (beyond it, entries are dropped in path order).
    static let limit = 4096

    /// The process's cache at the standard place; nil when no home folder is known.
    public static let shared = FileHashCache(url: standardURL())

    public init(url: URL?) {
        self.url = url
    }

    static func standardURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("attnlab/file-hashes.json")
        }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/attnlab/file-hashes.json")
    }

    /// The hex SHA-256 of the file at `path`: from the cache when the file has not changed since
    /// it was hashed, otherwise computed and remembered.
    public func sha256(ofFileAt path: String) throws -> String {
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let stamp = Self.stamp(key) else { return try SHA256.hash(fileAt: path) }
        lock.lock()
        defer { lock.unlock() }
        if let entry = load()[key], entry.stamp == stamp { return entry.sha256 }
        let digest = try SHA256.hash(fileAt: path)
        // Remember the digest only if the file did not change while it was read.
        if Self.stamp(key) == stamp { store(key, Entry(stamp: stamp, sha256: digest)) }
        return digest
    }

    static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        func nanoseconds(_ time: timespec) -> Int64 { Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec) }
        return Stamp(size: Int64(info.st_size), modified: nanoseconds(info.st_mtim), changed: nanoseconds(info.st_ctim),
                     inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
    }

    /// The entries on disk (read again whenever the cache file has changed, so that other
    /// processes' additions are seen), keeping only well-formed ones.
    private func load() -> [String: Entry] {
        guard let url else { return entries ?? [:] }
        let fileStamp = Self.stamp(url.path)
        if let entries, fileStamp != nil, fileStamp == entriesStamp { return entries }
        guard let data = FileManager.default.contents(atPath: url.path),
              let decoded = try? JSONDecoder().decode([String: Entry].self, from: data)
        else { return entries ?? [:] }
        let valid = decoded.filter { path, entry in
            path.hasPrefix("/") && entry.stamp.size >= 0 && entry.sha256.utf8.count == 64
                && entry.sha256.utf8.allSatisfy { (48 ... 57).contains($0) || (97 ... 102).contains($0) }
        }
        entries = valid
        entriesStamp = fileStamp
        return valid
    }

    /// Adds an entry, dropping those of files that are gone or have changed since (their digests
    /// can never be used again: tests and temporary folders would otherwise fill the cache, and
    /// every command reads all of it).
    private func store(_ key: String, _ entry: Entry) {
        var all = load().filter { path, old in Self.stamp(path) == old.stamp }
        all[key] = entry
        if all.count > Self.limit {
            for old in all.keys.sorted().prefix(all.count - Self.limit) where old != key { all[old] = nil }
        }
        entries = all
        guard let url else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(all) else { return }
        try? AtomicFile.write(data, to: url)
        entriesStamp = Self.stamp(url.path)
    }
}
