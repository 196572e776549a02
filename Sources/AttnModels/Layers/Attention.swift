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
        apply(to: scores, rows: 0 ..< nq, keys: nk)
    }

    /// The same for query rows `rows` of a head, whose first row is at `scores`.
    func apply(to scores: UnsafeMutablePointer<Float>, rows: Range<Int>, keys nk: Int) {
        let masked = -Float.greatestFiniteMagnitude
        if let keys {
            for r in 0 ..< rows.count {
                let row = scores + r * nk
                for j in 0 ..< nk where !keys[j] { row[j] += masked }
            }
        }
        guard causal else { return }
        for (r, i) in rows.enumerated() {
            let row = scores + r * nk
            if i + 1 < nk { for j in (i + 1) ..< nk { row[j] += masked } }
            if let window, i - window >= 0 { for j in 0 ... min(i - window, nk - 1) { row[j] += masked } }
        }
    }
}

/// Query rows per block of attention: a block's scores (`64 × keys`) stay in cache from their
/// product through the softmax to α·v. Fixed, so that the blocks, and the bits, never depend on
/// the thread count.
let attentionBlockRows = 64

/// Scaled dot-product attention for all heads of one layer, the softmax written out so that the
/// probabilities land in `probabilities` (`[heads, queries, keys]`, the captured attention) and the
/// mixed values in `context` (`[queries, heads·headDim]`).
///
/// `q` holds the query heads (`[nq, ldq]`, head `h` at column `h·headDim`), `k` and `v` the
/// key/value heads; query head `h` reads key/value head `h / group`. `bias` (`[heads, queries,
/// keys]`) is added before the softmax (T5's relative positions).
///
/// Each head is computed in blocks of query rows, each block's scores, softmax and α·v one after
/// the other while the block is in cache; the blocks of all heads are shared by the threads. When
/// the sites want a head's `scores` or `pattern`, each head is one unit instead: all its blocks'
/// scores, the `scores` visit, the softmax, the `pattern` visit, then all its α·v, visited from
/// the thread that computes that head. Both ways compute each block by the same calls, so a
/// visitor that changes nothing changes no bit.
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
    let blocks = (nq + attentionBlockRows - 1) / attentionBlockRows
    func rows(_ block: Int) -> Range<Int> { block * attentionBlockRows ..< min(nq, (block + 1) * attentionBlockRows) }
    func scores(_ h: Int, _ rows: Range<Int>) -> UnsafeMutablePointer<Float> { probabilities + (h * nq + rows.lowerBound) * nk }
    // q·kᵀ·scale (+ bias, + mask) of some rows of head h.               (rows, nk)
    func score(_ h: Int, _ rows: Range<Int>) {
        let s = scores(h, rows)
        BLAS.gemm(transposeB: true, m: rows.count, n: nk, k: d, alpha: scale,
                  a: q + rows.lowerBound * ldq + h * d, lda: ldq, b: k + (h / group) * d, ldb: ldk, c: s, ldc: nk)
        if let bias { Kernels.add(s, bias + (h * nq + rows.lowerBound) * nk, count: rows.count * nk) }
        mask.apply(to: s, rows: rows, keys: nk)
    }
    // α·v of some rows of head h, into the head's columns of the context.  (rows, d)
    func mix(_ h: Int, _ rows: Range<Int>) {
        BLAS.gemm(m: rows.count, n: d, k: nk, a: scores(h, rows), lda: nk, b: v + (h / group) * d, ldb: ldv,
                  c: context + rows.lowerBound * ldc + h * d, ldc: ldc)
    }
    if let sites, sites.kinds.contains(.scores) || sites.kinds.contains(.pattern) {
        Parallel.forEach(shape.heads) { h in
            for b in 0 ..< blocks { score(h, rows(b)) }
            sites.visitHead(.scores, head: h, scores(h, 0 ..< nq), rows: nq, columns: nk)
            for b in 0 ..< blocks { Kernels.softmaxRows(scores(h, rows(b)), rows: rows(b).count, cols: nk) }
            sites.visitHead(.pattern, head: h, scores(h, 0 ..< nq), rows: nq, columns: nk)
            for b in 0 ..< blocks { mix(h, rows(b)) }
        }
    } else {
        Parallel.forEach(shape.heads * blocks) { unit in
            let (h, block) = (unit / blocks, rows(unit % blocks))
            score(h, block)
            Kernels.softmaxRows(scores(h, block), rows: block.count, cols: nk)
            mix(h, block)
        }
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
