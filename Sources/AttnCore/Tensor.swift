/// A dense, row-major array of Float32 with a shape.
///
/// Tensors are values: copying one is cheap until one copy is mutated. Hot loops reach the
/// scalars through `withUnsafe(Mutable)BufferPointer`; everything else reads plainly.
public struct Tensor: Sendable, Equatable {
    /// The size of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// A tensor of the given shape holding `scalars` (row-major).
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor whose scalars the caller overwrites before reading them (no zero-filling pass over
    /// large capture buffers).
    public init(uninitialized shape: [Int]) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, scalars: [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count })
    }

    /// The number of elements.
    public var count: Int { scalars.count }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// The sub-tensor at `index` of the first dimension (`t[i]` of a `[a, b, c]` tensor is `[b, c]`).
    public subscript(index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0], "index \(index) out of range for \(shape)")
        let inner = Array(shape.dropFirst())
        let size = inner.reduce(1, *)
        return Tensor(shape: inner, scalars: Array(scalars[index * size ..< (index + 1) * size]))
    }

    /// The element at a full index (`t[l, h, q, k]`).
    public subscript(indices: Int...) -> Float {
        get { scalars[offset(indices)] }
        set { scalars[offset(indices)] = newValue }
    }

    private func offset(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "index rank \(indices.count) for shape \(shape)")
        var offset = 0
        for (index, size) in zip(indices, shape) {
            precondition(index >= 0 && index < size, "index \(indices) out of range for \(shape)")
            offset = offset * size + index
        }
        return offset
    }

    /// The largest absolute difference from `other` (same shape), for parity checks.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes differ: \(shape) vs \(other.shape)")
        var worst: Float = 0
        for i in scalars.indices {
            let d = abs(scalars[i] - other.scalars[i])
            if d > worst || d.isNaN { worst = d.isNaN ? .infinity : d }
        }
        return worst
    }

    /// Joins tensors along their first dimension (the others must agree): `[a, …]` and `[b, …]`
    /// give `[a + b, …]`, as PyTorch's `torch.cat(dim=0)`.
    public static func concatenating(_ parts: [Tensor]) throws -> Tensor {
        guard let first = parts.first else { return Tensor(zeros: [0]) }
        let inner = Array(first.shape.dropFirst())
        var rows = 0
        for part in parts {
            guard part.rank == first.rank, Array(part.shape.dropFirst()) == inner else {
                throw CoreError("cannot join tensors of shapes \(part.shape) and \(first.shape)")
            }
            rows += part.shape.first ?? 0
        }
        var scalars: [Float] = []
        scalars.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { scalars += part.scalars }
        return Tensor(shape: [rows] + inner, scalars: scalars)
    }

    /// Stacks tensors of one shape along a new first dimension.
    public static func stack(_ parts: [Tensor]) -> Tensor {
        guard let first = parts.first else { return Tensor(zeros: [0]) }
        var scalars: [Float] = []
        scalars.reserveCapacity(first.count * parts.count)
        for part in parts {
            precondition(part.shape == first.shape, "cannot stack \(part.shape) with \(first.shape)")
            scalars += part.scalars
        }
        return Tensor(shape: [parts.count] + first.shape, scalars: scalars)
    }

    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer(body)
    }

    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (inout UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer(body)
    }
}
