import AttnCore
import Foundation

/// What a scan measured: for every cell (a layer × a head, or a layer × a word), the model's
/// output when that one site is patched from the source variant into the target (or ablated), as
/// the raw change from the target's own output and normalised so that 0 is the target's value and
/// 1 the source's (TransformerLens's activation-patching metric).
public struct ScanResult: Codable, Sendable, Equatable {
    /// One cell, for rankings.
    public struct Cell: Sendable, Equatable, Codable {
        public var layer: Int
        /// The head (head scans) or word (word scans) index of the column.
        public var column: Int
        public var label: String
        public var effect: Double
        public var normalized: Double?
    }

    public enum Mode: String, Codable, Sendable, CaseIterable {
        /// Copy the site's values from the source variant.
        case patch
        /// Zero the site's values (the source is not used).
        case ablate
    }

    public var stack: StackKind
    public var site: SiteKind
    public var mode: Mode
    /// The measured output (`similarity`, `p(she)`, `logit(she) − logit(he)`).
    public var metric: String
    /// The variants: the one patched, and the one the values come from.
    public var target: String
    public var source: String?
    /// The metric of the target and of the source, unpatched.
    public var targetValue: Double
    public var sourceValue: Double?
    /// The layers scanned (rows) and the columns: heads (`"4"`) or words (`"B:sick"`).
    public var layers: [Int]
    public var columns: [String]
    /// `[layers][columns]`: patched value − target value.
    public var effects: [[Double]]
    /// `[layers][columns]`: (patched − target) / (source − target); nil when source and target agree
    /// or a cell could not be patched.
    public var normalized: [[Double?]]
    /// Cells that could not be patched (a word split differently in the two inputs), by "layer,column".
    public var skipped: [String]

    public init(stack: StackKind, site: SiteKind, mode: Mode, metric: String, target: String, source: String?,
                targetValue: Double, sourceValue: Double?, layers: [Int], columns: [String], effects: [[Double]],
                skipped: [String] = []) {
        self.stack = stack
        self.site = site
        self.mode = mode
        self.metric = metric
        self.target = target
        self.source = source
        self.targetValue = targetValue
        self.sourceValue = sourceValue
        self.layers = layers
        self.columns = columns
        self.effects = effects
        self.skipped = skipped
        let span = sourceValue.map { $0 - targetValue }
        normalized = effects.enumerated().map { row, values in
            values.enumerated().map { column, effect in
                guard let span, abs(span) > 1e-12, !skipped.contains("\(layers[row]),\(column)"), effect.isFinite else { return nil }
                return effect / span
            }
        }
    }

    /// Every cell, the largest effect first (by |normalised| when there is a source, else by
    /// |effect|); equal ones in layer and column order, so the ranking is stable.
    public func ranked() -> [Cell] {
        var cells: [Cell] = []
        for (row, layer) in layers.enumerated() {
            for (column, label) in columns.enumerated() where effects[row][column].isFinite {
                cells.append(Cell(layer: layer, column: column, label: label, effect: effects[row][column],
                                  normalized: normalized[row][column]))
            }
        }
        let key = { (cell: Cell) -> Double in abs(cell.normalized ?? cell.effect) }
        return cells.sorted { key($0) != key($1) ? key($0) > key($1) : ($0.layer, $0.column) < ($1.layer, $1.column) }
    }

    /// The `count` strongest cells.
    public func top(_ count: Int) -> [Cell] { Array(ranked().prefix(count)) }

    /// A cell's name as the command line and experiment files write it: `5.4` for a head, `3:B:sick`
    /// for a word.
    public func name(of cell: Cell) -> String {
        site == .head ? "\(cell.layer).\(cell.column)" : "\(cell.layer):\(cell.label)"
    }

    /// The cell at a layer and a column label (a head number or a word), if scanned.
    public func cell(layer: Int, column label: String) -> Cell? {
        guard let row = layers.firstIndex(of: layer), let column = columns.firstIndex(of: label) else { return nil }
        return Cell(layer: layer, column: column, label: label, effect: effects[row][column], normalized: normalized[row][column])
    }

    enum CodingKeys: String, CodingKey {
        case stack, site, mode, metric, target, source, layers, columns, effects, normalized, skipped
        case targetValue = "target_value", sourceValue = "source_value"
    }
}
