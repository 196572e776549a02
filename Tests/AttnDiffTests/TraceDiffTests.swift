import AttnCore
import Foundation
import Testing
import CKernels
@testable import AttnDiff

/// The diff metrics on hand-made traces whose answers are known.
@Suite struct TraceDiffTests {
    /// A pair "a b" / "c" as [CLS] a b [SEP] c [SEP], with 2 layers × 2 heads of attention given per head.
    static func trace(b: String = "c", heads: [[[Float]]]) -> Trace {
        let tokens = [TraceToken(text: "[CLS]", id: 1, segment: 0, special: true),
                      TraceToken(text: "a", id: 2, start: 0, end: 1, word: 0, segment: 0),
                      TraceToken(text: "b", id: 3, start: 2, end: 3, word: 1, segment: 0),
                      TraceToken(text: "[SEP]", id: 4, segment: 0, special: true),
                      TraceToken(text: b, id: 5, start: 0, end: b.unicodeScalars.count, word: 0, segment: 1),
                      TraceToken(text: "[SEP]", id: 4, segment: 1, special: true)]
        let attention = Tensor(shape: [2, 2, 6, 6], scalars: heads.flatMap { $0.flatMap { $0 } })
        return Trace(inputs: TraceInputs(a: "a b", b: b), tokens: tokens, stacks: [.encoder: AttentionStack(attention: attention)],
                     provenance: Provenance(model: "hand", architecture: "bert"))
    }

    static func uniform() -> [[Float]] { Array(repeating: Array(repeating: 1.0 / 6, count: 6), count: 6) }

    /// Every row attends to one key.
    static func pointing(to key: Int) -> [[Float]] {
        Array(repeating: (0 ..< 6).map { $0 == key ? 1 : 0 }, count: 6)
    }

    @Test func identicalTracesDoNotDiffer() throws {
        let heads = [Self.uniform(), Self.pointing(to: 1), Self.pointing(to: 4), Self.uniform()]
        let diff = try TraceDiff.compare(Self.trace(heads: heads), Self.trace(heads: heads))
        #expect(diff.heads.allSatisfy { $0.jsDivergence == 0 && $0.l1 == 0 && $0.topKChange == 0 && $0.massChange == 0 })
        #expect(diff.changedWords.isEmpty)
    }

    @Test func theHeadThatMovedRanksFirstWithOneBit() throws {
        let before = [Self.uniform(), Self.pointing(to: 1), Self.pointing(to: 2), Self.uniform()]
        let after = [Self.uniform(), Self.pointing(to: 1), Self.pointing(to: 4), Self.uniform()]
        let diff = try TraceDiff.compare(Self.trace(heads: before), Self.trace(heads: after))
        let first = try #require(diff.heads.first)
        #expect(first.layer == 1 && first.head == 0)
        // Every content row moved all its attention from "b" to "c": disjoint distributions, 1 bit, L1 2.
        #expect(abs(first.jsDivergence - 1) < 1e-9)
        #expect(abs(first.l1 - 2) < 1e-9)
        // A → B mass went from 0 to 1 for the rows of A, B → A from 1 to 0 for the row of c: mean change 1.
        #expect(abs((first.massChange ?? 0) - 1) < 1e-6)
        #expect(diff.heads.dropFirst().allSatisfy { $0.jsDivergence == 0 })
    }

    /// "a b" alone (no special tokens): two shared words, fewer than the 3 of top-3.
    static func twoWords(_ rows: [[Float]]) -> Trace {
        let tokens = [TraceToken(text: "a", id: 2, start: 0, end: 1, word: 0), TraceToken(text: "b", id: 3, start: 2, end: 3, word: 1)]
        return Trace(inputs: TraceInputs(a: "a b"), tokens: tokens,
                     stacks: [.encoder: AttentionStack(attention: Tensor(shape: [1, 1, 2, 2], scalars: rows.flatMap { $0 }))],
                     provenance: Provenance(model: "hand", architecture: "bert"))
    }

    @Test func withFewerWordsThanKEveryWordIsInBothTopLists() throws {
        let even = Self.twoWords([[0.5, 0.5], [0.5, 0.5]]), skewed = Self.twoWords([[0.9, 0.1], [0.2, 0.8]])
        let same = try #require(try TraceDiff.compare(even, even, topK: 3).heads.first)
        #expect(same.topKChange == 0 && same.jsDivergence == 0)
        // The attention moved, but both words are still in each row's top 3: no top-k change.
        let moved = try #require(try TraceDiff.compare(even, skewed, topK: 3).heads.first)
        #expect(moved.topKChange == 0 && moved.jsDivergence > 0)
        // With k = 1 the strongest word of the second row changed from a (a tie, first wins) to b.
        #expect(try TraceDiff.compare(even, skewed, topK: 1).heads.first?.topKChange == 0.5)
    }

    @Test func rowDivergenceNormalisesEachRow() {
        let p: [Float] = [2, 2, 0], q: [Float] = [0, 1, 1]
        #expect(abs(TraceDiff.rowDivergence(p, q) - 0.5) < 1e-9)
        #expect(TraceDiff.rowDivergence([0, 0] as [Float], [0.5, 0.5]) == 0, "a row without mass reads as uniform")
    }

    /// The divergence's log2 is a series: within 1e-14 of the libm definition over rows of every
    /// length and of very unequal values, and the AVX2 version gives the portable one's bits.
    @Test func jensenShannonMatchesTheDefinitionAndItsPortableVersion() {
        var state: UInt64 = 7
        func random() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for count in [0, 1, 2, 3, 4, 5, 7, 8, 13, 64, 129] {
            for _ in 0 ..< 20 {
                // Some outcomes without mass, some tiny (1e-40), some large.
                let draw = { (0 ..< count).map { _ -> Double in
                    let u = random()
                    return u < 0.15 ? 0 : u < 0.25 ? 1e-40 * u : u
                } }
                let (rawP, rawQ) = (draw(), draw())
                let (p, q) = (rawP.map { $0 / max(rawP.reduce(0, +), 1e-300) }, rawQ.map { $0 / max(rawQ.reduce(0, +), 1e-300) })
                var expected = 0.0
                for (x, y) in zip(p, q) {
                    let m = (x + y) / 2
                    if x > 0 { expected += 0.5 * x * Foundation.log2(x / m) }
                    if y > 0 { expected += 0.5 * y * Foundation.log2(y / m) }
                }
                let value = TraceDiff.jensenShannon(p, q)
                #expect(abs(value - max(0, expected)) <= 1e-14, "\(count) outcomes: \(value) vs \(expected)")
                let portable = p.withUnsafeBufferPointer { p in q.withUnsafeBufferPointer { attn_jensen_shannon_portable(p.baseAddress, $0.baseAddress, count) } }
                #expect(max(0, portable) == value, "\(count) outcomes: AVX2 and portable")
            }
        }
    }

    @Test func jensenShannonIsSymmetricAndBounded() {
        let p = [0.5, 0.5, 0], q = [0, 0.5, 0.5]
        #expect(abs(TraceDiff.jensenShannon(p, q) - TraceDiff.jensenShannon(q, p)) < 1e-12)
        #expect(abs(TraceDiff.jensenShannon(p, q) - 0.5) < 1e-9)
        #expect(TraceDiff.jensenShannon([1, 0], [0, 1]) == 1)
    }

    @Test func changedWordsAreAlignedAndReported() throws {
        let heads = [Self.uniform(), Self.uniform(), Self.uniform(), Self.uniform()]
        let diff = try TraceDiff.compare(Self.trace(b: "c", heads: heads), Self.trace(b: "d", heads: heads))
        #expect(diff.changedWords.map { "\($0.a ?? "∅")→\($0.b ?? "∅")" } == ["c→d"])
    }

    @Test func refusesModelsOfDifferentShapes() {
        let small = Trace(inputs: TraceInputs(a: "a"), tokens: [TraceToken(text: "a", id: 1, start: 0, end: 1, word: 0)],
                          stacks: [.encoder: AttentionStack(attention: Tensor(shape: [1, 1, 1, 1], scalars: [1]))],
                          provenance: Provenance(model: "x", architecture: "bert"))
        #expect(throws: CoreError.self) { try TraceDiff.compare(small, Self.trace(heads: [Self.uniform(), Self.uniform(), Self.uniform(), Self.uniform()])) }
    }

    /// The top-k of a row (for "top-3 changed") are those a full sort gives, ties to the lower index.
    @Test func topKIsWhatASortGives() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 300 {
            let row = (0 ..< Int.random(in: 0 ... 30, using: &generator)).map { _ in Double(Int.random(in: 0 ... 6, using: &generator)) / 6 }
            for k in 0 ... 5 {
                let sorted = Array(row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k))
                #expect(TraceDiff.top(row, k) == sorted, "\(row), k \(k)")
            }
        }
    }
}
