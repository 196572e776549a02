import AttnCore
import Foundation

/// The values a pass had at one site, kept to patch another pass with or to measure means:
/// `[rows, columns]` for `resid`, `attn`, `mlp` and `head`; `[heads, rows, columns]` for `scores`
/// and `pattern`.
public struct SiteRecording: Sendable, Equatable {
    public var values: [Float]
    public var rows: Int
    public var columns: Int
    /// `scores`, `pattern`: the heads stacked first.
    public var heads: Int?
    /// `head`: the width of each head's columns.
    public var headWidth: Int?

    /// The mean over rows of each column, `[columns]` (a head's mean output over the tokens).
    public func columnMeans(rows selected: [Int]? = nil) -> [Float] {
        let rowList = selected ?? Array(0 ..< rows)
        var means = [Double](repeating: 0, count: columns)
        for r in rowList { for c in 0 ..< columns { means[c] += Double(values[r * columns + c]) } }
        return means.map { Float($0 / Double(max(rowList.count, 1))) }
    }
}

/// An intervention resolved to the token positions of one forward pass.
public enum SiteEdit: Sendable, Equatable {
    /// What becomes of one head's output α·v at every position.
    public enum HeadChange: Sendable, Equatable {
        case zero
        /// The same vector `[headWidth]` at every position (a mean ablation).
        case constant([Float])
        case scale(Float)
    }

    /// Changes head `head`'s slice of the `head` site of a layer.
    case headOutput(stack: StackKind, layer: Int, head: Int, change: HeadChange)
    /// Sets the scores from `queries` to `keys` to −∞ before the softmax (`scores` site) in the
    /// given heads (nil: all), so the rows renormalise over the keys left.
    case cutEdges(stack: StackKind, layer: Int, heads: Set<Int>?, queries: [Int], keys: [Int])
    /// Copies values from a recording of another pass: `rows` maps each target row (token) to a
    /// source row (nil: every row to the same row); for per-head sites `heads` limits the heads.
    case copy(site: Site, heads: Set<Int>?, rows: [RowMapping]?, from: SiteRecording)
    /// Zeros the rows (tokens) of a `resid`, `attn` or `mlp` site.
    case zeroRows(site: Site, rows: [Int])

    /// The site this edit acts at.
    public var site: Site {
        switch self {
        case .headOutput(let stack, let layer, _, _): return Site(stack, layer, .head)
        case .cutEdges(let stack, let layer, _, _, _): return Site(stack, layer, .scores)
        case .copy(let site, _, _, _): return site
        case .zeroRows(let site, _): return site
        }
    }
}

/// One target token and the source token whose values it takes.
public struct RowMapping: Sendable, Equatable {
    public var target: Int
    public var source: Int

    public init(target: Int, source: Int) {
        self.target = target
        self.source = source
    }
}

/// What one forward pass does at its sites: the edits of its interventions, the sites whose values
/// it keeps (after the edits), and where its stacks resume (a scan's partial pass). The one
/// `SiteVisitor` the interventions, patches, scans and attributions use.
public final class SitePlan: SiteVisitor, @unchecked Sendable {
    private let edits: [Site: [SiteEdit]]
    private let recorded: Set<Site>
    private let resumes: [StackKind: (layer: Int, residual: Tensor)]
    private let lock = NSLock()
    private var recordings: [Site: SiteRecording] = [:]

    public init(edits: [SiteEdit] = [], record: Set<Site> = [], resume: [StackKind: (layer: Int, residual: Tensor)] = [:]) {
        self.edits = Dictionary(grouping: edits, by: \.site)
        self.recorded = record
        self.resumes = resume
    }

    /// The values kept at `site`, after the pass.
    public func recording(_ site: Site) -> SiteRecording? {
        lock.lock()
        defer { lock.unlock() }
        return recordings[site]
    }

    public var isEmpty: Bool { edits.isEmpty && recorded.isEmpty && resumes.isEmpty }

    public func kinds(at stack: StackKind, layer: Int) -> Set<SiteKind> {
        var kinds = Set<SiteKind>()
        for kind in SiteKind.allCases {
            let site = Site(stack, layer, kind)
            if edits[site] != nil || recorded.contains(site) { kinds.insert(kind) }
        }
        return kinds
    }

    public func resume(_ stack: StackKind, layers: Int) -> (layer: Int, residual: Tensor)? { resumes[stack] }

    public func visit(_ site: Site, _ values: SiteValues) {
        for edit in edits[site] ?? [] { Self.apply(edit, to: values) }
        if recorded.contains(site) { record(site, values) }
    }

    private func record(_ site: Site, _ values: SiteValues) {
        lock.lock()
        defer { lock.unlock() }
        if let head = values.head {
            // Per-head blocks arrive one head at a time, possibly from several threads.
            let size = values.count
            var recording = recordings[site] ?? SiteRecording(values: [], rows: values.rows, columns: values.columns, heads: 0)
            let needed = (head + 1) * size
            if recording.values.count < needed { recording.values += [Float](repeating: 0, count: needed - recording.values.count) }
            recording.values.withUnsafeMutableBufferPointer { target in
                (target.baseAddress! + head * size).update(from: values.pointer, count: size)
            }
            recording.heads = max(recording.heads ?? 0, head + 1)
            recordings[site] = recording
        } else {
            recordings[site] = SiteRecording(values: Array(values.buffer), rows: values.rows, columns: values.columns,
                                             headWidth: values.headWidth)
        }
    }

    static func apply(_ edit: SiteEdit, to values: SiteValues) {
        let p = values.pointer
        switch edit {
        case .headOutput(_, _, let head, let change):
            guard let width = values.headWidth else { return }
            for r in 0 ..< values.rows {
                let slice = p + r * values.columns + head * width
                switch change {
                case .zero: slice.update(repeating: 0, count: width)
                case .constant(let vector): vector.withUnsafeBufferPointer { slice.update(from: $0.baseAddress!, count: min(width, vector.count)) }
                case .scale(let factor): for i in 0 ..< width { slice[i] *= factor }
                }
            }
        case .cutEdges(_, _, let heads, let queries, let keys):
            guard let head = values.head, heads?.contains(head) ?? true else { return }
            for q in queries where q < values.rows {
                for k in keys where k < values.columns { p[q * values.columns + k] = -Float.greatestFiniteMagnitude }
            }
        case .copy(let site, let heads, let rows, let source):
            copy(site.kind, heads: heads, rows: rows, from: source, to: values)
        case .zeroRows(_, let rows):
            for row in rows where row < values.rows { (p + row * values.columns).update(repeating: 0, count: values.columns) }
        }
    }

    private static func copy(_ kind: SiteKind, heads: Set<Int>?, rows: [RowMapping]?, from source: SiteRecording, to values: SiteValues) {
        let p = values.pointer
        let mapping = rows ?? (0 ..< min(values.rows, source.rows)).map { RowMapping(target: $0, source: $0) }
        source.values.withUnsafeBufferPointer { s in
            switch kind {
            case .scores, .pattern:
                guard let head = values.head, heads?.contains(head) ?? true, head < (source.heads ?? 0) else { return }
                // [queries, keys] of this head: rows and columns both follow the token mapping.
                let block = s.baseAddress! + head * source.rows * source.columns
                let columns = rows ?? (0 ..< min(values.columns, source.columns)).map { RowMapping(target: $0, source: $0) }
                for row in mapping where row.target < values.rows && row.source < source.rows {
                    for column in columns where column.target < values.columns && column.source < source.columns {
                        p[row.target * values.columns + column.target] = block[row.source * source.columns + column.source]
                    }
                }
            case .head:
                let width = values.headWidth ?? values.columns
                let headCount = values.columns / max(width, 1)
                for row in mapping where row.target < values.rows && row.source < source.rows {
                    for head in 0 ..< headCount where heads?.contains(head) ?? true {
                        (p + row.target * values.columns + head * width)
                            .update(from: s.baseAddress! + row.source * source.columns + head * width, count: width)
                    }
                }
            case .residual, .attention, .mlp:
                for row in mapping where row.target < values.rows && row.source < source.rows {
                    (p + row.target * values.columns).update(from: s.baseAddress! + row.source * source.columns,
                                                             count: min(values.columns, source.columns))
                }
            }
        }
    }
}
