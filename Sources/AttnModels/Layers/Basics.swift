import AttnCore
import Foundation

// Small pieces every architecture uses: embeddings, residual sums, rows of a matrix, and the
// parameter and FLOP counts.

/// `a + b`, element-wise (residual connections).
func + (a: Tensor, b: Tensor) -> Tensor {
    var sum = a
    sum.withUnsafeMutableBufferPointer { s in
        b.withUnsafeBufferPointer { Kernels.add(s.baseAddress!, $0.baseAddress!, count: s.count) }
    }
    return sum
}

/// `a += b`, element-wise, in place (residual connections without a copy).
func += (a: inout Tensor, b: Tensor) {
    a.withUnsafeMutableBufferPointer { s in
        b.withUnsafeBufferPointer { Kernels.add(s.baseAddress!, $0.baseAddress!, count: s.count) }
    }
}

/// Rows of an embedding table `[vocab, dim]` for `ids`, times `scale`: `[ids.count, dim]`.
/// The ids were checked against the table by `validateInput`.
func embed(_ ids: [Int], in table: Tensor, scale: Float = 1) -> Tensor {
    let dim = table.shape[1]
    var rows = Tensor(uninitialized: [ids.count, dim])
    rows.withUnsafeMutableBufferPointer { out in
        table.withUnsafeBufferPointer { t in
            for (i, id) in ids.enumerated() {
                let (source, target) = (t.baseAddress! + id * dim, out.baseAddress! + i * dim)
                if scale == 1 {
                    target.update(from: source, count: dim)
                } else {
                    for j in 0 ..< dim { target[j] = source[j] * scale }
                }
            }
        }
    }
    return rows
}

/// Rows `[positions.count, hidden]` of the last hidden states `[n, hidden]`.
func rows(_ positions: [Int], of x: Tensor) throws -> Tensor {
    let hidden = x.shape[1]
    let n = x.shape[0]
    if let bad = positions.first(where: { $0 < 0 || $0 >= n }) {
        throw ModelError("position \(bad) is outside the \(n) tokens")
    }
    return Tensor(shape: [positions.count, hidden], scalars: positions.flatMap { Array(x.scalars[$0 * hidden ..< ($0 + 1) * hidden]) })
}

/// A tensor PyTorch keeps as a buffer, not a parameter (BART's `final_logits_bias`): used like any
/// other, left out of the parameter count.
struct Buffer: Sendable {
    var tensor: Tensor
}

/// The number of parameters a model holds: the elements of every tensor reachable from it (found
/// by reflection through classes, structs, enums, arrays and optionals), a tensor shared by two
/// parts (tied embeddings) counted once, buffers not at all.
func countParameters(_ root: Any) -> Int {
    var seen = Set<UnsafeRawPointer>()
    var total = 0
    func count(_ tensor: Tensor, as parameters: Int) {   // a tensor shared by several layers counts once
        guard tensor.count > 0 else { return }
        let address = tensor.scalars.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
        if seen.insert(address).inserted { total += parameters }
    }
    func visit(_ value: Any) {
        if value is Buffer { return }
        if let tensor = value as? Tensor {
            count(tensor, as: tensor.count)
            return
        }
        if let linear = value as? Linear {   // its packed weight holds zeros past the last output: not parameters
            for child in Mirror(reflecting: linear).children {
                if let packed = child.value as? Tensor, child.label == "packed" { count(packed, as: linear.inFeatures * linear.outFeatures) }
            }
            if let bias = linear.bias { visit(bias) }
            return
        }
        for child in Mirror(reflecting: value).children { visit(child.value) }
    }
    visit(root)
    return total
}

/// FLOPs of one attention block (projections and the two products) for `nq` queries over `nk`
/// keys, `inner` = heads · headDim: 2·nq·h·inner for q and for the output, 2·nk·h·inner for k and
/// for v, and 2·2·nq·nk·inner for q·kᵀ and attention·v.
func attentionFLOPs(queries nq: Int, keys nk: Int, hidden h: Int, inner: Int) -> Double {
    let (nq, nk, h, inner) = (Double(nq), Double(nk), Double(h), Double(inner))
    return 2 * nq * h * inner * 2 + 2 * nk * h * inner * 2 + 4 * nq * nk * inner
}

/// FLOPs of a feed-forward block of `matrices` `[h, m]` matrices on `n` rows.
func feedForwardFLOPs(rows n: Int, hidden h: Int, inner m: Int, matrices: Int = 2) -> Double {
    2 * Double(n) * Double(h) * Double(m) * Double(matrices)
}
