import AttnCore

/// The values at a site during a forward pass: a row-major block a visitor may read and change in
/// place. What the rows and columns are depends on the kind (`SiteKind`):
/// - `resid`, `attn`, `mlp`: `[tokens, hidden]`, `head` nil;
/// - `head`: `[queries, heads · headWidth]`, head `h` in columns `h·headWidth ..< (h+1)·headWidth`;
/// - `scores`, `pattern`: one head's `[queries, keys]`, `head` set (called once per head, possibly
///   from several threads at once: a visitor writes only inside the block it is given).
public struct SiteValues {
    public let pointer: UnsafeMutablePointer<Float>
    public let rows: Int
    public let columns: Int
    /// The head of a `scores` or `pattern` block.
    public let head: Int?
    /// The width of one head's slice of a `head` block.
    public let headWidth: Int?

    public init(pointer: UnsafeMutablePointer<Float>, rows: Int, columns: Int, head: Int? = nil, headWidth: Int? = nil) {
        self.pointer = pointer
        self.rows = rows
        self.columns = columns
        self.head = head
        self.headWidth = headWidth
    }

    public var count: Int { rows * columns }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}

/// Receives the values at the sites of a forward pass: the one mechanism behind every
/// intervention (ablation, knockout, scaling, patching) and behind recording activations for a
/// patch or a scan. The layer kit calls it; an architecture adds a site in a line.
public protocol SiteVisitor: AnyObject, Sendable {
    /// The kinds this visitor wants at one layer of a stack; the kit calls `visit` for these only,
    /// so a pass without interventions costs one set lookup per layer.
    func kinds(at stack: StackKind, layer: Int) -> Set<SiteKind>
    /// Reads or changes the values at a site.
    func visit(_ site: Site, _ values: SiteValues)
    /// Where the layers of a stack start: nil for layer 0, or a later layer and the residual stream
    /// entering it (`[tokens, hidden]`), so that a scan re-runs only the layers after the site it
    /// patches. The earlier layers' captures are then zeros: such a pass is for outputs only.
    func resume(_ stack: StackKind, layers: Int) -> (layer: Int, residual: Tensor)?
}

extension SiteVisitor {
    public func resume(_ stack: StackKind, layers: Int) -> (layer: Int, residual: Tensor)? { nil }
}
