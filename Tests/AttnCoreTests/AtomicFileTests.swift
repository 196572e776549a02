import Foundation
import Testing
@testable import AttnCore

/// `AtomicFile.write` writes atomically only over a regular file or nothing: through symbolic
/// links (chains and dangling ones) to their target, into devices directly, never over a folder,
/// and the file it replaces keeps its permissions.
@Suite struct AtomicFileTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-atomic-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func type(_ url: URL) -> FileAttributeType? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.type] as? FileAttributeType
    }

    @Test func linksAreFollowedToTheirTarget() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        // a → b → sub/c (relative links), and a dangling link whose target is created.
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("b").path, withDestinationPath: "sub/c")
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("a").path, withDestinationPath: "b")
        try AtomicFile.write(Data("one".utf8), to: folder.appendingPathComponent("a"))
        #expect(type(folder.appendingPathComponent("a")) == .typeSymbolicLink && type(folder.appendingPathComponent("b")) == .typeSymbolicLink)
        #expect(try String(contentsOf: folder.appendingPathComponent("sub/c"), encoding: .utf8) == "one")
        try AtomicFile.write(Data("two".utf8), to: folder.appendingPathComponent("a"))
        #expect(try String(contentsOf: folder.appendingPathComponent("sub/c"), encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("sub").path) == ["c"], "no temporary file left")
    }

    @Test func aReplacedFileKeepsItsPermissions() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("script.sh")
        try Data("old".utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o750], ofItemAtPath: url.path)
        try AtomicFile.write(Data("new".utf8), to: url)
        #expect((try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) == 0o750)
    }

    @Test func devicesAreWrittenAndFoldersRefused() throws {
        defer { try? FileManager.default.removeItem(at: folder) }
        try AtomicFile.write(Data("gone".utf8), to: URL(fileURLWithPath: "/dev/null"))
        #expect(type(URL(fileURLWithPath: "/dev/null")) == .typeCharacterSpecial)
        #expect { try AtomicFile.write(Data(), to: folder) } throws: { "\($0)".contains("is a folder, not a file") }
        let loop = folder.appendingPathComponent("loop")
        try FileManager.default.createSymbolicLink(atPath: loop.path, withDestinationPath: "loop")
        #expect { try AtomicFile.write(Data(), to: loop) } throws: { "\($0)".contains("the symbolic links loop") }
    }
}
