import AttnCore
import Foundation
import GitTestSupport
import Testing
@testable import AttnGit

/// The write-all-or-nothing step of `record`.
@Suite struct AtomicDirectoryUpdateTests {
    /// Every folder and file under `root` (hidden ones too): path → bytes, or "folder".
    func contents(of root: URL) throws -> [String: String] {
        var result: [String: String] = [:]
        let base = root.resolvingSymlinksInPath().path
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey])
        while let url = enumerator?.nextObject() as? URL {
            let path = String(url.resolvingSymlinksInPath().path.dropFirst(base.count + 1))
            if try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory == true {
                result[path] = "folder"
            } else {
                result[path] = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            }
        }
        return result
    }

    func makeFolder(_ files: [String: String]) throws -> URL {
        let root = try makeTemporaryFolder().appendingPathComponent("Snapshots/eminem")
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    /// Keeps a.json, rewrites b.json, removes old/c.json, adds new/d.json.
    func sampleUpdate(_ root: URL) throws -> AtomicDirectoryUpdate {
        var update = AtomicDirectoryUpdate(root: root)
        try update.write(Data("same\n".utf8), to: "m/a.json")
        try update.write(Data("b2\n".utf8), to: "m/b.json")
        try update.remove("old/c.json")
        try update.write(Data("d2\n".utf8), to: "new/deeper/d.json")
        return update
    }

    let original = ["m/a.json": "same\n", "m/b.json": "b1\n", "old/c.json": "c1\n"]

    @Test func appliesEveryChangeAndTouchesNothingElse() throws {
        let root = try makeFolder(original)
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent().deletingLastPathComponent()) }
        let unchanged = root.appendingPathComponent("m/a.json")
        let past = Date(timeIntervalSince1970: 1_600_000_000)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: unchanged.path)

        let changed = try sampleUpdate(root).apply()

        #expect(changed == ["m/b.json", "new/deeper/d.json", "old/c.json"])
        #expect(try contents(of: root) == ["m": "folder", "m/a.json": "same\n", "m/b.json": "b2\n",
                                           "new": "folder", "new/deeper": "folder", "new/deeper/d.json": "d2\n"])
        let attributes = try FileManager.default.attributesOfItem(atPath: unchanged.path)
        #expect(attributes[.modificationDate] as? Date == past)
        #expect(try sampleUpdate(root).apply().isEmpty)  // applying it again changes nothing
    }

    @Test(arguments: [AtomicDirectoryUpdate.Step.staged("new/deeper/d.json"), .installing("new/deeper/d.json"), .installing("old/c.json")])
    func aFailureInTheMiddleLeavesTheFolderAsItWas(failingAt step: AtomicDirectoryUpdate.Step) throws {
        let root = try makeFolder(original)
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent().deletingLastPathComponent()) }
        let before = try contents(of: root)
        var update = try sampleUpdate(root)
        var steps: [AtomicDirectoryUpdate.Step] = []
        update.injectedFailure = { current in
            steps.append(current)
            if current == step { throw TestFailure("simulated failure at \(current)") }
        }

        #expect(throws: TestFailure.self) { try update.apply() }
        #expect(steps.count > 1)  // it failed in the middle, after some work
        #expect(try contents(of: root) == before)
    }

    @Test func pathsOutsideTheFolderAreRefusedWithAnExplainedError() throws {
        var update = AtomicDirectoryUpdate(root: URL(fileURLWithPath: "/tmp/attnlab-never-written"))
        for path in ["../a.json", "/etc/passwd", "", "m/../../b.json"] {
            let error = try #require(throws: GitError.self) { try update.write(Data(), to: path) }
            #expect(error.kind == .invalidPath)
            // The command line prints any ExplainedError as `error: <location>: <message>; <hint>`.
            let explained: any ExplainedError = error
            #expect(explained.description == "/tmp/attnlab-never-written: the path '\(path)' is not a relative path inside the folder; give paths relative to the folder, without '..'")
        }
    }

    @Test func replacingContentsRemovesEverythingElseButHiddenFiles() throws {
        let root = try makeFolder(original.merging([".gitattributes": "*.safetensors binary\n"]) { a, _ in a })
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent().deletingLastPathComponent()) }
        let update = try AtomicDirectoryUpdate.replacingContents(of: root, with: ["m/b.json": Data("b2\n".utf8)])
        #expect(try update.apply() == ["m/a.json", "m/b.json", "old/c.json"])
        #expect(try contents(of: root) == [".gitattributes": "*.safetensors binary\n", "m": "folder", "m/b.json": "b2\n"])
    }

    @Test func aRecordThatFailsInTheMiddleLeavesSnapshotsAndRepositoryUnchanged() throws {
        let temporary = try TemporaryRepository()
        let prefix = "Snapshots/eminem"
        let head = try #require(try temporary.record(["\(prefix)/m/a.json": "a1\n", "\(prefix)/m/b.json": "b1\n",
                                                      "\(prefix)/m/c.json": "c1\n"], under: prefix, message: "One"))
        let filesBefore = try temporary.workingTreeBytes()
        let indexBefore = try temporary.indexFileBytes()

        // The second record: write (failing after half the files are in place), then commit.
        var update = AtomicDirectoryUpdate(root: temporary.url(prefix))
        for name in ["a", "b", "c", "d"] { try update.write(Data("\(name)2\n".utf8), to: "m/\(name).json") }
        update.injectedFailure = { step in
            if step == .installing("m/c.json") { throw TestFailure("simulated crash of the writer") }
        }
        #expect(throws: TestFailure.self) {
            try update.apply()
            try temporary.repository.commitChanges(under: prefix, message: "Two", author: TemporaryRepository.author)
        }

        #expect(try temporary.workingTreeBytes() == filesBefore)
        #expect(try temporary.indexFileBytes() == indexBefore)
        #expect(try temporary.repository.resolve("HEAD") == head)
        #expect(try temporary.git("status", "--porcelain", "--untracked-files=all", "--ignored") == "")
    }
}
