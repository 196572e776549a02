/// A kind of point in a layer where an intervention can read or change the forward pass, named like
/// TransformerLens's hook points. Every architecture has every kind the stack's layers compute.
public enum SiteKind: String, Codable, Sendable, CaseIterable, Comparable {
    /// The residual stream entering the layer, `[tokens, hidden]` (`hook_resid_pre`).
    case residual = "resid"
    /// Attention scores before the softmax, `[heads, queries, keys]` (`hook_attn_scores`).
    case scores
    /// The attention pattern, the softmax of the scores, `[heads, queries, keys]` (`hook_pattern`).
    case pattern
    /// Each head's output α·v before the output projection, `[queries, heads · headDim]` (`hook_z`).
    case head
    /// The attention block's output after the output projection, `[queries, hidden]` (`hook_attn_out`).
    case attention = "attn"
    /// The feed-forward block's output, `[tokens, hidden]` (`hook_mlp_out`).
    case mlp

    /// The kinds a stack's layers have: cross-attention has no residual stream or feed-forward of
    /// its own (they belong to the decoder's layers).
    public static func available(in stack: StackKind) -> [SiteKind] {
        stack == .cross ? [.scores, .pattern, .head, .attention] : allCases
    }

    /// True for the kinds whose values are per head (`scores`, `pattern`, `head`).
    public var isPerHead: Bool { self == .scores || self == .pattern || self == .head }

    public static func < (a: SiteKind, b: SiteKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One site of one layer of one stack: `encoder.5.head`, `decoder.2.resid`, `cross.0.pattern`.
public struct Site: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var stack: StackKind
    public var layer: Int
    public var kind: SiteKind

    public init(_ stack: StackKind, _ layer: Int, _ kind: SiteKind) {
        self.stack = stack
        self.layer = layer
        self.kind = kind
    }

    /// `stack.layer.kind`, as experiment files and the command line write it.
    public var description: String { "\(stack.rawValue).\(layer).\(kind.rawValue)" }

    /// Parses `encoder.5.head`; nil when it is not of that form.
    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let stack = StackKind(rawValue: parts[0]), let layer = Int(parts[1]), layer >= 0,
              let kind = SiteKind(rawValue: parts[2]) else { return nil }
        self.init(stack, layer, kind)
    }

    public static func < (a: Site, b: Site) -> Bool {
        (a.stack, a.layer, a.kind) < (b.stack, b.layer, b.kind)
    }
}
