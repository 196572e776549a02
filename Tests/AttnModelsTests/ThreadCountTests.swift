import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The thread count changes how fast a forward pass runs, never what it computes. Each pass states
/// its own count, so this holds while other tests run passes of their own at the same time.
@Suite struct ThreadCountTests {
    @Test func oneAndTwoThreadsGiveTheSameBits() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let ids = [101] + (0 ..< 126).map { 1000 + ($0 * 7919) % 28000 } + [102]
        let one = try model.forward(ModelInput(ids: ids), options: ForwardOptions(capture: [.qkv, .hidden], threads: 1))
        let two = try model.forward(ModelInput(ids: ids), options: ForwardOptions(capture: [.qkv, .hidden], threads: 2))
        #expect(one.threads == 1)
        #expect(two.threads == 2)
        #expect(one.stacks[.encoder] == two.stacks[.encoder])
        #expect(one.lastHidden == two.lastHidden)
    }

    /// The same at the lengths where products are cut differently: one block of query rows or
    /// eight, products too small to share or shared by column blocks.
    @Test(arguments: [3, 16, 65, 512])
    func oneAndTwoThreadsGiveTheSameBitsAtEveryLength(tokens: Int) throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let ids = [101] + (0 ..< tokens - 2).map { 1000 + ($0 * 7919) % 28000 } + [102]
        let one = try model.forward(ModelInput(ids: ids), options: ForwardOptions(capture: [.qkv, .hidden], threads: 1))
        let two = try model.forward(ModelInput(ids: ids), options: ForwardOptions(capture: [.qkv, .hidden], threads: 2))
        #expect(one.stacks[.encoder] == two.stacks[.encoder])
        #expect(one.lastHidden == two.lastHidden)
    }

    /// Inside a pass the loops read the pass's own budget, and the caller's is restored after it.
    @Test func aPassSetsTheBudgetOfItsOwnThreadOnly() throws {
        #expect(Parallel.threads == 1)
        let inside = Parallel.run(threads: 2) { Parallel.threads }
        #expect(inside == 2)
        #expect(Parallel.threads == 1)
        // Worker threads of a parallel loop run their share serially.
        let seen = Parallel.run(threads: 2) { () -> [Int] in
            let slots = UnsafeMutableBufferPointer<Int>.allocate(capacity: 4)
            defer { slots.deallocate() }
            Parallel.forEach(4) { slots[$0] = Parallel.threads }
            return Array(slots)
        }
        #expect(seen.allSatisfy { $0 == 1 })
    }
}
