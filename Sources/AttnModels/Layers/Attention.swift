import AttnCore
import Foundation

/// Where the heads of one layer's queries, keys and values are: row-major matrices whose head `h`
/// occupies columns `h·headDim ..< (h+1)·headDim` (so a fused `[n, 3·hidden]` QKV buffer works as is).
public struct HeadLayout {
    public var heads: Int
    public var headDim: Int
    public var queries: Int
    public var keys: Int

    public init(heads: Int, headDim: Int, queries: Int, keys: Int) {
        self.heads = heads
        self.headDim = headDim
        self.queries = queries
        self.keys = keys
    }
}

/// Which keys a query may not attend to.
public struct AttentionMask {
    /// False at key positions nobody may attend to (padding).
    public var keys: [Bool]?
    /// Query `i` may attend only to keys `0...i` (decoders).
    public var causal: Bool

    public init(keys: [Bool]? = nil, causal: Bool = false) {
        self.keys = keys
        self.causal = causal
    }

    public static let none = AttentionMask()
}

/// Scaled dot-product attention for all heads of one layer, softmax written out so that the
/// probabilities land in `probabilities` (`[heads, queries, keys]`, the captured attention) and the
/// mixed values in `context` (`[queries, heads·headDim]`).
///
/// Masked scores get `-Float.greatestFiniteMagnitude` added, as transformers does, so their
/// probability is exactly 0. `bias` (`[heads, queries, keys]`) is added before the softmax (T5's
/// relative positions).
public func multiHeadAttention(
    _ layout: HeadLayout,
    q: UnsafePointer<Float>, ldq: Int,
    k: UnsafePointer<Float>, ldk: Int,
    v: UnsafePointer<Float>, ldv: Int,
    scale: Float, mask: AttentionMask = .none, bias: UnsafePointer<Float>? = nil,
    probabilities: UnsafeMutablePointer<Float>,
    context: UnsafeMutablePointer<Float>, ldc: Int
) {
    let (nq, nk, d) = (layout.queries, layout.keys, layout.headDim)
    let masked = -Float.greatestFiniteMagnitude
    let keyMask = mask.keys
    Parallel.forEach(layout.heads) { h in
        let scores = probabilities + h * nq * nk   // [nq, nk]
        BLAS.gemm(transposeB: true, m: nq, n: nk, k: d, alpha: scale,
                  a: q + h * d, lda: ldq, b: k + h * d, ldb: ldk, c: scores, ldc: nk)
        if let bias {
            Kernels.add(scores, bias + h * nq * nk, count: nq * nk)
        }
        if let keyMask {
            for j in 0 ..< nk where !keyMask[j] {
                for i in 0 ..< nq { scores[i * nk + j] += masked }
            }
        }
        if mask.causal {
            for i in 0 ..< nq where i + 1 < nk {
                for j in (i + 1) ..< nk { scores[i * nk + j] += masked }
            }
        }
        Kernels.softmaxRows(scores, rows: nq, cols: nk)
        BLAS.gemm(m: nq, n: d, k: nk, a: scores, lda: nk, b: v + h * d, ldb: ldv, c: context + h * d, ldc: ldc)
    }
}

/// Copies head-interleaved rows (`[n, ld]`, head `h` at column `offset + h·headDim`) into a
/// `[heads, n, headDim]` block, the layout traces keep queries, keys and values in.
public func splitHeads(_ source: UnsafePointer<Float>, ld: Int, offset: Int, rows: Int, heads: Int, headDim: Int,
                       into destination: UnsafeMutablePointer<Float>) {
    for h in 0 ..< heads {
        for r in 0 ..< rows {
            (destination + (h * rows + r) * headDim).update(from: source + r * ld + offset + h * headDim, count: headDim)
        }
    }
}
