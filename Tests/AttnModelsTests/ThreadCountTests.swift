import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The thread count changes how fast a forward pass runs, never what it computes.
@Suite(.serialized) struct ThreadCountTests {
    @Test func oneAndTwoThreadsGiveTheSameBits() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let ids = [101] + (0 ..< 126).map { 1000 + ($0 * 7919) % 28000 } + [102]
        defer { Parallel.setThreads(1) }
        Parallel.setThreads(1)
        let one = try model.forward(ModelInput(ids: ids), capture: [.qkv, .hidden])
        Parallel.setThreads(2)
        let two = try model.forward(ModelInput(ids: ids), capture: [.qkv, .hidden])
        #expect(one.stacks[.encoder] == two.stacks[.encoder])
        #expect(one.lastHidden == two.lastHidden)
    }
}
