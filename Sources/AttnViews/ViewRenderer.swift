import AttnCore
import Foundation

/// The interactive views AttnLab writes as single HTML files.
public enum ViewKind: String, CaseIterable, Sendable, Codable {
    /// BertViz's head view: lines from each token to each token, for the chosen heads of one layer.
    case head
    /// A grid of layers × heads, each a thumbnail of its head's pattern; click one to open it.
    case model
    /// Queries, keys, their products, the softmax, the values and what each key contributes.
    case neuron
    /// A scan's layers × heads (or layers × words) coloured by effect; a cell opens the head view of
    /// target and source side by side. Drawn from a scan (`ScanView`), not from one trace.
    case scan

    /// A base and a variant side by side on one colour scale, and their difference (two traces).
    case compare

    /// The views drawn from one trace.
    public static let traceViews: [ViewKind] = [.head, .model, .neuron]
}

/// The colour scheme of a view.
public enum DisplayMode: String, CaseIterable, Sendable, Codable {
    case dark, light
}

/// Which sentence's tokens attend to which, for a sentence pair (BertViz's attention filter).
public enum SentenceFilter: String, CaseIterable, Sendable, Codable {
    /// Every token to every token.
    case all
    /// Sentence A to sentence A, B to B, A to B, B to A.
    case aToA = "a-a", bToB = "b-b", aToB = "a-b", bToA = "b-a"
}

/// What the first key column does to the model view's thumbnails. In causal models the first token
/// takes most of the attention (an attention sink), which would leave every other cell pale.
public enum SinkDisplay: String, CaseIterable, Sendable, Codable {
    /// Hidden for causal models, shown otherwise.
    case auto
    /// Left out of the thumbnails, each of which is scaled to its strongest remaining weight.
    case hide
    /// Drawn like every other key.
    case show
}

/// What a view includes and how it looks when it opens. Layer and head numbers are the model's own.
public struct ViewOptions: Sendable, Equatable {
    /// Colour scheme.
    public var mode: DisplayMode
    /// Layers included in the page (nil: all). The others are left out of the file entirely.
    public var includeLayers: [Int]?
    /// Heads included in the page (nil: all).
    public var includeHeads: [Int]?
    /// The stack shown first (nil: the encoder, or the first stack the trace has).
    public var stack: StackKind?
    /// The layer shown first (nil: the first included layer).
    public var layer: Int?
    /// The heads selected first: the head view draws these, the neuron view opens the first one
    /// (nil: every included head in the head view, the first one in the neuron view).
    public var selectedHeads: [Int]?
    /// The sentence filter when the page opens (pairs only; head and model views).
    public var sentences: SentenceFilter
    /// A token selected (pinned) when the page opens: an index along the query axis of the first
    /// stack. The head view isolates its lines, the neuron view uses it as the query.
    public var token: Int?
    /// Lines for weights below this are hidden (nil: 0 up to 64 tokens, 0.01 above: a line is drawn
    /// with its weight as opacity, so weaker ones barely show, and there are many).
    public var threshold: Double?
    /// Only each query token's `topK` strongest lines are drawn (0: all).
    public var topK: Int
    /// A title for the page (nil: the model and the input).
    public var title: String?
    /// The model view's first key column when the page opens (a toggle on the page changes it).
    public var sink: SinkDisplay = .auto

    public init(mode: DisplayMode = .dark, includeLayers: [Int]? = nil, includeHeads: [Int]? = nil,
                stack: StackKind? = nil, layer: Int? = nil, selectedHeads: [Int]? = nil, sentences: SentenceFilter = .all,
                token: Int? = nil, threshold: Double? = nil, topK: Int = 0, title: String? = nil, sink: SinkDisplay = .auto) {
        self.mode = mode
        self.includeLayers = includeLayers
        self.includeHeads = includeHeads
        self.stack = stack
        self.layer = layer
        self.selectedHeads = selectedHeads
        self.sentences = sentences
        self.token = token
        self.threshold = threshold
        self.topK = topK
        self.title = title
        self.sink = sink
    }
}

/// Renders traces as self-contained HTML views: inline JS and CSS, no network, usable from
/// `file://` and as an iframe `srcdoc` in a notebook.
///
/// ```swift
/// let trace = try TraceFile.read(url)
/// let page = try ViewRenderer.render(trace, view: .head, options: ViewOptions(layer: 2, selectedHeads: [3, 5]))
/// try AtomicFile.write(page, to: URL(fileURLWithPath: "head.html"))
/// ```
///
/// Once the first view is drawn (its canvases rasterised), the page sets `data-first-draw-ms` on
/// `<body>`: milliseconds since navigation started, parsing and decoding included. Opening the
/// page with `chromium --headless=new --virtual-time-budget=30000 --dump-dom` therefore gives its
/// time to interactive. Opened with `#selftest`, the page runs its interactions and writes the
/// results as JSON into `<pre id="attnlab-selftest">`.
public enum ViewRenderer {
    /// The page's bytes (UTF-8 HTML). Throws a `CoreError` when an option does not fit the trace
    /// (a layer or head the model does not have, a neuron view of a trace without queries and keys).
    public static func render(_ trace: Trace, view: ViewKind, options: ViewOptions = ViewOptions()) throws -> Data {
        guard view != .compare else {
            throw CoreError("the compare view needs two traces, a base and a variant", hint: "give both: attnlab view BASE VARIANT --view compare")
        }
        let definition = try definition(of: view)
        let payload = try ViewPayload.build(trace, view: view, options: options, includeQKV: definition.needsQKV)
        return try Page.html(payload: payload, scripts: definition.scripts, mode: options.mode)
    }

    /// The data of a view alone: the text of the page's payload element, which a page already
    /// showing the same view can be sent to draw another trace (`attnlab serve` does so).
    public static func payload(_ trace: Trace, view: ViewKind, options: ViewOptions = ViewOptions()) throws -> Data {
        try Page.json(try ViewPayload.build(trace, view: view, options: options, includeQKV: definition(of: view).needsQKV))
    }

    /// Renders and writes the page atomically: on error nothing is written.
    public static func write(_ trace: Trace, view: ViewKind, options: ViewOptions = ViewOptions(), to url: URL) throws {
        try AtomicFile.write(try render(trace, view: view, options: options), to: url)
    }

    /// The compare view of `base` (A) and `variant` (B): their encoder attention side by side on
    /// one colour scale, their difference, the words that changed, the heads that changed most.
    /// It opens on the head that changed most unless `options` choose one (`layer`, the first of
    /// `selectedHeads`). `names` label the two sides.
    public static func renderComparison(base: Trace, variant: Trace, options: ViewOptions = ViewOptions(),
                                        names: (String, String) = ("A", "B")) throws -> Data {
        let payload = try CompareView.payload(base: base, variant: variant, options: options, names: names)
        return try Page.html(payload: payload, scripts: CompareView.scripts, mode: options.mode)
    }

    /// Renders the compare view and writes it atomically: on error nothing is written.
    public static func writeComparison(base: Trace, variant: Trace, options: ViewOptions = ViewOptions(), names: (String, String) = ("A", "B"),
                                       to url: URL) throws {
        try AtomicFile.write(try renderComparison(base: base, variant: variant, options: options, names: names), to: url)
    }

    static func definition(of view: ViewKind) throws -> any ViewDefinition.Type {
        switch view {
        case .head: HeadView.self
        case .model: ModelView.self
        case .neuron: NeuronView.self
        case .compare: CompareView.self
        case .scan:
            throw CoreError("the scan view draws a scan, not a trace",
                            hint: "give a scan file (`attnlab scan --out scan.json`) or a run with scans, or choose --view head, model or neuron")
        }
    }
}

/// What distinguishes one view from another on the Swift side: its scripts and the data it needs.
protocol ViewDefinition {
    /// Script resources, in load order (the shared ones first).
    static var scripts: [String] { get }
    /// True when the view needs each stack's queries, keys and values.
    static var needsQKV: Bool { get }
}
