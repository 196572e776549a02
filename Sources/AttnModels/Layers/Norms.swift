import AttnCore
import Foundation

/// LayerNorm, row by row: `(x − mean) / √(var + eps) · γ + β` (β absent in some checkpoints).
struct LayerNorm: Sendable {
    var gamma: Tensor
    var beta: Tensor?
    var eps: Float

    /// `name.weight` and `name.bias` (or the legacy `gamma`/`beta`, which the store renames); `base`
    /// adds the checkpoint's base-model prefix.
    init(_ w: WeightLoader, _ name: String, dim: Int, eps: Float, bias: Bool = true, base: Bool = true) throws {
        let take = { (n: String) in base ? try w.base(n, [dim]) : try w.take(n, [dim]) }
        gamma = try take("\(name).weight")
        beta = bias ? try take("\(name).bias") : nil
        self.eps = eps
    }

    /// Normalises `[rows, dim]` at `x` in place.
    func callAsFunction(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        let dim = gamma.count
        gamma.withUnsafeBufferPointer { g in
            withOptionalPointer(beta) { b in
                Parallel.forRanges(rows, minimum: 64) { range in
                    Kernels.layerNorm(x + range.lowerBound * dim, rows: range.count, dim: dim,
                                      gamma: g.baseAddress!, beta: b, eps: eps)
                }
            }
        }
    }

    /// `x` `[n, dim]` normalised.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        normalize(&y)
        return y
    }

    /// Normalises `x` `[n, dim]` in place.
    func normalize(_ x: inout Tensor) {
        let rows = x.count / gamma.count
        x.withUnsafeMutableBufferPointer { self($0.baseAddress!, rows: rows) }
    }
}

/// RMSNorm, row by row: `x / √(mean(x²) + eps) · γ`, no mean and no bias (T5, Llama, Qwen, …).
/// Gemma multiplies by `1 + γ`: its weights are stored as offsets from 1 (`unitOffset`).
struct RMSNorm: Sendable {
    /// The factor each column is multiplied by (Gemma's `1 + γ` already added).
    var gamma: Tensor
    var eps: Float

    init(_ w: WeightLoader, _ name: String, dim: Int, eps: Float, unitOffset: Bool = false, base: Bool = true) throws {
        var weight = base ? try w.base("\(name).weight", [dim]) : try w.take("\(name).weight", [dim])
        if unitOffset { weight.apply { p, n in for i in 0 ..< n { p[i] += 1 } } }
        gamma = weight
        self.eps = eps
    }

    /// Normalises `[rows, dim]` at `x` in place.
    func callAsFunction(_ x: UnsafeMutablePointer<Float>, rows: Int) {
        let dim = gamma.count
        gamma.withUnsafeBufferPointer { g in
            Parallel.forRanges(rows, minimum: 64) { range in
                Kernels.rmsNorm(x + range.lowerBound * dim, rows: range.count, dim: dim, gamma: g.baseAddress!, eps: eps)
            }
        }
    }

    /// `x` `[n, dim]` normalised.
    func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        let rows = x.count / gamma.count
        y.withUnsafeMutableBufferPointer { self($0.baseAddress!, rows: rows) }
        return y
    }
}

/// Calls `body` with the tensor's storage, or nil.
func withOptionalPointer<R>(_ tensor: Tensor?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let tensor else { return body(nil) }
    return tensor.withUnsafeBufferPointer { body($0.baseAddress!) }
}
