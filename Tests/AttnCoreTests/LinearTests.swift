import CKernels
import Testing
@testable import AttnCore

/// The dense layers' own product on packed weights: each row's bits must not depend on the rows
/// beside it (a batch gives each input the bits it gets alone), on the kernel the CPU runs, or on
/// the column block a thread computes; narrow last panels, long inputs (blocked k) and a missing
/// bias must all land right.
@Suite struct LinearTests {
    static let values = ParallelProductTests.values

    /// The levels this CPU can run (2: AVX-512, 1: AVX2, 0: portable).
    static var levels: [Int] { Array(0 ... Int(attn_linear_best_level())) }

    static func product(level: Int, _ layer: Linear, _ x: [Float], rows: Int, columns: Range<Int>? = nil) -> [Float] {
        let columns = columns ?? 0 ..< layer.outFeatures
        var y = [Float](repeating: .nan, count: rows * layer.outFeatures)
        layer.packed.withUnsafeBufferPointer { w in
            (layer.bias ?? Tensor(zeros: [0])).withUnsafeBufferPointer { b in
                y.withUnsafeMutableBufferPointer { ys in
                    attn_linear_at_level(Int32(level), x, rows, layer.inFeatures, w.baseAddress!, layer.outFeatures,
                                         layer.bias == nil ? nil : b.baseAddress!, columns.lowerBound, columns.upperBound,
                                         ys.baseAddress!, layer.outFeatures)
                }
            }
        }
        return y
    }

    static func layer(outputs: Int, inputs: Int, bias: Bool) -> Linear {
        Linear(weight: Tensor(shape: [outputs, inputs], scalars: values(outputs * inputs, 11)),
               bias: bias ? Tensor(shape: [outputs], scalars: values(outputs, 12)) : nil)
    }

    @Test(arguments: [(13, 300, 200, true), (8, 1000, 64, false), (17, 1600, 100, true), (1, 7, 33, true)])
    func eachRowGetsTheSameBitsAloneAsInABatch(rows: Int, inputs: Int, outputs: Int, bias: Bool) {
        let layer = Self.layer(outputs: outputs, inputs: inputs, bias: bias)
        let x = Self.values(rows * inputs, 13)
        let expected = ParallelProductTests.reference(x, layer.weight.scalars, layer.bias?.scalars, rows: rows, inputs: inputs, outputs: outputs)
        for level in Self.levels {
            let batch = Self.product(level: level, layer, x, rows: rows)
            let worst = zip(batch, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 1e-4, "level \(level): largest difference from the plain product \(worst)")
            for r in 0 ..< rows {
                let alone = Self.product(level: level, layer, Array(x[r * inputs ..< (r + 1) * inputs]), rows: 1)
                #expect(alone == Array(batch[r * outputs ..< (r + 1) * outputs]), "level \(level), row \(r)")
            }
        }
    }

    @Test func theAVX512AndAVX2KernelsGiveTheSameBits() {
        guard attn_linear_best_level() == 2 else { return }   // a CPU without AVX-512 runs one of them only
        for (rows, inputs, outputs) in [(128, 768, 384), (5, 1537, 96), (9, 40, 250)] {
            let layer = Self.layer(outputs: outputs, inputs: inputs, bias: true)
            let x = Self.values(rows * inputs, 14)
            #expect(Self.product(level: 2, layer, x, rows: rows) == Self.product(level: 1, layer, x, rows: rows))
        }
    }

    @Test func aColumnBlockWritesItsColumnsAndNoOthers() {
        let (rows, inputs, outputs) = (7, 100, 200)
        let layer = Self.layer(outputs: outputs, inputs: inputs, bias: true)
        let x = Self.values(rows * inputs, 15)
        for level in Self.levels {
            let whole = Self.product(level: level, layer, x, rows: rows)
            for columns in [64 ..< 150, 50 ..< 70, 0 ..< 3, 199 ..< 200] {
                let block = Self.product(level: level, layer, x, rows: rows, columns: columns)
                for r in 0 ..< rows {
                    for c in 0 ..< outputs {
                        let value = block[r * outputs + c]
                        if columns.contains(c) { #expect(value == whole[r * outputs + c]) } else { #expect(value.isNaN) }
                    }
                }
            }
        }
    }

    @Test func packingKeepsTheWeightWhicheverLayoutItCameIn() throws {
        let (outputs, inputs) = (70, 9)
        let weight = Tensor(shape: [outputs, inputs], scalars: Self.values(outputs * inputs, 16))
        var kernel = Tensor(zeros: [inputs, outputs])   // the weight transposed: GPT-2's Conv1D layout
        for o in 0 ..< outputs { for i in 0 ..< inputs { kernel[i, o] = weight[o, i] } }
        #expect(Linear(weight: weight, bias: nil).weight == weight)
        #expect(Linear(kernel: kernel, bias: nil).weight == weight)
        let gate = Linear(weight: weight, bias: nil)
        let up = Linear(weight: Tensor(shape: [outputs, inputs], scalars: Self.values(outputs * inputs, 17)), bias: Tensor(shape: [outputs], scalars: Self.values(outputs, 18)))
        let joined = try gate.joiningOutputs(with: up)
        #expect(joined.weight == (try Tensor.concatenating([gate.weight, up.weight])).reshaped([2 * outputs, inputs]))
        #expect(joined.bias == Tensor(shape: [2 * outputs], scalars: [Float](repeating: 0, count: outputs) + up.bias!.scalars))
        let x = Tensor(shape: [3, inputs], scalars: Self.values(3 * inputs, 19))
        let (g, u, j) = (gate(x), up(x), joined(x))
        for r in 0 ..< 3 {
            #expect(Array(j.scalars[r * 2 * outputs ..< r * 2 * outputs + outputs]) == Array(g.scalars[r * outputs ..< (r + 1) * outputs]))
            #expect(Array(j.scalars[r * 2 * outputs + outputs ..< (r + 1) * 2 * outputs]) == Array(u.scalars[r * outputs ..< (r + 1) * outputs]))
        }
        #expect(throws: CoreError.self) { try gate.joiningOutputs(with: Self.layer(outputs: 4, inputs: 5, bias: false)) }
    }

    @Test func aLayerWithoutInputsGivesItsBias() {
        let layer = Linear(weight: Tensor(zeros: [3, 0]), bias: Tensor(shape: [3], scalars: [1, 2, 3]))
        for level in Self.levels {
            #expect(Self.product(level: level, layer, [], rows: 2) == [1, 2, 3, 1, 2, 3])
        }
    }

    @Test func aTiedProjectionGivesTheBitsOfTheSameLayerPacked() {
        let (rows, hidden, vocabulary) = (11, 70, 301)
        let embeddings = Tensor(shape: [vocabulary, hidden], scalars: Self.values(vocabulary * hidden, 20))
        let bias = Tensor(shape: [vocabulary], scalars: Self.values(vocabulary, 21))
        let x = Tensor(shape: [rows, hidden], scalars: Self.values(rows * hidden, 22))
        let tied = tiedProjection(x, embeddings: embeddings, bias: bias)
        #expect(tied == Linear(weight: embeddings, bias: bias)(x))
        #expect(tiedProjection(x, embeddings: embeddings, bias: nil) == Linear(weight: embeddings, bias: nil)(x))
        let lastRow = Tensor(shape: [1, hidden], scalars: Array(x.scalars[(rows - 1) * hidden ..< rows * hidden]))
        #expect(tiedProjection(lastRow, embeddings: embeddings, bias: bias).scalars == Array(tied.scalars[(rows - 1) * vocabulary ..< rows * vocabulary]))
    }
}
