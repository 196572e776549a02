import CKernels

/// A dense layer `y = x · Wᵀ + b`. The weight is packed once, when the layer is made, into panels
/// of 32 output columns (`[in][32]` each) that AttnLab's own product (`attn_linear`, C) reads
/// straight through: OpenBLAS would pack it again on every call. Each output is one chain of fused
/// multiply-adds over the inputs in order, then + bias, so a row gets the same bits whatever rows
/// share the call (a batch or one input), however the columns are split between threads, and
/// whether the AVX-512 or the AVX2 kernel runs.
public struct Linear: Sendable {
    /// The packed weight: `[panels, in, 32]`, zeros past `outFeatures` in the last panel.
    let packed: Tensor
    public let bias: Tensor?   // [out]
    public let inFeatures: Int
    public let outFeatures: Int

    /// The kernel the product runs on this CPU: "AVX-512", "AVX2" or "portable".
    public static var kernelName: String { ["portable", "AVX2", "AVX-512"][Int(attn_linear_best_level())] }

    /// `weight` is `[out, in]`, as PyTorch's `nn.Linear` stores it.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "a linear weight is [out, in], got \(weight.shape)")
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        self.init(inFeatures: inputs, outFeatures: outputs, bias: bias) { packed in
            weight.withUnsafeBufferPointer { attn_linear_pack_rows($0.baseAddress!, outputs, inputs, 0, packed) }
        }
    }

    /// `kernel` is `[in, out]` (GPT-2's Conv1D layout).
    public init(kernel: Tensor, bias: Tensor?) {
        precondition(kernel.rank == 2, "a linear kernel is [in, out], got \(kernel.shape)")
        let (inputs, outputs) = (kernel.shape[0], kernel.shape[1])
        self.init(inFeatures: inputs, outFeatures: outputs, bias: bias) { packed in
            kernel.withUnsafeBufferPointer { attn_linear_pack_columns($0.baseAddress!, inputs, outputs, outputs, 0, packed) }
        }
    }

    /// A layer whose packed weight `fill` writes, part by part, through `packRows` or `packColumns`
    /// (a loader reads each stored weight straight into place, several joined along the outputs).
    public init(inFeatures: Int, outFeatures: Int, bias: Tensor?, fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        precondition(bias.map { $0.count == outFeatures } ?? true, "a bias of \(bias?.count ?? 0) for \(outFeatures) outputs")
        let panels = (outFeatures + 31) / 32
        var packed = Tensor(uninitialized: [panels, inFeatures, 32])
        try packed.withUnsafeMutableBufferPointer { p in
            attn_linear_clear_padding(p.baseAddress!, outFeatures, inFeatures)
            try fill(p.baseAddress!)
        }
        self.packed = packed
        self.bias = bias
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    /// Packs `count` weight rows (`[count, in]`, PyTorch's layout) as outputs `first ..< first + count`
    /// of the packed weight `init(inFeatures:outFeatures:bias:fill:)` hands its `fill`.
    public static func packRows(_ rows: UnsafePointer<Float>, count: Int, inFeatures: Int, first: Int,
                                into packed: UnsafeMutablePointer<Float>) {
        attn_linear_pack_rows(rows, count, inFeatures, first, packed)
    }

    /// Packs `count` columns of a `[in, count]` kernel (GPT-2's Conv1D layout) as outputs
    /// `first ..< first + count`, as `packRows` does rows.
    public static func packColumns(_ kernel: UnsafePointer<Float>, count: Int, inFeatures: Int, first: Int,
                                   into packed: UnsafeMutablePointer<Float>) {
        attn_linear_pack_columns(kernel, inFeatures, count, count, first, packed)
    }

    /// The weight `[out, in]`, unpacked (for joining layers and for tests; not on any hot path).
    public var weight: Tensor {
        var weight = Tensor(uninitialized: [outFeatures, inFeatures])
        packed.withUnsafeBufferPointer { p in
            weight.withUnsafeMutableBufferPointer { attn_linear_unpack(p.baseAddress!, outFeatures, inFeatures, $0.baseAddress!) }
        }
        return weight
    }

    /// One layer computing `self`'s outputs, then `other`'s (a gated block's gate and up branches).
    public func joiningOutputs(with other: Linear) throws -> Linear {
        guard inFeatures == other.inFeatures else { throw CoreError("layers of \(inFeatures) and \(other.inFeatures) inputs cannot be joined") }
        let bias: Tensor? = self.bias == nil && other.bias == nil ? nil
            : try Tensor.concatenating([self.bias ?? Tensor(zeros: [outFeatures]), other.bias ?? Tensor(zeros: [other.outFeatures])])
        let (first, second) = (weight, other.weight)
        return Linear(inFeatures: inFeatures, outFeatures: outFeatures + other.outFeatures, bias: bias) { packed in
            first.withUnsafeBufferPointer { Self.packRows($0.baseAddress!, count: outFeatures, inFeatures: inFeatures, first: 0, into: packed) }
            second.withUnsafeBufferPointer {
                Self.packRows($0.baseAddress!, count: other.outFeatures, inFeatures: inFeatures, first: outFeatures, into: packed)
            }
        }
    }

    /// `x` is `[n, in]`; the result is `[n, out]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let n = x.count / inFeatures
        var y = Tensor(uninitialized: [n, outFeatures])     // `apply` writes every element
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { ys in
                apply(xs.baseAddress!, rows: n, into: ys.baseAddress!)
            }
        }
        return y
    }

    /// Writes `[rows, out]` into `output` from `[rows, in]` at `input`, the output's columns cut into
    /// one block per thread (blocks of 64 columns: whole panels).
    public func apply(_ input: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>) {
        let (inputs, outputs) = (inFeatures, outFeatures)
        packed.withUnsafeBufferPointer { w in
            withPointer(to: bias) { b in
                Parallel.forColumnBlocks(outputs, work: rows * outputs * inputs) { columns in
                    attn_linear(input, rows, inputs, w.baseAddress!, outputs, b, columns.lowerBound, columns.upperBound, output, outputs)
                }
            }
        }
    }
}

/// `x · Eᵀ + b` for a tied output layer whose weight is an embedding matrix `E` `[vocab, hidden]`
/// (kept in that layout, as the embeddings need it): `x` `[n, hidden]` → `[n, vocab]`. The same
/// product as `Linear`, with the same bits, each block of 32 rows of `E` packed on the way (a second,
/// packed copy of a vocabulary-sized matrix would cost its size in memory).
public func tiedProjection(_ x: Tensor, embeddings: Tensor, bias: Tensor?) -> Tensor {
    let (vocab, hidden) = (embeddings.shape[0], embeddings.shape[1])
    let n = x.count / hidden
    var y = Tensor(uninitialized: [n, vocab])     // every element written
    x.withUnsafeBufferPointer { xs in
        embeddings.withUnsafeBufferPointer { es in
            y.withUnsafeMutableBufferPointer { ys in
                let (x, e, y) = (xs.baseAddress!, es.baseAddress!, ys.baseAddress!)
                withPointer(to: bias) { b in
                    Parallel.forColumnBlocks(vocab, work: n * vocab * hidden) { columns in
                        var scratch = Tensor(uninitialized: [32, hidden])   // one panel, packed by the kernel
                        scratch.withUnsafeMutableBufferPointer {
                            attn_linear_unpacked(x, n, hidden, e, vocab, b, columns.lowerBound, columns.upperBound, y, vocab, $0.baseAddress!)
                        }
                    }
                }
            }
        }
    }
    return y
}

/// `body` with a pointer to `bias`'s scalars, or nil without a bias.
private func withPointer(to bias: Tensor?, _ body: (UnsafePointer<Float>?) -> Void) {
    if let bias { bias.withUnsafeBufferPointer { body($0.baseAddress!) } } else { body(nil) }
}
