import AttnCore
import AttnDiff
import Foundation

// The causal parts of a run in its snapshots:
//
//   <model>/<scan>.scan.json     a scan: its variants, metric, the target's and source's values, every
//                                cell's effect (one layer per line) and its strongest cells
//   attribution in the variant's own JSON (`attribution`), one line per method with every word's score
//   intervention in the variant's own JSON (`intervention`), what was done inside the model
//
// A scan's file has two path components and a variant's three, so the two never meet.

/// Strongest cells written per scan (for the reader; the check compares every cell).
let scanRankedCells = 10

/// One attribution method's scores of a variant's words, as recorded.
public struct AttributionSnapshot: Sendable, Equatable {
    /// `occlusion`, `mask` or `rollout`.
    public var method: String
    /// What occlusion measured (nil for rollout).
    public var metric: String?
    /// The metric of the variant itself.
    public var baseline: Double?
    /// Each word and its score, in reading order.
    public var scores: [WeightedText]

    public init(method: String, metric: String?, baseline: Double?, words: [String], scores: [Double]) {
        func round(_ value: Double) -> Double { Double(SnapshotJSON.format(value, outputDecimals)) ?? value }
        self.method = method
        self.metric = metric
        self.baseline = baseline.map(round)
        self.scores = zip(words, scores).map { WeightedText($0, round($1)) }
    }

    /// Words by score, highest first (equal ones in reading order): `rank(of:)` is 1-based.
    func rank(of word: String) -> Int? {
        let order = scores.enumerated().sorted { $0.element.weight != $1.element.weight ? $0.element.weight > $1.element.weight : $0.offset < $1.offset }
        return order.firstIndex { $0.element.text == word }.map { $0 + 1 }
    }

    func json() -> SnapshotJSON {
        .line([
            ("method", .string(method)), ("metric", metric.map(SnapshotJSON.string)),
            ("baseline", baseline.map { .fixed($0, outputDecimals) }),
            ("scores", .array(scores.map { $0.json(outputDecimals) }, inline: true)),
        ])
    }
}

/// `<model>/<scan>.scan.json`: one scan of one model.
public struct ScanSnapshot: Sendable, Equatable {
    public static let formatVersion = 1

    public var formatVersion: Int = formatVersion
    public var model: String
    /// The scan's id in the experiment file.
    public var id: String
    /// The result, its values rounded as they are written.
    public var result: ScanResult

    /// `model/scan`: the file's path in the experiment's folder, without `.scan.json`.
    public var key: String { "\(model)/\(id)" }
    /// The file's path in the experiment's folder.
    public var path: String { "\(key)\(Self.suffix)" }
    static let suffix = ".scan.json"

    public init(model: String, id: String, result: ScanResult) {
        func round(_ value: Double) -> Double { Double(SnapshotJSON.format(value, outputDecimals)) ?? value }
        self.model = model
        self.id = id
        self.result = ScanResult(stack: result.stack, site: result.site, mode: result.mode, metric: result.metric, target: result.target,
                                 source: result.source, targetValue: round(result.targetValue), sourceValue: result.sourceValue.map(round),
                                 layers: result.layers, columns: result.columns,
                                 effects: result.effects.map { $0.map { $0.isFinite ? round($0) : $0 } }, skipped: result.skipped)
    }

    /// True for a path of the experiment's folder that holds a scan (`minilm/heads.scan.json`).
    static func isScanPath(_ path: String) -> Bool {
        path.hasSuffix(suffix) && path.split(separator: "/", omittingEmptySubsequences: false).count == 2
    }

    func json() -> SnapshotJSON {
        let ranked = result.top(scanRankedCells)
        return .object([
            ("format_version", .int(formatVersion)),
            ("model", .string(model)),
            ("scan", .string(id)),
            ("mode", .string(result.mode.rawValue)),
            ("site", .string(result.site.rawValue)),
            ("stack", .string(result.stack.rawValue)),
            ("metric", .string(result.metric)),
            ("target", .string(result.target)),
            ("source", result.source.map(SnapshotJSON.string)),
            ("target_value", .fixed(result.targetValue, outputDecimals)),
            ("source_value", result.sourceValue.map { .fixed($0, outputDecimals) }),
            ("layers", .array(result.layers.map(SnapshotJSON.int), inline: true)),
            ("columns", .array(result.columns.map(SnapshotJSON.string), inline: true)),
            // A skipped cell has no finite effect: written as null, read back as NaN.
            ("effects", .array(result.effects.map { row in
                .array(row.map { $0.isFinite ? .fixed($0, outputDecimals) : .null }, inline: true)
            }, inline: false)),
            ("skipped", result.skipped.isEmpty ? nil : .array(result.skipped.map(SnapshotJSON.string), inline: true)),
            ("strongest", .array(ranked.map { cell in
                .line([("cell", .string(result.name(of: cell))), ("effect", .fixed(cell.effect, outputDecimals)),
                       ("normalized", cell.normalized.map { .fixed($0, summaryDecimals) })])
            }, inline: false)),
        ])
    }
}

extension ScanSnapshot: Decodable {
    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, scan, mode, site, stack, metric, target, source, layers, columns, effects, skipped
        case targetValue = "target_value", sourceValue = "source_value"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try c.decode(Int.self, forKey: .formatVersion)
        try SnapshotError.checkVersion(formatVersion, reads: Self.formatVersion)
        model = try c.decode(String.self, forKey: .model)
        id = try c.decode(String.self, forKey: .scan)
        let layers = try c.decode([Int].self, forKey: .layers), columns = try c.decode([String].self, forKey: .columns)
        let effects = try c.decode([[Double?]].self, forKey: .effects).map { $0.map { $0 ?? .nan } }
        guard effects.count == layers.count, effects.allSatisfy({ $0.count == columns.count }) else {
            throw DecodingError.dataCorruptedError(forKey: .effects, in: c,
                                                   debugDescription: "effects must be \(layers.count) rows (layers) of \(columns.count) cells (columns)")
        }
        func decoded<T: RawRepresentable>(_ type: T.Type, _ key: CodingKeys) throws -> T where T.RawValue == String {
            let text = try c.decode(String.self, forKey: key)
            guard let value = T(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "unknown \(key.stringValue) \"\(text)\"")
            }
            return value
        }
        result = ScanResult(stack: try decoded(StackKind.self, .stack), site: try decoded(SiteKind.self, .site), mode: try decoded(ScanResult.Mode.self, .mode),
                            metric: try c.decode(String.self, forKey: .metric), target: try c.decode(String.self, forKey: .target),
                            source: try c.decodeIfPresent(String.self, forKey: .source), targetValue: try c.decode(Double.self, forKey: .targetValue),
                            sourceValue: try c.decodeIfPresent(Double.self, forKey: .sourceValue), layers: layers, columns: columns,
                            effects: effects, skipped: try c.decodeIfPresent([String].self, forKey: .skipped) ?? [])
    }
}

extension AttributionSnapshot: Decodable {
    enum CodingKeys: String, CodingKey { case method, metric, baseline, scores }
}

// MARK: - Comparing

/// A word whose attribution score moved beyond the tolerance.
public struct AttributionChange: Sendable, Equatable {
    public var method: String
    public var word: String
    public var old: Double?
    public var new: Double?
    /// The word's rank (1 = most important) before and after.
    public var oldRank: Int?
    public var newRank: Int?
}

/// One scan compared between two sets of snapshots.
public struct ScanComparison: Sendable {
    /// `model/scan`.
    public var key: String
    public var old: ScanSnapshot?
    public var new: ScanSnapshot?
    public var status: VariantComparison.Status
    /// The target's or source's own value, when it moved.
    public var valueChanges: [OutputChange] = []
    /// Cells whose effect moved beyond the tolerance, most moved first: (cell, old, new).
    public var movedCells: [(cell: String, old: Double, new: Double)] = []
    /// The three strongest cells before and after, when they differ.
    public var rankingChange: (old: [String], new: [String])?
    /// What else differs (the variants, metric, layers or columns).
    public var problems: [String] = []

    public var model: String { (new ?? old)?.model ?? key.components(separatedBy: "/").first ?? "" }
    public var id: String { (new ?? old)?.id ?? key.components(separatedBy: "/").last ?? "" }
}

extension SnapshotComparer {
    /// Cells whose order decides "the strongest cells" of a scan.
    static let rankedForDrift = 3

    static func compareScan(key: String, old: ScanSnapshot?, new: ScanSnapshot?, oldData: Data?, newData: Data?,
                            tolerances: SnapshotTolerances) -> ScanComparison {
        guard let old else { return ScanComparison(key: key, old: nil, new: new, status: .added) }
        guard let new else { return ScanComparison(key: key, old: old, new: nil, status: .removed) }
        var result = ScanComparison(key: key, old: old, new: new, status: .identical)
        if oldData == newData { return result }
        let a = old.result, b = new.result
        for (name, x, y) in [("kind", "\(a.mode.rawValue) \(a.site.rawValue) \(a.stack.rawValue)", "\(b.mode.rawValue) \(b.site.rawValue) \(b.stack.rawValue)"),
                             ("metric", a.metric, b.metric), ("target", a.target, b.target), ("source", a.source ?? "∅", b.source ?? "∅")] where x != y {
            result.problems.append("\(name) \(x) → \(y)")
        }
        func compare(_ name: String, _ x: Double?, _ y: Double?) {
            if let x, let y, abs(x - y) <= tolerances.output { return }
            if x == nil && y == nil { return }
            result.valueChanges.append(OutputChange(name: name, old: x, new: y))
        }
        compare("target \(a.metric)", a.targetValue, b.targetValue)
        compare("source \(a.metric)", a.sourceValue, b.sourceValue)
        if a.layers == b.layers && a.columns == b.columns {
            var moved: [(cell: String, old: Double, new: Double)] = []
            for (row, layer) in a.layers.enumerated() {
                for (column, label) in a.columns.enumerated() {
                    let x = a.effects[row][column], y = b.effects[row][column]
                    if x.isFinite != y.isFinite || (x.isFinite && abs(x - y) > tolerances.output) {
                        // As `ScanResult.name(of:)` writes a cell.
                        moved.append((b.site == .head ? "\(layer).\(column)" : "\(layer):\(label)", x, y))
                    }
                }
            }
            result.movedCells = moved.sorted { abs($0.new - $0.old) > abs($1.new - $1.old) }
        } else {
            result.problems.append("the cells differ: \(a.layers.count)×\(a.columns.count) recorded, \(b.layers.count)×\(b.columns.count) now")
        }
        let topA = a.top(rankedForDrift).map { a.name(of: $0) }, topB = b.top(rankedForDrift).map { b.name(of: $0) }
        if topA != topB { result.rankingChange = (topA, topB) }
        let drifted = !result.problems.isEmpty || !result.valueChanges.isEmpty || !result.movedCells.isEmpty || result.rankingChange != nil
        result.status = drifted ? .drifted : .withinTolerance
        return result
    }

    /// Words whose score moved beyond the output tolerance, per method (a method only on one side
    /// counts as every one of its words).
    static func attributionChanges(_ a: [AttributionSnapshot], _ b: [AttributionSnapshot], tolerance: Double) -> [AttributionChange] {
        var changes: [AttributionChange] = []
        for method in (a.map(\.method) + b.map(\.method)).uniqued() {
            let x = a.first { $0.method == method }, y = b.first { $0.method == method }
            for word in ((x?.scores ?? []).map(\.text) + (y?.scores ?? []).map(\.text)).uniqued() {
                let old = x?.scores.first { $0.text == word }?.weight, new = y?.scores.first { $0.text == word }?.weight
                if let old, let new, abs(old - new) <= tolerance { continue }
                changes.append(AttributionChange(method: method, word: word, old: old, new: new,
                                                 oldRank: x?.rank(of: word), newRank: y?.rank(of: word)))
            }
        }
        return changes
    }
}

extension DriftReport {
    /// What drifted in one scan, one item per line (without indentation).
    public static func details(_ scan: ScanComparison, cells: Int = headsListed) -> [String] {
        var lines = scan.problems
        lines += align(scan.valueChanges.map { change in
            [change.name, "\(change.old.map { number($0) } ?? "∅") → \(change.new.map { number($0) } ?? "∅")" + (change.delta.map { "  (" + signed($0) + ")" } ?? "")]
        })
        if let ranking = scan.rankingChange {
            lines.append("strongest \(ranking.new.count): \(ranking.old.joined(separator: ", ")) → \(ranking.new.joined(separator: ", "))")
        }
        if !scan.movedCells.isEmpty {
            let cellCount = (scan.new?.result.layers.count ?? 0) * (scan.new?.result.columns.count ?? 0)
            lines.append("\(scan.movedCells.count) of \(cellCount) cells moved; most: " + scan.movedCells.prefix(cells).map {
                "\($0.cell) \(fixed($0.old, 4)) → \(fixed($0.new, 4))"
            }.joined(separator: ", "))
        }
        return lines
    }

    /// What changed in one scan, in one short phrase.
    public static func summary(_ scan: ScanComparison) -> String {
        switch scan.status {
        case .identical: return "unchanged"
        case .withinTolerance: return "changed within tolerance"
        case .added: return "added"
        case .removed: return "removed"
        case .drifted: break
        }
        var parts = scan.problems.prefix(1).map { $0 }
        if let ranking = scan.rankingChange { parts.append("strongest \(ranking.old.joined(separator: ", ")) → \(ranking.new.joined(separator: ", "))") }
        if !scan.movedCells.isEmpty { parts.append("\(scan.movedCells.count) cell\(scan.movedCells.count == 1 ? "" : "s") moved") }
        if let change = scan.valueChanges.first {
            parts.append("\(change.name) \(change.old.map { fixed($0, 4) } ?? "∅") → \(change.new.map { fixed($0, 4) } ?? "∅")")
        }
        return parts.isEmpty ? "changed" : parts.joined(separator: ", ")
    }
}
