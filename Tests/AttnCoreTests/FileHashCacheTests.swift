import Foundation
import Testing
@testable import AttnCore

/// A weight file is hashed once and its digest reused while the file is unchanged; a changed file
/// is hashed again, and a damaged cache file costs only the hashing.
@Suite struct FileHashCacheTests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-hash-cache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func write(_ text: String, _ name: String = "weights.bin") throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url, options: .atomic)
        return url.path
    }

    /// Replaces the digest the cache holds for `path`, to see whether a later call reads it.
    func plant(_ digest: String, for path: String, in cacheURL: URL) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: cacheURL)) as! [String: [String: Any]]
        object[path]!["sha256"] = digest
        try JSONSerialization.data(withJSONObject: object).write(to: cacheURL)
    }

    @Test func anUnchangedFileIsHashedOnce() throws {
        let path = try write("first version")
        let cacheURL = folder.appendingPathComponent("cache/file-hashes.json")
        let cache = FileHashCache(url: cacheURL)
        #expect(try cache.sha256(ofFileAt: path) == SHA256.hash(Data("first version".utf8)))
        // The digest now comes from the cache file: a planted one is returned as it is.
        let planted = String(repeating: "ab", count: 32)
        try plant(planted, for: path, in: cacheURL)
        #expect(try FileHashCache(url: cacheURL).sha256(ofFileAt: path) == planted)
    }

    @Test func aChangedFileIsHashedAgain() throws {
        let path = try write("first version")
        let cacheURL = folder.appendingPathComponent("file-hashes.json")
        let cache = FileHashCache(url: cacheURL)
        _ = try cache.sha256(ofFileAt: path)
        try plant(String(repeating: "0", count: 64), for: path, in: cacheURL)
        _ = try write("second version, longer")
        #expect(try cache.sha256(ofFileAt: path) == SHA256.hash(Data("second version, longer".utf8)))
        // Same size, new content, written in place a moment later: the times move.
        usleep(20_000)
        try Data("second version, LONGER".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try cache.sha256(ofFileAt: path) == SHA256.hash(Data("second version, LONGER".utf8)))
    }

    @Test func aDamagedCacheFileIsIgnoredAndReplaced() throws {
        let path = try write("weights")
        let cacheURL = folder.appendingPathComponent("file-hashes.json")
        try Data("{not json".utf8).write(to: cacheURL)
        #expect(try FileHashCache(url: cacheURL).sha256(ofFileAt: path) == SHA256.hash(Data("weights".utf8)))
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: cacheURL)) as? [String: Any]
        #expect(object?.keys.contains(path) == true)
        // An entry whose digest is not 64 hex digits is not trusted.
        try plant("../../etc/passwd", for: path, in: cacheURL)
        #expect(try FileHashCache(url: cacheURL).sha256(ofFileAt: path) == SHA256.hash(Data("weights".utf8)))
    }

    /// Files that are gone or changed leave the cache when another file is hashed, so that
    /// temporary models (tests, scratch folders) do not fill the file every command reads.
    @Test func entriesOfDeletedFilesAreDropped() throws {
        let cacheURL = folder.appendingPathComponent("file-hashes.json")
        let cache = FileHashCache(url: cacheURL)
        let kept = try write("kept", "kept.bin"), deleted = try write("deleted", "deleted.bin"), changed = try write("changed", "changed.bin")
        for path in [kept, deleted, changed] { _ = try cache.sha256(ofFileAt: path) }
        try FileManager.default.removeItem(atPath: deleted)
        usleep(20_000)
        _ = try write("changed again", "changed.bin")
        _ = try cache.sha256(ofFileAt: try write("new", "new.bin"))
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: cacheURL)) as? [String: Any]
        #expect(Set(object?.keys.map { $0 } ?? []) == [kept, folder.appendingPathComponent("new.bin").path])
        // Another process's addition is seen by this one.
        let other = try write("other", "other.bin")
        _ = try FileHashCache(url: cacheURL).sha256(ofFileAt: other)
        try plant(String(repeating: "cd", count: 32), for: other, in: cacheURL)
        #expect(try cache.sha256(ofFileAt: other) == String(repeating: "cd", count: 32))
    }

    @Test func withoutACacheFileEveryCallHashes() throws {
        let path = try write("weights")
        #expect(try FileHashCache(url: nil).sha256(ofFileAt: path) == SHA256.hash(Data("weights".utf8)))
        #expect(throws: (any Error).self) { try FileHashCache(url: nil).sha256(ofFileAt: folder.appendingPathComponent("absent").path) }
    }

    @Test func theCacheLivesInTheUsersCacheFolder() {
        #expect(FileHashCache.standardURL(environment: ["HOME": "/home/ada"])?.path == "/home/ada/.cache/attnlab/file-hashes.json")
        #expect(FileHashCache.standardURL(environment: ["HOME": "/home/ada", "XDG_CACHE_HOME": "/tmp/c"])?.path == "/tmp/c/attnlab/file-hashes.json")
        #expect(FileHashCache.standardURL(environment: [:]) == nil)
    }
}
