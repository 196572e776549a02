import AttnCore
import Foundation

/// One stack's part of a forward pass: the buffers it captures into (attention always; per-head
/// queries, keys, values and hidden states when asked), how its attention is computed (the
/// geometry a trace records), and the site visitor its interventions act through.
struct StackPass {
    let kind: StackKind
    let layers: Int
    let shape: HeadShape
    let queries: Int
    let keys: Int
    /// `[layers, heads, queries, keys]`
    var attention: Tensor
    /// `[layers, heads, queries, headDim]`, after any query/key transform (rotary positions).
    var query: Tensor?
    /// `[layers, keyValueHeads, keys, headDim]`
    var key: Tensor?
    var value: Tensor?
    /// `[layers + 1, queries, hidden]`: the input of the first layer, then each layer's output.
    var hidden: Tensor?
    var geometry: AttentionGeometry
    let sites: SiteVisitor?

    /// `hidden` is the width of the hidden states to keep, or nil for a stack that has none of its
    /// own (cross-attention); `scales` the score scale of each layer.
    init(_ kind: StackKind, layers: Int, shape: HeadShape, queries: Int, keys: Int, hidden: Int?,
         scales: [Float], causal: Bool = false, slidingWindow: Int? = nil, positionBias: Bool = false, rotary: Bool = false,
         pass: ForwardOptions) {
        self.kind = kind
        self.layers = layers
        self.shape = shape
        self.queries = queries
        self.keys = keys
        self.sites = pass.sites
        geometry = AttentionGeometry(scales: scales, keyValueHeads: shape.keyValueHeads, causal: causal,
                                     slidingWindow: slidingWindow, positionBias: positionBias, rotary: rotary)
        // A pass that resumes after some layers leaves their captures as zeros, never as garbage.
        let make: ([Int]) -> Tensor = pass.sites == nil ? { Tensor(uninitialized: $0) } : { Tensor(zeros: $0) }
        attention = make([layers, shape.heads, queries, keys])
        if pass.capture.contains(.qkv) {
            query = make([layers, shape.heads, queries, shape.headDim])
            key = make([layers, shape.keyValueHeads, keys, shape.headDim])
            value = make([layers, shape.keyValueHeads, keys, shape.headDim])
        }
        if pass.capture.contains(.hidden), let hidden {
            self.hidden = make([layers + 1, queries, hidden])
        }
    }

    /// The same score scale for every layer.
    static func scales(_ scale: Float, layers: Int) -> [Float] { [Float](repeating: scale, count: layers) }

    var wantsQKV: Bool { query != nil }

    /// The layers to run, with `x` the stack's input: all of them (keeping `x` as hidden state 0),
    /// or, when the site visitor resumes a scan after some layers, the rest, with `x` replaced by
    /// the residual stream the visitor kept.
    mutating func layerRange(input x: inout Tensor) -> Range<Int> {
        if let (layer, residual) = sites?.resume(kind, layers: layers), layer > 0, layer <= layers,
           residual.shape == x.shape {
            x = residual
            return layer ..< layers
        }
        keepHidden(x, at: 0)
        return 0 ..< layers
    }

    /// Where the layers of a batch of stacks start: `.beginning` when none resumes; `.resumed`
    /// when every one resumes at the same layer (a scan's cells), with their residual streams
    /// stacked `[Σn, width]`; nil when they differ (the inputs then run one at a time).
    static func batchStart(_ stacks: [StackPass], segments: [Range<Int>], width: Int) -> BatchStart? {
        let resumes = stacks.map { stack in
            stack.sites?.resume(stack.kind, layers: stack.layers).flatMap { $0.layer > 0 && $0.layer <= stack.layers ? $0 : nil }
        }
        if resumes.allSatisfy({ $0 == nil }) { return .beginning }
        guard let layer = resumes[0]?.layer,
              resumes.allSatisfy({ $0?.layer == layer }),
              zip(resumes, segments).allSatisfy({ $0!.residual.shape == [$1.count, width] }) else { return nil }
        var x = Tensor(uninitialized: [segments.last!.upperBound, width])
        x.withUnsafeMutableBufferPointer { rows in
            for (resume, segment) in zip(resumes, segments) {
                resume!.residual.withUnsafeBufferPointer { (rows.baseAddress! + segment.lowerBound * width).update(from: $0.baseAddress!, count: $0.count) }
            }
        }
        return .resumed(layer: layer, x: x)
    }

    enum BatchStart {
        case beginning
        case resumed(layer: Int, x: Tensor)
    }

    /// Lets the site visitor read or change `x` at one site (`resid`, `attn`, `mlp`).
    func visit(_ kind: SiteKind, layer: Int, _ x: inout Tensor) {
        visit(kind, layer: layer, &x, rows: 0 ..< x.count / max(x.shape.last ?? 0, 1))
    }

    /// The same for this stack's rows of stacked states `x` (`[Σn, width]`).
    func visit(_ kind: SiteKind, layer: Int, _ x: inout Tensor, rows: Range<Int>) {
        guard let sites, sites.kinds(at: self.kind, layer: layer).contains(kind) else { return }
        let columns = x.shape.last ?? 0
        x.withUnsafeMutableBufferPointer {
            sites.visit(Site(self.kind, layer, kind),
                        SiteValues(pointer: $0.baseAddress! + rows.lowerBound * columns, rows: rows.count, columns: columns))
        }
    }

    /// The per-head sites of one layer's attention (`scores`, `pattern`, `head`) that the visitor wants.
    func attentionSites(layer: Int) -> AttentionSites? {
        guard let sites else { return nil }
        let kinds = sites.kinds(at: kind, layer: layer)
        return kinds.isEmpty ? nil : AttentionSites(visitor: sites, stack: kind, layer: layer, kinds: kinds)
    }

    /// Keeps `x` `[n, hidden]` as hidden state `index` (0 for the stack's input).
    mutating func keepHidden(_ x: Tensor, at index: Int) {
        guard hidden != nil else { return }
        let size = x.count
        hidden!.withUnsafeMutableBufferPointer { h in
            x.withUnsafeBufferPointer { (h.baseAddress! + index * size).update(from: $0.baseAddress!, count: size) }
        }
    }

    /// Keeps rows `rows` of stacked states `x` (`[Σn, hidden]`) as hidden state `index`.
    mutating func keepHidden(_ x: Tensor, rows: Range<Int>, at index: Int) {
        guard hidden != nil else { return }
        let width = x.shape[1]
        hidden!.withUnsafeMutableBufferPointer { h in
            x.withUnsafeBufferPointer {
                (h.baseAddress! + index * rows.count * width).update(from: $0.baseAddress! + rows.lowerBound * width, count: rows.count * width)
            }
        }
    }

    /// Keeps one layer's projections, given as head-interleaved rows (`[rows, ld]`, head `h` at
    /// column `offset + h·headDim`), as `[heads, rows, headDim]` blocks.
    mutating func keep(_ which: WritableKeyPath<StackPass, Tensor?>, layer: Int, rows: Int, heads: Int,
                       from source: UnsafePointer<Float>, ld: Int, offset: Int) {
        guard self[keyPath: which] != nil else { return }
        let headDim = shape.headDim
        let block = layer * heads * rows * headDim
        self[keyPath: which]!.withUnsafeMutableBufferPointer {
            splitHeads(source, ld: ld, offset: offset, rows: rows, heads: heads, headDim: headDim, into: $0.baseAddress! + block)
        }
    }

    /// The captured stack, as a trace holds it.
    var stack: AttentionStack {
        AttentionStack(attention: attention, query: query, key: key, value: value, hidden: hidden, geometry: geometry)
    }
}

/// The per-head sites of one layer's attention that a visitor wants, handed to `multiHeadAttention`.
struct AttentionSites {
    let visitor: SiteVisitor
    let stack: StackKind
    let layer: Int
    let kinds: Set<SiteKind>

    func visitHead(_ kind: SiteKind, head: Int, _ block: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        guard kinds.contains(kind) else { return }
        visitor.visit(Site(stack, layer, kind), SiteValues(pointer: block, rows: rows, columns: columns, head: head))
    }

    /// The head outputs `[queries, heads · headWidth]` before the output projection.
    func visitHeads(_ context: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headWidth: Int) {
        guard kinds.contains(.head) else { return }
        visitor.visit(Site(stack, layer, .head), SiteValues(pointer: context, rows: rows, columns: heads * headWidth, headWidth: headWidth))
    }
}
