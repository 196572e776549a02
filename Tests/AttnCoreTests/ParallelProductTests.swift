import Foundation
import Testing
@testable import AttnCore

/// The large products are cut into column blocks, one per thread: each block must land in its own
/// columns with its own bias, and the bits must not depend on how many threads cut it.
@Suite struct ParallelProductTests {
    /// Values in [-1, 1) from a fixed seed.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0 ..< count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    /// `x · Wᵀ + b` in double precision, the plain way.
    static func reference(_ x: [Float], _ weight: [Float], _ bias: [Float]?, rows: Int, inputs: Int, outputs: Int) -> [Double] {
        var y = [Double](repeating: 0, count: rows * outputs)
        for r in 0 ..< rows {
            for o in 0 ..< outputs {
                var sum = Double(bias?[o] ?? 0)
                for i in 0 ..< inputs { sum += Double(x[r * inputs + i]) * Double(weight[o * inputs + i]) }
                y[r * outputs + o] = sum
            }
        }
        return y
    }

    @Test(arguments: [(128, 768, 2304), (16, 384, 1152), (5, 64, 200), (33, 300, 1000)])
    func aLinearLayerGivesTheSameBitsOnOneAndTwoThreads(rows: Int, inputs: Int, outputs: Int) {
        let weight = Self.values(outputs * inputs, seed: 1), bias = Self.values(outputs, seed: 2)
        let x = Tensor(shape: [rows, inputs], scalars: Self.values(rows * inputs, seed: 3))
        let layer = Linear(weight: Tensor(shape: [outputs, inputs], scalars: weight), bias: Tensor(shape: [outputs], scalars: bias))
        let one = Parallel.run(threads: 1) { layer(x) }
        let two = Parallel.run(threads: 2) { layer(x) }
        #expect(one == two)
        let expected = Self.reference(x.scalars, weight, bias, rows: rows, inputs: inputs, outputs: outputs)
        let worst = zip(two.scalars, expected).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst < 1e-4, "largest difference from the plain product: \(worst)")
    }

    @Test func aTiedProjectionPutsEachBlocksBiasInItsColumns() {
        let (rows, hidden, vocabulary) = (40, 256, 1000)
        let embeddings = Self.values(vocabulary * hidden, seed: 4), bias = Self.values(vocabulary, seed: 5)
        let x = Tensor(shape: [rows, hidden], scalars: Self.values(rows * hidden, seed: 6))
        let project = {
            tiedProjection(x, embeddings: Tensor(shape: [vocabulary, hidden], scalars: embeddings),
                           bias: Tensor(shape: [vocabulary], scalars: bias))
        }
        let one = Parallel.run(threads: 1, project), two = Parallel.run(threads: 2, project)
        #expect(one == two)
        let expected = Self.reference(x.scalars, embeddings, bias, rows: rows, inputs: hidden, outputs: vocabulary)
        #expect((zip(two.scalars, expected).map { abs(Double($0) - $1) }.max() ?? 0) < 1e-4)
    }

    @Test func columnBlocksCoverEveryColumnOnceIn64WideBlocks() {
        for (count, work, threads) in [(2304, 100_000_000, 2), (384, 10_000_000, 2), (100, 100_000_000, 2), (2304, 1_000_000, 2), (1000, 50_000_000, 3)] {
            let seen = Parallel.run(threads: threads) { () -> [Range<Int>] in
                let lock = NSLock()
                var ranges: [Range<Int>] = []
                Parallel.forColumnBlocks(count, work: work) { range in lock.lock(); ranges.append(range); lock.unlock() }
                return ranges.sorted { $0.lowerBound < $1.lowerBound }
            }
            #expect(seen.first?.lowerBound == 0 && seen.last?.upperBound == count)
            #expect(zip(seen, seen.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(seen.dropLast().allSatisfy { $0.count % 64 == 0 })
            #expect(seen.count <= threads)
        }
    }
}
