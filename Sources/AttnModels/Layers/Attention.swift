import AttnCore
import Foundation

/// The heads of one attention block: query heads, key/value heads (fewer with grouped-query
/// attention: query head `h` reads key/value head `h / (heads / keyValueHeads)`, as transformers'
/// `repeat_kv` expands them) and the width of each head's query, key and value.
struct HeadShape: Sendable, Equatable {
    var heads: Int
    var keyValueHeads: Int
    var headDim: Int

    init(heads: Int, keyValueHeads: Int? = nil, headDim: Int) {
        self.heads = heads
        self.keyValueHeads = keyValueHeads ?? heads
        self.headDim = headDim
    }

    /// Width of all query heads (and of the heads' output).
    var queryWidth: Int { heads * headDim }
    /// Width of all key (or value) heads.
    var keyValueWidth: Int { keyValueHeads * headDim }
    /// Query heads per key/value head.
    var group: Int { heads / keyValueHeads }
}

/// Which keys a query may not attend to.
struct AttentionMask {
    /// False at key positions nobody may attend to (padding).
    var keys: [Bool]?
    /// Query `i` may attend only to keys `0...i` (decoders).
    var causal: Bool
    /// With `causal`, query `i` sees only keys `i - window + 1 ... i` (Mistral's sliding window).
    var window: Int?

    init(keys: [Bool]? = nil, causal: Bool = false, window: Int? = nil) {
        self.keys = keys
        self.causal = causal
        self.window = window
    }

    static let none = AttentionMask()

    /// Adds `-Float.greatestFiniteMagnitude` to the masked scores of one head `[nq, nk]`, as
    /// transformers adds the dtype's minimum, so that their probability is exactly 0.
    func apply(to scores: UnsafeMutablePointer<Float>, queries nq: Int, keys nk: Int) {
        let masked = -Float.greatestFiniteMagnitude
        if let keys {
            for j in 0 ..< nk where !keys[j] {
                for i in 0 ..< nq { scores[i * nk + j] += masked }
            }
        }
        guard causal else { return }
        for i in 0 ..< nq {
            let row = scores + i * nk
            if i + 1 < nk { for j in (i + 1) ..< nk { row[j] += masked } }
            if let window, i - window >= 0 { for j in 0 ... min(i - window, nk - 1) { row[j] += masked } }
        }
    }
}

/// Scaled dot-product attention for all heads of one layer, the softmax written out so that the
/// probabilities land in `probabilities` (`[heads, queries, keys]`, the captured attention) and the
/// mixed values in `context` (`[queries, heads·headDim]`).
///
/// `q` holds the query heads (`[nq, ldq]`, head `h` at column `h·headDim`), `k` and `v` the
/// key/value heads; query head `h` reads key/value head `h / group`. `bias` (`[heads, queries,
/// keys]`) is added before the softmax (T5's relative positions). The sites of `scores` and
/// `pattern` are visited per head, from the thread that computes that head.
func multiHeadAttention(
    _ shape: HeadShape, queries nq: Int, keys nk: Int,
    q: UnsafePointer<Float>, ldq: Int,
    k: UnsafePointer<Float>, ldk: Int,
    v: UnsafePointer<Float>, ldv: Int,
    scale: Float, mask: AttentionMask = .none, bias: UnsafePointer<Float>? = nil, sites: AttentionSites? = nil,
    probabilities: UnsafeMutablePointer<Float>,
    context: UnsafeMutablePointer<Float>, ldc: Int
) {
    let (d, group) = (shape.headDim, shape.group)
    Parallel.forEach(shape.heads) { h in
        let kv = h / group
        let scores = probabilities + h * nq * nk   // [nq, nk]
        BLAS.gemm(transposeB: true, m: nq, n: nk, k: d, alpha: scale,
                  a: q + h * d, lda: ldq, b: k + kv * d, ldb: ldk, c: scores, ldc: nk)
        if let bias {
            Kernels.add(scores, bias + h * nq * nk, count: nq * nk)
        }
        mask.apply(to: scores, queries: nq, keys: nk)
        sites?.visitHead(.scores, head: h, scores, rows: nq, columns: nk)
        Kernels.softmaxRows(scores, rows: nq, cols: nk)
        sites?.visitHead(.pattern, head: h, scores, rows: nq, columns: nk)
        BLAS.gemm(m: nq, n: d, k: nk, a: scores, lda: nk, b: v + kv * d, ldb: ldv, c: context + h * d, ldc: ldc)
    }
    sites?.visitHeads(context, rows: nq, heads: shape.heads, headWidth: d)
}

/// Copies head-interleaved rows (`[n, ld]`, head `h` at column `offset + h·headDim`) into a
/// `[heads, n, headDim]` block, the layout traces keep queries, keys and values in.
func splitHeads(_ source: UnsafePointer<Float>, ld: Int, offset: Int, rows: Int, heads: Int, headDim: Int,
                into destination: UnsafeMutablePointer<Float>) {
    for h in 0 ..< heads {
        for r in 0 ..< rows {
            (destination + (h * rows + r) * headDim).update(from: source + r * ld + offset + h * headDim, count: headDim)
        }
    }
}
