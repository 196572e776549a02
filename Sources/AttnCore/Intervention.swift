import Foundation

/// A head of a stack, `layer.head` (`5.4`), both counted from 0.
public struct HeadRef: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var layer: Int
    public var head: Int

    public init(layer: Int, head: Int) {
        self.layer = layer
        self.head = head
    }

    /// Parses `5.4`; nil when it is not two numbers from 0 joined by a dot.
    public init?(parsing text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let layer = Int(parts[0]), let head = Int(parts[1]), layer >= 0, head >= 0 else { return nil }
        self.init(layer: layer, head: head)
    }

    public var description: String { "\(layer).\(head)" }

    public static func < (a: HeadRef, b: HeadRef) -> Bool { (a.layer, a.head) < (b.layer, b.head) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = HeadRef(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\"\(text)\" is not LAYER.HEAD"))
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// What replaces an ablated head's output.
public enum AblationMode: String, Codable, Sendable, CaseIterable {
    /// Zeros.
    case zero
    /// The head's mean output over a reference: the input's own tokens, or every base input of an
    /// experiment.
    case mean
}

/// One change to a forward pass, as data: what experiment files, the command line and the server
/// build, what a trace records, and what the layer kit's site mechanism carries out. (pyvene's
/// idea: an intervention that can be saved and replayed.)
public struct Intervention: Codable, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Replace heads' outputs (α·v before the output projection) by zeros or their mean.
        case ablate
        /// Cut attention edges from words X to words Y: scores set to −∞ before the softmax, so
        /// each row is renormalised over the keys that remain.
        case knockout
        /// Multiply heads' outputs by a factor.
        case scale
        /// Copy a site's values from another variant of the same input and model.
        case patch
    }

    public var kind: Kind
    /// The stack acted on (`encoder` for encoder-only and decoder-only models).
    public var stack: StackKind
    /// ablate, scale: the heads; knockout: the heads whose edges are cut (empty: every head of `layers`);
    /// patch: for per-head sites, the heads copied (empty: all).
    public var heads: [HeadRef]
    /// knockout, patch: the layers (nil: every layer; heads name their own layers).
    public var layers: [Int]?
    /// ablate: zero or mean.
    public var mode: AblationMode?
    /// scale: the factor.
    public var factor: Double?
    /// knockout: the words whose tokens are the queries, and the words whose tokens are the keys.
    public var from: [String]?
    public var to: [String]?
    /// patch: the site kind copied, and the variant it is copied from (`input/variant`, or a
    /// variant of the same input).
    public var site: SiteKind?
    public var source: String?
    /// patch: only the positions of these words (nil: every position).
    public var words: [String]?

    public init(kind: Kind, stack: StackKind = .encoder, heads: [HeadRef] = [], layers: [Int]? = nil, mode: AblationMode? = nil,
                factor: Double? = nil, from: [String]? = nil, to: [String]? = nil, site: SiteKind? = nil, source: String? = nil,
                words: [String]? = nil) {
        self.kind = kind
        self.stack = stack
        self.heads = heads
        self.layers = layers
        self.mode = mode
        self.factor = factor
        self.from = from
        self.to = to
        self.site = site
        self.source = source
        self.words = words
    }

    public static func ablate(_ heads: [HeadRef], mode: AblationMode = .zero, stack: StackKind = .encoder) -> Intervention {
        Intervention(kind: .ablate, stack: stack, heads: heads, mode: mode)
    }

    public static func scale(_ heads: [HeadRef], by factor: Double, stack: StackKind = .encoder) -> Intervention {
        Intervention(kind: .scale, stack: stack, heads: heads, factor: factor)
    }

    public static func knockout(from: [String], to: [String], layers: [Int]? = nil, heads: [HeadRef] = [],
                                stack: StackKind = .encoder) -> Intervention {
        Intervention(kind: .knockout, stack: stack, heads: heads, layers: layers, from: from, to: to)
    }

    public static func patch(_ site: SiteKind, from source: String, layers: [Int]? = nil, heads: [HeadRef] = [],
                             words: [String]? = nil, stack: StackKind = .encoder) -> Intervention {
        Intervention(kind: .patch, stack: stack, heads: heads, layers: layers, site: site, source: source, words: words)
    }

    /// One line: `ablate 5.4 (zero)`, `knockout terrific → awesome in layer 5`,
    /// `scale 5.4 × 2`, `patch encoder head of layers 5 from eminem/terrific`.
    public var description: String {
        let stackName = stack == .encoder ? "" : "\(stack.rawValue) "
        let headList = heads.map(\.description).joined(separator: ", ")
        func layerText(_ layers: [Int]?) -> String {
            guard let layers, !layers.isEmpty else { return "every layer" }
            return (layers.count == 1 ? "layer " : "layers ") + layers.map(String.init).joined(separator: ", ")
        }
        switch kind {
        case .ablate:
            return "ablate \(stackName)\(headList) (\((mode ?? .zero).rawValue))"
        case .scale:
            return "scale \(stackName)\(headList) × \(Self.number(factor ?? 1))"
        case .knockout:
            let place = heads.isEmpty ? layerText(layers) : "heads " + headList
            return "knockout \((from ?? []).joined(separator: ", ")) → \((to ?? []).joined(separator: ", ")) in \(stackName)\(place)"
        case .patch:
            let what = (site ?? .head).rawValue
            let place = heads.isEmpty ? layerText(layers) : "heads " + headList
            let positions = words.map { " at " + $0.joined(separator: ", ") } ?? ""
            return "patch \(stackName)\(what) of \(place)\(positions) from \(source ?? "?")"
        }
    }

    /// A short name for paths and variant names: `ablate-5.4`, `knockout-terrific-awesome-5`,
    /// `scale-5.4x2`, `patch-head-5-terrific`.
    public var slug: String {
        let headList = heads.map(\.description).joined(separator: "+")
        let layerList = (layers ?? []).map(String.init).joined(separator: "+")
        var parts: [String]
        switch kind {
        case .ablate: parts = ["ablate", headList] + (mode == .mean ? ["mean"] : [])
        case .scale: parts = ["scale", headList + "x" + Self.number(factor ?? 1)]
        case .knockout: parts = ["knockout"] + (from ?? []) + (to ?? []) + [headList.isEmpty ? layerList : headList]
        case .patch: parts = ["patch", (site ?? .head).rawValue, headList.isEmpty ? layerList : headList, (source ?? "").split(separator: "/").last.map(String.init) ?? ""]
        }
        let stackPart = stack == .encoder ? [] : [stack.rawValue]
        return (stackPart + parts).filter { !$0.isEmpty }.joined(separator: "-")
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }

    enum CodingKeys: String, CodingKey {
        case kind, stack, heads, layers, mode, factor, from, to, site, source, words
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        stack = try c.decodeIfPresent(StackKind.self, forKey: .stack) ?? .encoder
        heads = try c.decodeIfPresent([HeadRef].self, forKey: .heads) ?? []
        layers = try c.decodeIfPresent([Int].self, forKey: .layers)
        mode = try c.decodeIfPresent(AblationMode.self, forKey: .mode)
        factor = try c.decodeIfPresent(Double.self, forKey: .factor)
        from = try c.decodeIfPresent([String].self, forKey: .from)
        to = try c.decodeIfPresent([String].self, forKey: .to)
        site = try c.decodeIfPresent(SiteKind.self, forKey: .site)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        words = try c.decodeIfPresent([String].self, forKey: .words)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(stack, forKey: .stack)
        if !heads.isEmpty { try c.encode(heads, forKey: .heads) }
        try c.encodeIfPresent(layers, forKey: .layers)
        try c.encodeIfPresent(mode, forKey: .mode)
        try c.encodeIfPresent(factor, forKey: .factor)
        try c.encodeIfPresent(from, forKey: .from)
        try c.encodeIfPresent(to, forKey: .to)
        try c.encodeIfPresent(site, forKey: .site)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(words, forKey: .words)
    }
}
