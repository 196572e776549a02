import Foundation
import Testing
@testable import AttnCore

/// `attnlab trace --format json`: the layout a JSON reader relies on.
@Suite struct TraceJSONTests {
    func object(_ trace: Trace) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: TraceJSON.encode(trace)) as? [String: Any])
    }

    @Test func hasTheDocumentedKeysInOrder() throws {
        let trace = TraceFileTests.sampleTrace()
        let text = String(decoding: TraceJSON.encode(trace), as: UTF8.self)
        let keys = ["tokens", "token_type_ids", "token_details", "attention", "query", "hidden", "outputs", "inputs", "provenance"]
        let positions = keys.map { text.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(text.prefix(300))")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(text.hasSuffix("}\n"))

        let json = try object(trace)
        #expect(json["tokens"] as? [String] == ["[CLS]", "emi", "##nem", "</script>", "[SEP]"])
        #expect(json["token_type_ids"] as? [Int] == [0, 0, 0, 1, 1])
        #expect((json["token_details"] as? [[String: Any]])?[2]["display"] as? String == "nem")
        #expect((json["outputs"] as? [String: Any])?["similarity"] as? Double == 0.68)
        #expect((json["provenance"] as? [String: Any])?["model"] as? String == "m")
    }

    @Test func tensorsAreNestedArraysLayerHeadQueryKey() throws {
        let trace = TraceFileTests.sampleTrace()
        let attention = try #require(try object(trace)["attention"] as? [[[[Double]]]])
        #expect(attention.count == 2 && attention[0].count == 3 && attention[0][0].count == 5 && attention[0][0][0].count == 5)
        let stack = try #require(trace.stacks[.encoder])
        // [1][2][3][4] is the scalar at ((1 · 3 + 2) · 5 + 3) · 5 + 4.
        #expect(Float(attention[1][2][3][4]) == stack.attention.scalars[((1 * 3 + 2) * 5 + 3) * 5 + 4])
        let query = try #require(try object(trace)["query"] as? [[[[Double]]]])
        #expect(query.count == 2 && query[0][0][0].count == 4)
    }

    @Test func otherStacksArePrefixedAndNonFiniteNumbersAreNull() throws {
        var trace = TraceFileTests.sampleTrace()
        var cross = Tensor(zeros: [1, 1, 2, 5])
        cross.scalars[0] = .nan
        cross.scalars[1] = .infinity
        trace.decoderTokens = [TraceToken(text: "<s>", id: 0, special: true), TraceToken(text: "hi", id: 5, start: 0, end: 2, word: 0)]
        trace.stacks[.cross] = AttentionStack(attention: cross)
        let json = try object(trace)
        #expect(json["decoder_tokens"] as? [String] == ["<s>", "hi"])
        let row = try #require((json["cross_attention"] as? [[[[Any]]]])?[0][0][0])
        #expect(row[0] is NSNull && row[1] is NSNull && (row[2] as? Double) == 0)
        #expect(json["cross_query"] == nil, "only what was captured")
    }

    /// A JSON trace reads back as the trace it was written from (views, figures and diffs read it),
    /// whatever its file is called, geometry, decoder tokens and logits included.
    @Test func readsBackWhatItWrote() throws {
        var trace = TraceFileTests.sampleTrace()
        trace.decoderTokens = [TraceToken(text: "<s>", id: 0, special: true), TraceToken(text: "▁hi", display: "hi", id: 5, start: 0, end: 2, word: 0)]
        trace.stacks[.cross] = AttentionStack(attention: Tensor(shape: [1, 1, 2, 5], scalars: (0 ..< 10).map { Float($0) / 7 }))
        trace.stacks[.decoder] = AttentionStack(attention: Tensor(shape: [1, 1, 2, 2], scalars: [1, 0, 0.25, 0.75]),
                                                geometry: AttentionGeometry(scales: [0.5], keyValueHeads: 1, causal: true))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-json-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["t.json", "t.trace", "t.safetensors"] {
            let url = folder.appendingPathComponent(name)
            try TraceJSON.encode(trace).write(to: url)
            #expect(try TraceFile.read(url) == trace, "\(name)")
        }
    }

    /// A JSON file that is not a trace is refused in one line that says what to write instead.
    @Test func refusesJSONThatIsNotATrace() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-json-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, text) in [("list.json", "[1, 2]"), ("ragged.json", #"{"tokens":["a","b"],"attention":[[[[1,0],[1]]]]}"#),
                             ("none.json", #"{"tokens":["a"]}"#)] {
            let url = folder.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            #expect {
                try TraceFile.read(url)
            } throws: { error in
                let message = "\(error)"
                return message.contains("not a valid JSON trace") && message.contains(".safetensors") && !message.contains("header")
            }
        }
    }
}

