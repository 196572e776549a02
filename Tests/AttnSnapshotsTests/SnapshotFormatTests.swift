import AttnCore
import Foundation
import Testing
@testable import AttnSnapshots

/// The snapshot files: JSON that reads well in `git diff` and reads back, per-head summaries that
/// say what a head does, float16 attention that is a trace file, and the same bytes every time.
@Suite struct SnapshotFormatTests {
    @Test func numbersAreRoundedAndWrittenTheSameWay() {
        #expect(SnapshotJSON.format(0.12, 4) == "0.1200")
        #expect(SnapshotJSON.format(0.123456789, 6) == "0.123457")
        #expect(SnapshotJSON.format(-0.00001, 4) == "0.0000")
        #expect(SnapshotJSON.format(.nan, 4) == "0")
        #expect(JSONText.quote("say \"hi\"\n\u{1}→") == "\"say \\\"hi\\\"\\n\\u0001→\"")
    }

    @Test func smallRecordsStayOnOneLineAndListsGetOneLinePerItem() {
        let json = SnapshotJSON.object([
            ("name", .string("x")),
            ("missing", nil),
            ("heads", .array([.line([("layer", .int(0)), ("top", .array([.string("a"), .fixed(0.5, 2)], inline: true))]),
                              .line([("layer", .int(1)), ("top", .array([], inline: true))])], inline: false)),
        ])
        #expect(json.text() == """
        {
          "name": "x",
          "heads": [
            {"layer": 0, "top": ["a", 0.50]},
            {"layer": 1, "top": []}
          ]
        }

        """)
        // Whatever the layout, it is JSON.
        #expect((try? JSONSerialization.jsonObject(with: json.data())) != nil)
    }

    @Test func aVariantSnapshotReadsBackAsItWasWritten() throws {
        let files = try Fixtures.standard()
        let stored = try Fixtures.stored(files)
        #expect(stored.orderedKeys == ["toy/pair/sick", "toy/pair/terrific"])
        #expect(stored.strayFiles.isEmpty)
        let terrific = try #require(stored.variants["toy/pair/terrific"]?.snapshot)
        #expect(terrific.model == "toy" && terrific.input == "pair" && terrific.variant == "terrific")
        #expect(terrific.perturbation == "replace \"sick\" → \"terrific\" in b")
        #expect(terrific.outputs.similarity == 0.81)
        #expect(terrific.label == "paraphrase")
        #expect(terrific.expectations == [ExpectationRecord(line: 22, expectation: "label is paraphrase", passed: true, measured: "label paraphrase")])
        #expect(terrific.tokens.map(\.text) == ["[CLS]", "the", "tune", "was", "awesome", "[SEP]", "that", "song", "was", "terrific", "[SEP]"])
        #expect(terrific.tokens[9].start == 14 && terrific.tokens[9].end == 22 && terrific.tokens[9].segment == 1 && terrific.tokens[9].word == 3)
        #expect(terrific.tokens[0].special && !terrific.tokens[1].special)
        #expect(terrific.stacks.map(\.kind) == [.encoder])
        #expect(terrific.stacks[0].shape == [2, 2, 11, 11])
        #expect(terrific.stacks[0].heads.count == 4)
        // Written again from what was read, it is the same file.
        #expect(terrific.json().data() == files.files["toy/pair/terrific.json"])

        let experiment = try #require(stored.experiment)
        #expect(experiment.name == "toy-experiment" && experiment.hash == "e1" && experiment.file == "Experiments/toy-experiment.yaml")
        #expect(experiment.models.map(\.weightsHash) == ["w1"])
        #expect(experiment.variants == ["toy/pair/sick", "toy/pair/terrific"])
    }

    @Test func theJSONHasOneTokenAndOneHeadPerLine() throws {
        let text = String(decoding: try #require(try Fixtures.standard().files["toy/pair/sick.json"]), as: UTF8.self)
        let lines = text.split(separator: "\n")
        #expect(lines.contains { $0.trimmingCharacters(in: .whitespaces) == #"{"text": "sick", "id": 1013, "segment": 1, "word": 3, "span": [14, 18]},"# })
        let headLines = lines.filter { $0.contains("\"layer\":") }
        #expect(headLines.count == 4)
        #expect(headLines.allSatisfy { $0.contains("\"entropy\":") && $0.contains("\"a_to_b\":") && $0.contains("\"top\": [[\"") })
        #expect(text.contains("\"similarity\": 0.680000"))
    }

    @Test func headSummariesSayWhereTheAttentionGoes() throws {
        // 4 tokens: [CLS] hi there [SEP]; head 0 spreads evenly, head 1 sends everything to "there".
        let tokens = [TraceToken(text: "[CLS]", id: 1, special: true),
                      TraceToken(text: "hi", id: 2, start: 0, end: 2, word: 0),
                      TraceToken(text: "the", id: 3, start: 3, end: 6, word: 1),
                      TraceToken(text: "##re", id: 4, start: 6, end: 8, word: 1),
                      TraceToken(text: "[SEP]", id: 5, special: true)]
        let n = tokens.count
        var scalars = [Float](repeating: 1 / Float(n), count: n * n)
        for _ in 0 ..< n { for k in 0 ..< n { scalars.append(k == 2 || k == 3 ? 0.5 : 0) } }
        let trace = Trace(inputs: TraceInputs(a: "hi there"), tokens: tokens,
                          stacks: [.encoder: AttentionStack(attention: Tensor(shape: [1, 2, n, n], scalars: scalars))],
                          provenance: Provenance(model: "m", architecture: "bert"))
        let summary = SnapshotBuilder.summary(trace, .encoder)
        #expect(summary.shape == [1, 2, 5, 5])
        let even = summary.heads[0], focused = summary.heads[1]
        #expect(abs(even.entropy - log2(5)) < 1e-6)
        #expect(focused.entropy == 1)
        // Words, not pieces: "there" is "the" + "##re"; no sentence prefix for a single sentence.
        #expect(focused.top.first == WeightedText("there", 1))
        #expect(even.top.map(\.text) == ["there", "[CLS]", "hi"])
        #expect(abs(even.top[0].weight - 0.4) < 1e-6)
        #expect(even.aToB == nil && even.bToA == nil)
    }

    @Test func pairsNameTheSentenceOfEachWordAndTheMassBetweenThem() throws {
        let summary = SnapshotBuilder.summary(Fixtures.trace(), .encoder)
        for head in summary.heads {
            #expect(head.top.allSatisfy { $0.text.hasPrefix("A:") || $0.text.hasPrefix("B:") })
            let aToB = try #require(head.aToB), bToA = try #require(head.bToA)
            #expect(aToB > 0 && aToB < 1 && bToA > 0 && bToA < 1)
        }
    }

    @Test func theAttentionFileIsAFloat16TraceFile() throws {
        let trace = Fixtures.trace()
        let data = try SnapshotBuilder.attentionFile(trace)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-snapshot-test-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try data.write(to: url)
        let file = try SafeTensorsFile(path: url.path)
        #expect(file.names == ["encoder.attention"])
        #expect(file.entries["encoder.attention"]?.dtype == .f16)
        let read = try TraceFile.read(url)
        #expect(read.tokens == trace.tokens)
        #expect(read.inputs == trace.inputs)
        #expect(read.provenance.model == "made-up" && read.provenance.architecture == "bert")
        // Outputs and hashes live in the JSON files: this file changes only when attention or tokens do.
        #expect(read.outputs == TraceOutputs() && read.provenance.weightsHash == "")
        var other = trace
        other.outputs.similarity = 0.1
        other.provenance.weightsHash = "w2"
        #expect(try SnapshotBuilder.attentionFile(other) == data)
        let original = try #require(trace.stacks[.encoder]).attention
        #expect(try #require(read.stacks[.encoder]).attention.maxAbsDifference(original) < 5e-4)
    }

    @Test func theSameResultsGiveTheSameBytes() throws {
        let first = try Fixtures.standard(), second = try Fixtures.standard()
        #expect(first.files == second.files)
        #expect(first.files.keys.sorted() == ["experiment.json", "toy/pair/sick.json", "toy/pair/sick.safetensors",
                                              "toy/pair/terrific.json", "toy/pair/terrific.safetensors"])
    }

    @Test func brokenSnapshotFilesAreNamedWithWhatToDo() throws {
        var files = try Fixtures.standard().files
        files["toy/pair/sick.json"] = Data("<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n".utf8)
        #expect {
            try StoredSnapshots(name: "toy-experiment", files: files, folder: "Snapshots/toy-experiment", revision: "HEAD")
        } throws: { error in
            let text = "\(error)"
            return text.contains("Snapshots/toy-experiment/toy/pair/sick.json at HEAD") && text.contains("merge conflict markers")
                && text.contains("attnlab snapshot record")
        }
        files["toy/pair/sick.json"] = Data("{\"format_version\": 1}".utf8)
        #expect {
            try StoredSnapshots(name: "toy-experiment", files: files, folder: "Snapshots/toy-experiment")
        } throws: { error in
            "\(error)".contains("sick.json: not a snapshot file: missing \"model\"")
        }
        files["toy/pair/sick.json"] = Data("{\"format_version\": 9}".utf8)
        #expect {
            try StoredSnapshots(name: "toy-experiment", files: files, folder: "Snapshots/toy-experiment")
        } throws: { error in
            "\(error)".contains("format version 9 is newer") && "\(error)".contains("update attnlab")
        }
    }
}
