import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Several inputs in one forward pass (rows stacked, every weight read once for all of them) give
/// the bits one pass each gives (every row of a product is computed alone: `Linear`), and the same
/// bits on one thread or two.
@Suite struct BatchedForwardTests {
    static func ids(_ count: Int, seed: Int) -> [Int] {
        [101] + (0 ..< count - 2).map { 1000 + (($0 + seed) * 7919) % 28000 } + [102]
    }

    static let inputs: [ModelInput] = [
        ModelInput(ids: ids(12, seed: 1)),
        ModelInput(ids: ids(70, seed: 2), typeIds: [Int](repeating: 0, count: 35) + [Int](repeating: 1, count: 35)),
        ModelInput(ids: ids(3, seed: 3)),
        ModelInput(ids: ids(20, seed: 4), attentionMask: [Bool](repeating: true, count: 16) + [false, false, false, false]),
    ]

    @Test func stackedInputsGiveWhatOnePassEachGives() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let options = ForwardOptions(capture: [.qkv, .hidden], threads: 2)
        let batched = try model.forward(Self.inputs, options: options)
        #expect(batched.count == Self.inputs.count)
        for (input, output) in zip(Self.inputs, batched) {
            let alone = try model.forward(input, options: options)
            expectClose(output.lastHidden, alone.lastHidden, within: 0, "last hidden state, \(input.ids.count) tokens")
            let (a, b) = (output.stacks[.encoder]!, alone.stacks[.encoder]!)
            #expect(a.attention.shape == b.attention.shape)
            expectClose(a.attention, b.attention, within: 0, "attention, \(input.ids.count) tokens")
            expectClose(a.query!, b.query!, within: 0, "queries, \(input.ids.count) tokens")
            expectClose(a.hidden!, b.hidden!, within: 0, "hidden states, \(input.ids.count) tokens")
            #expect(output.threads == 2)
        }
    }

    @Test func aBatchGivesTheSameBitsOnOneAndTwoThreads() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let one = try model.forward(Self.inputs, options: ForwardOptions(capture: [.qkv, .hidden], threads: 1))
        let two = try model.forward(Self.inputs, options: ForwardOptions(capture: [.qkv, .hidden], threads: 2))
        for (a, b) in zip(one, two) {
            #expect(a.stacks == b.stacks)
            #expect(a.lastHidden == b.lastHidden)
        }
    }

    /// Inputs whose last hidden state nobody reads (pairs traced for their attention) stop after
    /// the last layer's attention: their attention is what the full pass gives, and the other
    /// inputs' outputs are unchanged; on one thread or two, the same bits.
    @Test func inputsThatKeepNoLastHiddenStateStillGiveTheirAttention() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let full = try model.forward(Self.inputs, options: ForwardOptions(capture: [.qkv], threads: 1))
        let keeps = [false, true, false, true]
        var outputs: [[ModelOutput]] = []
        for threads in [1, 2] {
            outputs.append(try model.forward(Self.inputs, options: keeps.map { ForwardOptions(capture: [.qkv], threads: threads, keepsLastHidden: $0) }))
        }
        #expect(outputs[0].map(\.stacks) == outputs[1].map(\.stacks))
        #expect(outputs[0].map(\.lastHidden) == outputs[1].map(\.lastHidden))
        for (index, keep) in keeps.enumerated() {
            let (output, expected) = (outputs[0][index], full[index])
            #expect(output.stacks == expected.stacks, "input \(index): attention, queries, keys and values")
            if keep {
                expectClose(output.lastHidden, expected.lastHidden, within: 0, "input \(index)")
            } else {
                #expect(output.lastHidden.shape == [0, 384])
            }
        }
        // Hidden states captured: every input goes through every layer.
        let captured = try model.forward(Self.inputs, options: keeps.map { ForwardOptions(capture: [.hidden], threads: 1, keepsLastHidden: $0) })
        #expect(captured.allSatisfy { $0.lastHidden.shape[0] > 0 })
    }

    /// An architecture without a stacked pass runs the inputs one after the other: exactly the same.
    @Test func otherArchitecturesRunTheInputsInTurn() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("gpt2"))
        let inputs = [ModelInput(ids: [2, 7, 9]), ModelInput(ids: [4, 5, 6, 7, 8])]
        let batched = try model.forward(inputs, options: ForwardOptions(capture: [.hidden]))
        for (input, output) in zip(inputs, batched) {
            let alone = try model.forward(input, capture: [.hidden])
            #expect(output.lastHidden == alone.lastHidden)
            #expect(output.stacks == alone.stacks)
        }
    }

    /// A scan's batch: each input with its own visitor, which sees and changes its own rows only,
    /// all resumed at one layer (or at different layers, then run one at a time): each output is
    /// what the input's pass alone with that visitor gives.
    @Test(arguments: [[2, 2, 2], [2, 3, 2], [0, 0, 0]])
    func eachInputsVisitorActsOnItsOwnRows(resumeAt layers: [Int]) throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let inputs = [ModelInput(ids: Self.ids(9, seed: 1)), ModelInput(ids: Self.ids(14, seed: 2)), ModelInput(ids: Self.ids(9, seed: 3))]
        // The residual stream entering each resume layer, from a plain pass with a recorder.
        func visitor(_ index: Int) throws -> RecordingVisitor {
            let zeroHead = index   // each input zeroes a different head of the resume layer
            let visitor = RecordingVisitor(wanted: { [.head, .mlp, .residual].contains($0.kind) && $0.layer >= layers[index] }) { site, values in
                guard site.kind == .head, site.layer == layers[index], let width = values.headWidth else { return }
                for row in 0 ..< values.rows { (values.pointer + row * values.columns + zeroHead * width).update(repeating: 0, count: width) }
            }
            if layers[index] > 0 {
                let recorder = RecordingVisitor(wanted: { $0.kind == .residual })
                _ = try model.forward(inputs[index], options: ForwardOptions(sites: recorder))
                let residual = try #require(recorder.seen[Site(.encoder, layers[index], .residual)])
                visitor.resumeAt[.encoder] = (layers[index], Tensor(shape: [inputs[index].ids.count, 384], scalars: residual))
            }
            return visitor
        }
        let batchVisitors = try inputs.indices.map(visitor)
        let batched = try model.forward(inputs, options: batchVisitors.map { ForwardOptions(sites: $0, threads: 1) })
        for index in inputs.indices {
            let aloneVisitor = try visitor(index)
            let alone = try model.forward(inputs[index], options: ForwardOptions(sites: aloneVisitor, threads: 1))
            expectClose(batched[index].lastHidden, alone.lastHidden, within: 0, "input \(index), resumed at \(layers[index])")
            for layer in layers[index] ..< 6 {
                for kind in [SiteKind.head, .mlp] {
                    let site = Site(.encoder, layer, kind)
                    let (seen, expected) = (try #require(batchVisitors[index].seen[site]), try #require(aloneVisitor.seen[site]))
                    #expect(seen.count == expected.count, "\(site) of input \(index): its own rows only")
                    #expect(zip(seen, expected).allSatisfy { $0 == $1 }, "\(site) of input \(index)")
                }
            }
        }
    }

    @Test func aBadInputFailsTheBatchNamingIt() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        #expect(throws: ModelError.self) {
            try model.forward([ModelInput(ids: [101, 102]), ModelInput(ids: [101, 999_999, 102])], options: ForwardOptions())
        }
    }

    /// Traces of a batch of requests (the similarity task: three passes each) match traces of one
    /// request at a time.
    /// Passes with the same tokens run once (the first two share sentence A; the last is the first
    /// swapped, whose two sentence passes are the first's): each trace is still its own.
    @Test func batchedTracesMatchOneAtATime() throws {
        let loaded = try LoadedModel(folder: ModelFolder(id: "sentence-transformers/all-MiniLM-L6-v2",
                                                         url: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2")))
        let requests = [("the eminem tune was totally awesome.", "dude, that song from eminem was sick!"),
                        ("the eminem tune was totally awesome.", "dude, that song from eminem was terrific!"),
                        ("a film about cats", "a movie about a cat, and about dogs too"),
                        ("short", "a much longer second sentence that runs on for a while"),
                        ("dude, that song from eminem was sick!", "the eminem tune was totally awesome.")]
            .map { TraceRequest(a: $0.0, b: $0.1, capture: [.qkv]) }
        let batched = try loaded.trace(batch: requests)
        for (request, trace) in zip(requests, batched) {
            let alone = try loaded.trace(request)
            #expect(trace.tokens == alone.tokens)
            #expect(trace.outputs.similarity! == alone.outputs.similarity!)
            expectClose(trace.stacks[.encoder]!.attention, alone.stacks[.encoder]!.attention, within: 0, request.a)
        }
    }
}
