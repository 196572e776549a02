import AttnCore
import Foundation

/// The buffers one attention stack fills during a forward pass: attention probabilities always, and
/// per-head queries/keys/values and hidden states when asked for. Each is filled completely.
struct StackCapture {
    /// `[layers, heads, queries, keys]`
    var attention: Tensor
    /// `[layers, heads, queries, headDim]`
    var query: Tensor?
    /// `[layers, heads, keys, headDim]`
    var key: Tensor?
    var value: Tensor?
    /// `[layers + 1, queries, hidden]`: the input of the first layer, then each layer's output.
    var hidden: Tensor?
    let heads: Int
    let headDim: Int

    /// `hidden` is the width of the hidden states to keep, or nil for a stack that has none of its
    /// own (cross-attention).
    init(layers: Int, heads: Int, queries: Int, keys: Int, headDim: Int, hidden: Int?, capture: CaptureOptions) {
        self.heads = heads
        self.headDim = headDim
        attention = Tensor(uninitialized: [layers, heads, queries, keys])
        if capture.contains(.qkv) {
            query = Tensor(uninitialized: [layers, heads, queries, headDim])
            key = Tensor(uninitialized: [layers, heads, keys, headDim])
            value = Tensor(uninitialized: [layers, heads, keys, headDim])
        }
        if capture.contains(.hidden), let hidden {
            self.hidden = Tensor(uninitialized: [layers + 1, queries, hidden])
        }
    }

    var wantsQKV: Bool { query != nil }

    /// Keeps `x` `[n, hidden]` as hidden state `index` (0 for the embeddings).
    mutating func keepHidden(_ x: Tensor, at index: Int) {
        guard hidden != nil else { return }
        let size = x.count
        hidden!.scalars.replaceSubrange(index * size ..< (index + 1) * size, with: x.scalars)
    }

    /// Keeps one layer's projections, given as head-interleaved rows (`[rows, ld]`, head `h` at
    /// column `offset + h·headDim`), as `[heads, rows, headDim]` blocks.
    mutating func keep(_ which: WritableKeyPath<StackCapture, Tensor?>, layer: Int, rows: Int,
                       from source: UnsafePointer<Float>, ld: Int, offset: Int) {
        guard self[keyPath: which] != nil else { return }
        let (heads, headDim) = (self.heads, self.headDim)
        let block = layer * heads * rows * headDim
        self[keyPath: which]!.withUnsafeMutableBufferPointer {
            splitHeads(source, ld: ld, offset: offset, rows: rows, heads: heads, headDim: headDim, into: $0.baseAddress! + block)
        }
    }

    var stack: AttentionStack {
        AttentionStack(attention: attention, query: query, key: key, value: value, hidden: hidden)
    }
}
