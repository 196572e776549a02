import AttnCore
import AttnDiff
import Foundation

/// The scan view: a scan's layers × heads (or layers × words) coloured by effect on a diverging
/// scale (normalised by default, raw on request), the target's and the source's values, the cells
/// ranked; clicking a cell opens the head view of that layer and head for the target and the source
/// side by side (hovering a token in one focuses its counterpart in the other). Both traces'
/// attention for the scanned layers is in the page; the head views are `head.js`'s own.
/// The page logic lives in `Resources/scan.js`, its self-test in `Resources/scan.selftest.js`.
///
/// ```swift
/// let file = try ScanFile.read(URL(fileURLWithPath: "scan.json"))
/// try ScanView.write(file.result, target: file.target!, source: file.source, to: URL(fileURLWithPath: "scan.html"))
/// ```
public enum ScanView {
    static let scripts = ["core.js", "diagram.js", "head.js", "scan.js", "scan.selftest.js"]

    /// How the page looks when it opens.
    public struct Options: Sendable, Equatable {
        public var mode: DisplayMode
        /// The page's title (nil: the scan and the model).
        public var title: String?
        /// Colour cells by the raw effect first (default: normalised, when the scan has a source).
        public var raw: Bool
        /// The cell opened when the page loads, named as the scan names it (`5.4`, `3:B:sick`);
        /// nil opens the strongest, "" none.
        public var cell: String?
        /// How the target and the source are called in headings (default: the scan's names).
        public var targetName: String?
        public var sourceName: String?

        public init(mode: DisplayMode = .dark, title: String? = nil, raw: Bool = false, cell: String? = nil,
                    targetName: String? = nil, sourceName: String? = nil) {
            self.mode = mode
            self.title = title
            self.raw = raw
            self.cell = cell
            self.targetName = targetName
            self.sourceName = sourceName
        }
    }

    /// The page's bytes. Throws a `CoreError` when the traces do not fit the scan (another
    /// model's layers or heads) or the cell to open is not in it.
    public static func render(_ scan: ScanResult, target: Trace, source: Trace?, options: Options = Options()) throws -> Data {
        let payload = try ScanPayload.build(scan, target: target, source: source, options: options)
        return try Page.html(fields: payload, blob: payload.blob, view: .scan, title: payload.title, scripts: scripts, mode: options.mode)
    }

    /// A scan file's page: it must hold the target's trace (`attnlab scan --out` keeps it).
    public static func render(_ file: ScanFile, options: Options = Options()) throws -> Data {
        guard let target = file.target else {
            throw CoreError("the scan file holds no traces to draw its heads from",
                            hint: "write it with `attnlab scan --out scan.json` (it keeps both traces), or draw it with `attnlab figure --kind scan`")
        }
        return try render(file.result, target: target, source: file.source, options: options)
    }

    /// Renders and writes the page atomically: on error nothing is written.
    public static func write(_ scan: ScanResult, target: Trace, source: Trace?, options: Options = Options(), to url: URL) throws {
        try AtomicFile.write(try render(scan, target: target, source: source, options: options), to: url)
    }
}

/// What the scan page reads: the scan, its ranking, and for each side (target, source) the head
/// view's own payload over the scanned layers, each with its part of the blob.
struct ScanPayload: Encodable {
    var format = 1
    var view = ViewKind.scan
    var title: String
    var model: String
    var scan: ScanResult
    /// Every cell, the strongest first (`ScanResult.ranked`).
    var ranked: [RankedCell]
    /// Word scans: per column, the token the word starts at in the target and in the source.
    var columnTokens: [[Int?]]?
    var sides: [Side]
    /// Target token → source token, through the words (for hovering one side from the other).
    var tokenMap: [[Int]]
    var initial: Initial
    /// What the reader should know about what the heads shown are (nil: nothing).
    var note: String?
    var blob: [UInt8] = []

    enum CodingKeys: String, CodingKey {
        case format, view, title, model, scan, ranked, columnTokens, sides, tokenMap, initial, note
    }

    struct RankedCell: Encodable {
        var layer: Int
        var column: Int
        var name: String
        var effect: Double
        var normalized: Double?
    }

    struct Side: Encodable {
        /// `target` or `source`.
        var role: String
        var name: String
        /// The metric of this side, unpatched.
        var value: Double?
        /// Offset and length of this side's chunks in the blob.
        var blob: [Int]
        var fields: ViewPayload
    }

    struct Initial: Encodable {
        /// `normalized` or `raw`.
        var values: String
        /// The cell opened first: `[layer, column index]`.
        var cell: [Int]?
    }

    static func build(_ scan: ScanResult, target: Trace, source: Trace?, options: ScanView.Options) throws -> ScanPayload {
        let scanned = scan.stack
        var sides: [(role: String, name: String, value: Double?, trace: Trace)] = [
            ("target", options.targetName ?? scan.target, scan.targetValue, target),
        ]
        if let source { sides.append(("source", options.sourceName ?? scan.source ?? "source", scan.sourceValue, source)) }
        for side in sides {
            guard let stack = side.trace.stacks[scanned] else {
                throw CoreError("the \(side.role) trace has no \(scanned.rawValue) attention, which the scan patched",
                                hint: "give the traces the scan was made from")
            }
            if let bad = scan.layers.first(where: { $0 >= stack.layerCount }) {
                throw CoreError("the scan names layer \(bad), but the \(side.role) trace has \(stack.layerCount) layers",
                                hint: "give the traces the scan was made from")
            }
            if scan.site == .head, scan.columns.count != stack.headCount {
                throw CoreError("the scan has \(scan.columns.count) heads per layer, but the \(side.role) trace has \(stack.headCount)",
                                hint: "give the traces the scan was made from")
            }
        }
        let ranked = scan.ranked()
        var initialCell: [Int]?
        if let wanted = options.cell {
            if !wanted.isEmpty {
                guard let cell = ranked.first(where: { scan.name(of: $0) == wanted }) else {
                    let examples = ranked.prefix(3).map { scan.name(of: $0) }.joined(separator: ", ")
                    throw CoreError("the scan has no cell \(wanted)", hint: "name one as the scan does, such as \(examples)")
                }
                initialCell = [cell.layer, cell.column]
            }
        } else if let first = ranked.first {
            initialCell = [first.layer, first.column]
        }

        var blob: [UInt8] = []
        var packed: [Side] = []
        for side in sides {
            let viewOptions = ViewOptions(mode: options.mode, includeLayers: scan.layers, stack: scanned, layer: scan.layers.first,
                                          title: "\(side.role): \(side.name) · \(ViewPayload.defaultTitle(side.trace))")
            var fields = try ViewPayload.build(side.trace, view: .head, options: viewOptions, includeQKV: false)
            let part = fields.blob
            fields.blob = []
            packed.append(Side(role: side.role, name: side.name, value: side.value, blob: [blob.count, part.count], fields: fields))
            blob += part
        }

        let alignment = source.map { WordAlignment(target, $0) }
        var tokenMap: [[Int]] = []
        if let alignment {
            for pair in alignment.pairs {
                guard let a = pair.a, let b = pair.b else { continue }
                let (from, to) = (alignment.wordsA[a].tokens, alignment.wordsB[b].tokens)
                if from.count == to.count {
                    for (t, s) in zip(from, to) { tokenMap.append([t, s]) }
                } else if let t = from.first, let s = to.first {
                    tokenMap.append([t, s])
                }
            }
        }
        var columnTokens: [[Int?]]?
        if scan.site != .head {
            let targetStarts = wordStarts(target)
            columnTokens = scan.columns.map { label in
                let t = targetStarts[label]
                let s = t.flatMap { t in tokenMap.first { $0[0] == t }?[1] }
                return [t, s]
            }
        }
        let title = options.title ?? "\(scan.mode.rawValue) scan of \(scan.siteDescription) · \(scan.source.map { "\($0) → " } ?? "")\(scan.target) · \(scan.metric)"
        return ScanPayload(
            title: title, model: target.provenance.model, scan: scan,
            ranked: ranked.map { RankedCell(layer: $0.layer, column: $0.column, name: scan.name(of: $0), effect: $0.effect, normalized: $0.normalized) },
            columnTokens: columnTokens, sides: packed, tokenMap: tokenMap,
            initial: Initial(values: options.raw || scan.sourceValue == nil ? "raw" : "normalized", cell: initialCell),
            note: scan.metric == "similarity" && target.isPair
                ? "The similarity is the cosine of the two sentences' embeddings, each sentence run on its own, and each cell was patched in those runs; the heads shown are those of the pair run jointly, as the traces hold them."
                : nil,
            blob: blob)
    }

    /// A trace's words by the label a word scan gives its column (`A:the`, `B:sick`, `[CLS]`,
    /// `the#2`), each with its first token.
    static func wordStarts(_ trace: Trace) -> [String: Int] {
        var starts: [String: Int] = [:], seen: [String: Int] = [:]
        for word in TraceWords.group(trace.tokens, inputs: trace.inputs) {
            var label = (trace.isPair && !word.special ? (word.segment == 0 ? "A:" : "B:") : "") + word.text
            seen[label, default: 0] += 1
            if seen[label]! > 1 { label += "#\(seen[label]!)" }
            if let first = word.tokens.first, starts[label] == nil { starts[label] = first }
        }
        return starts
    }
}
