import Foundation
import Testing
@testable import AttnCore

@Suite struct TraceFileTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-trace-\(UUID().uuidString)")

    static func sampleTrace() -> Trace {
        let tokens = [TraceToken(text: "[CLS]", id: 101, special: true),
                      TraceToken(text: "emi", id: 7, start: 0, end: 3, word: 0),
                      TraceToken(text: "##nem", display: "nem", id: 8, start: 3, end: 6, word: 0),
                      TraceToken(text: "</script>", id: 9, start: 7, end: 16, word: 1, segment: 1),
                      TraceToken(text: "[SEP]", id: 102, segment: 1, special: true)]
        var attention = Tensor(zeros: [2, 3, 5, 5])
        for row in 0 ..< 30 { for k in 0 ..< 5 { attention.scalars[row * 5 + k] = Float(k + 1) / 15 } }
        return Trace(inputs: TraceInputs(a: "eminem", b: "</script>"), tokens: tokens, tokenTypeIds: [0, 0, 0, 1, 1],
                     stacks: [.encoder: AttentionStack(attention: attention, query: Tensor(zeros: [2, 3, 5, 4]),
                                                       hidden: Tensor(zeros: [3, 5, 12]))],
                     outputs: TraceOutputs(similarity: 0.68, topk: [TopKPrediction(position: 1, candidates: [Candidate(token: "a", id: 1, probability: 0.5)])]),
                     logits: Tensor(shape: [2], scalars: [0.1, -0.2]),
                     provenance: Provenance(model: "m", architecture: "bert", weightsHash: "ab", tokenizerHash: "cd", task: "similarity", capture: ["qkv"]))
    }

    @Test func roundTrips() throws {
        let trace = Self.sampleTrace()
        let url = folder.appendingPathComponent("t.safetensors")
        try TraceFile.write(trace, to: url)
        #expect(try TraceFile.read(url) == trace)
    }

    /// A trace keeps how each stack's attention was computed: the score scale of every layer,
    /// the key/value heads of grouped-query attention, the mask and whether q and k are rotated.
    @Test func geometryAndGroupedKeyValueHeadsRoundTrip() throws {
        var trace = Self.sampleTrace()
        var stack = trace.stacks[.encoder]!
        stack.query = Tensor(zeros: [2, 3, 5, 4])
        stack.key = Tensor(zeros: [2, 1, 5, 4])     // 3 query heads read 1 key/value head
        stack.value = Tensor(zeros: [2, 1, 5, 4])
        stack.geometry = AttentionGeometry(scales: [0.5, 0.25], keyValueHeads: 1, causal: true, slidingWindow: 4, rotary: true)
        trace.stacks[.encoder] = stack
        let url = folder.appendingPathComponent("gqa.safetensors")
        try TraceFile.write(trace, to: url)
        let read = try TraceFile.read(url)
        #expect(read == trace)
        #expect(read.stacks[.encoder]!.geometry?.keyValueHead(of: 2, heads: 3) == 0)
        // Keys with more heads than the geometry states are refused.
        stack.key = Tensor(zeros: [2, 3, 5, 4])
        trace.stacks[.encoder] = stack
        #expect { try TraceFile.validate(trace, path: "x") } throws: { "\($0)".contains("expected [2, 1, 5, head_dim]") }
        // So are scales for another number of layers.
        stack.key = Tensor(zeros: [2, 1, 5, 4])
        stack.geometry!.scales = [1]
        trace.stacks[.encoder] = stack
        #expect { try TraceFile.validate(trace, path: "x") } throws: { "\($0)".contains("1 score scales for 2 layers") }
    }

    @Test func encodingIsDeterministic() throws {
        #expect(try TraceFile.encode(Self.sampleTrace()) == TraceFile.encode(Self.sampleTrace()))
    }

    @Test func readsATraceWrittenFromPythonWithPlainStringTokens() throws {
        var writer = SafeTensorsWriter(metadata: [TraceFile.metadataKey: #"{"tokens": ["[CLS]", "hi", "[SEP]"]}"#])
        writer.add("encoder.attention", Tensor(shape: [1, 1, 3, 3], scalars: [Float](repeating: 1.0 / 3, count: 9)))
        let url = folder.appendingPathComponent("py.safetensors")
        try writer.write(to: url)
        let trace = try TraceFile.read(url)
        #expect(trace.tokens.map(\.display) == ["[CLS]", "hi", "[SEP]"])
        #expect(trace.provenance.model == "imported")
    }

    @Test func rejectsAttentionThatDisagreesWithTheTokens() throws {
        var writer = SafeTensorsWriter(metadata: [TraceFile.metadataKey: #"{"tokens": ["a", "b"]}"#])
        writer.add("encoder.attention", Tensor(zeros: [1, 1, 3, 3]))
        let url = folder.appendingPathComponent("bad.safetensors")
        try writer.write(to: url)
        #expect { try TraceFile.read(url) } throws: { "\($0)".contains("2 query and 2 key tokens") }
    }

    @Test func rejectsAFileWithoutTraceMetadata() throws {
        var writer = SafeTensorsWriter()
        writer.add("encoder.attention", Tensor(zeros: [1, 1, 1, 1]))
        let url = folder.appendingPathComponent("plain.safetensors")
        try writer.write(to: url)
        #expect { try TraceFile.read(url) } throws: { "\($0)".contains("not an AttnLab trace") }
    }

    @Test func writingLeavesNoTemporaryFiles() throws {
        try TraceFile.write(Self.sampleTrace(), to: folder.appendingPathComponent("t.safetensors"))
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(names == ["t.safetensors"])
    }
}
