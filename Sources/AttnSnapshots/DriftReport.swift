import AttnCore
import AttnDiff
import Foundation

/// The comparison of two sets of snapshots in words: the report `snapshot check` prints, and the
/// one-line summaries of `snapshot log` and of commit messages.
public enum DriftReport {
    /// Heads listed per drifted variant.
    public static let headsListed = 5

    /// The report of `snapshot check`: each variant with what drifted (outputs, label, expectation
    /// results, tokens, heads with the words that moved most), or `ok`.
    ///
    /// - Parameter experimentFile: the file to name in the hint to re-record.
    public static func render(_ comparison: ExperimentComparison, experimentFile: String, heads: Int = headsListed) -> String {
        if let suite = comparison.suite { return render(suite: suite, comparison, experimentFile: experimentFile) }
        let tolerances = comparison.tolerances
        let failing = comparison.variants.filter { [.drifted, .added, .removed].contains($0.status) }
        var lines: [String] = []
        let total = comparison.variants.count
        let failingScans = comparison.scans.filter { [.drifted, .added, .removed].contains($0.status) }
        var verdict = comparison.hasDrift
            ? "\(failing.count) of \(total) variant\(total == 1 ? "" : "s") drifted"
            : "all \(total) variant\(total == 1 ? "" : "s") match their snapshots"
        if !failingScans.isEmpty {
            verdict += ", \(failingScans.count) of \(comparison.scans.count) scan\(comparison.scans.count == 1 ? "" : "s") drifted"
        } else if !comparison.scans.isEmpty && !comparison.hasDrift {
            verdict += comparison.scans.count == 1 ? ", and its scan" : ", and its \(comparison.scans.count) scans"
        }
        lines.append("snapshot check \(comparison.name): \(verdict)")
        lines.append("tolerances: outputs ±\(short(tolerances.output)), attention max |Δ| \(short(tolerances.attention)), JS divergence \(short(tolerances.jsDivergence)) bits")
        if comparison.old == nil {
            lines.append("no snapshots are recorded for \(comparison.name): record them with `attnlab snapshot record \(experimentFile)`")
        }
        for note in comparison.notes { lines.append("note: \(note)") }
        for path in comparison.strayFiles.old {
            lines.append("STALE file \(path): no variant of the experiment writes it; `attnlab snapshot record \(experimentFile)` removes it")
        }
        if comparison.unmatchedExpectationsChanged {
            let old = comparison.old?.unmatchedExpectations ?? [], new = comparison.new?.unmatchedExpectations ?? []
            lines.append("DRIFT expectations that name no variant: \(old.count) recorded, \(new.count) now")
            for record in new { lines.append("      line \(record.line): \(record.expectation) — \(record.measured)") }
        }
        for variant in comparison.variants {
            let name = "\(variant.model) \(variant.path)"
            switch variant.status {
            case .identical:
                lines.append("ok    \(name)")
            case .withinTolerance:
                lines.append("ok    \(name) (within tolerance)")
            case .added:
                lines.append("MISSING \(name): no snapshot is recorded; record it with `attnlab snapshot record \(experimentFile)`")
            case .removed:
                lines.append("STALE \(name): the experiment no longer has this variant; `attnlab snapshot record \(experimentFile)` removes its snapshot")
            case .drifted:
                lines.append("DRIFT \(name)")
                lines += details(variant, heads: heads).map { "      " + $0 }
            }
        }
        for scan in comparison.scans {
            let name = "\(scan.model) scan \(scan.id)"
            switch scan.status {
            case .identical: lines.append("ok    \(name)")
            case .withinTolerance: lines.append("ok    \(name) (within tolerance)")
            case .added: lines.append("MISSING \(name): no snapshot is recorded; record it with `attnlab snapshot record \(experimentFile)`")
            case .removed: lines.append("STALE \(name): the experiment no longer has this scan; `attnlab snapshot record \(experimentFile)` removes its snapshot")
            case .drifted:
                lines.append("DRIFT \(name)")
                lines += details(scan).map { "      " + $0 }
            }
        }
        if comparison.hasDrift {
            lines.append("")
            lines.append("If the change is intended, record it: attnlab snapshot record \(experimentFile) --commit")
        }
        return lines.joined(separator: "\n")
    }

    /// Flipped and moved variants listed, at most.
    public static let suiteVariantsListed = 20

    /// The report of `snapshot check` on a suite: failure rates that moved, variants that flipped
    /// (label or failed expectations), outputs that moved without flipping, variants added or gone.
    static func render(suite: SuiteComparison, _ comparison: ExperimentComparison, experimentFile: String) -> String {
        var lines: [String] = []
        var verdict: [String] = []
        if !suite.rateChanges.isEmpty { verdict.append("\(suite.rateChanges.count) failure rate\(suite.rateChanges.count == 1 ? "" : "s") moved") }
        if !suite.flips.isEmpty { verdict.append("\(suite.flips.count) of \(count(suite.compared)) variants flipped") }
        if !suite.moves.isEmpty { verdict.append("\(suite.moves.count) moved beyond the tolerance") }
        if !suite.added.isEmpty { verdict.append("\(suite.added.count) added") }
        if !suite.removed.isEmpty { verdict.append("\(suite.removed.count) gone") }
        lines.append("snapshot check \(comparison.name) (suite): " + (verdict.isEmpty
            ? "the \(suite.expectations) failure rate\(suite.expectations == 1 ? "" : "s") and \(count(suite.compared)) variants match their snapshots"
            : verdict.joined(separator: ", ")))
        lines.append("tolerance: outputs ±\(short(comparison.tolerances.output))")
        if comparison.old == nil {
            lines.append("no snapshots are recorded for \(comparison.name): record them with `attnlab snapshot record \(experimentFile)`")
        }
        for note in comparison.notes { lines.append("note: \(note)") }
        for path in comparison.strayFiles.old {
            lines.append("STALE file \(path): the suite does not write it; `attnlab snapshot record \(experimentFile)` removes it")
        }
        for change in suite.rateChanges {
            let old = change.old.map { rate($0) } ?? "absent", new = change.new.map { rate($0) } ?? "absent"
            let name = change.new ?? change.old!
            var line = "RATE  line \(name.line) \(name.expectation) on \(name.variant): \(old) → \(new)"
            if let after = change.new, let before = change.old, after.passed != before.passed { line += after.passed ? ", now passes" : ", now FAILS" }
            lines.append(line)
            if let after = change.new, let before = change.old {
                for perturbation in after.byPerturbation {
                    guard let was = before.byPerturbation.first(where: { $0.name == perturbation.name }), was != perturbation else { continue }
                    lines.append("        \(perturbation.name): \(was.failed)/\(was.checked) → \(perturbation.failed)/\(perturbation.checked)")
                }
            }
        }
        for flip in suite.flips.prefix(suiteVariantsListed) {
            var parts: [String] = []
            if flip.old.label != flip.new.label { parts.append("label \(flip.old.label ?? "∅") → \(flip.new.label ?? "∅")") }
            for change in SnapshotComparer.outputChanges(flip.old.outputs, flip.new.outputs, tolerance: 0).prefix(1) {
                parts.append("\(change.name) \(change.old.map { fixed($0, 4) } ?? "∅") → \(change.new.map { fixed($0, 4) } ?? "∅")")
            }
            let nowFails = flip.new.failed.filter { !flip.old.failed.contains($0) }
            let nowPasses = flip.old.failed.filter { !flip.new.failed.contains($0) }
            if !nowFails.isEmpty { parts.append("now fails line \(nowFails.map(String.init).joined(separator: ", "))") }
            if !nowPasses.isEmpty { parts.append("now passes line \(nowPasses.map(String.init).joined(separator: ", "))") }
            lines.append("FLIP  \(flip.new.model) \(flip.new.variant): " + parts.joined(separator: ", "))
        }
        if suite.flips.count > suiteVariantsListed { lines.append("      … and \(suite.flips.count - suiteVariantsListed) more flipped") }
        for move in suite.moves.prefix(5) {
            let change = move.changes.max { abs($0.delta ?? 0) < abs($1.delta ?? 0) }
            lines.append("MOVED \(move.new.model) \(move.new.variant): " + (change.map {
                "\($0.name) \($0.old.map { fixed($0, 6) } ?? "∅") → \($0.new.map { fixed($0, 6) } ?? "∅")"
            } ?? ""))
        }
        if suite.moves.count > 5 { lines.append("      … and \(suite.moves.count - 5) more variants whose outputs moved beyond the tolerance") }
        for (word, list) in [("ADDED", suite.added), ("GONE ", suite.removed)] where !list.isEmpty {
            lines.append("\(word) \(list.count) variant\(list.count == 1 ? "" : "s"): " + list.prefix(5).map { "\($0.model) \($0.variant)" }.joined(separator: ", ")
                         + (list.count > 5 ? ", …" : ""))
        }
        if comparison.hasDrift {
            lines.append("")
            lines.append("If the change is intended, record it: attnlab snapshot record \(experimentFile) --commit")
        }
        return lines.joined(separator: "\n")
    }

    /// `37 of 600 failed (6.2%)`.
    static func rate(_ expectation: SuiteExpectation) -> String {
        let percent = expectation.rate * 100
        return "\(count(expectation.failed)) of \(count(expectation.checked)) failed (" + (percent == 0 || percent >= 10 ? String(format: "%.0f%%", percent) : String(format: "%.1f%%", percent)) + ")"
    }

    /// `1,234`.
    static func count(_ value: Int) -> String {
        let digits = String(value)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return out
    }

    /// What changed in a suite, in one line (for commit messages and `snapshot log`).
    static func summary(suite: SuiteComparison) -> String {
        var parts: [String] = []
        if !suite.rateChanges.isEmpty {
            parts.append(suite.rateChanges.prefix(2).map { change in
                let name = change.new ?? change.old!
                return "line \(name.line) \(change.old.map { rate($0) } ?? "absent") → \(change.new.map { rate($0) } ?? "absent")"
            }.joined(separator: "; ") + (suite.rateChanges.count > 2 ? "; …" : ""))
        }
        if !suite.flips.isEmpty { parts.append("\(suite.flips.count) variant\(suite.flips.count == 1 ? "" : "s") flipped") }
        if !suite.moves.isEmpty { parts.append("outputs moved in \(suite.moves.count)") }
        if !suite.added.isEmpty { parts.append("\(suite.added.count) added") }
        if !suite.removed.isEmpty { parts.append("\(suite.removed.count) gone") }
        return parts.isEmpty ? "no change" : parts.joined(separator: ", ")
    }

    /// What drifted in one variant, one item per line (without indentation).
    public static func details(_ variant: VariantComparison, heads: Int = headsListed) -> [String] {
        var lines: [String] = []
        var rows: [[String]] = []
        for change in variant.outputChanges {
            let old = change.old.map { number($0) } ?? "∅", new = change.new.map { number($0) } ?? "∅"
            let delta = change.delta.map { "  (" + signed($0) + ")" } ?? ""
            rows.append([change.name, "\(old) → \(new)\(delta)"])
        }
        if let label = variant.labelChange {
            rows.append(["label", "\(label.old ?? "∅") → \(label.new ?? "∅")"])
        }
        lines += align(rows)
        for change in variant.expectationChanges {
            let old = change.old.map { $0.passed ? "passed" : "failed" } ?? "absent"
            let new = change.new.map { $0.passed ? "passed" : "FAILED" } ?? "absent"
            var line = "expectation (line \(change.line)) \(change.expectation): \(old) → \(new)"
            if let measured = change.new?.measured { line += "; now \(measured)" }
            lines.append(line)
        }
        for change in variant.tokenChanges { lines.append("tokens: \(change)") }
        for method in variant.attributionChanges.map(\.method).uniqued() {
            let changes = variant.attributionChanges.filter { $0.method == method }
                .sorted { abs(($0.new ?? 0) - ($0.old ?? 0)) > abs(($1.new ?? 0) - ($1.old ?? 0)) }
            lines.append("attribution by \(method): \(changes.count) word\(changes.count == 1 ? "" : "s") moved; most: " + changes.prefix(3).map { change in
                "\(change.word) \(change.old.map { fixed($0, 4) } ?? "∅") → \(change.new.map { fixed($0, 4) } ?? "∅")"
                    + (change.oldRank != change.newRank ? " (rank \(change.oldRank.map(String.init) ?? "∅") → \(change.newRank.map(String.init) ?? "∅"))" : "")
            }.joined(separator: ", "))
        }
        for problem in variant.problems { lines.append(problem) }
        if !variant.driftedHeads.isEmpty {
            lines.append("attention: \(variant.driftedHeads.count) of \(variant.headCount) heads drifted; most:")
            lines += headTable(variant.driftedHeads.prefix(heads)).map { "  " + $0 }
            if variant.driftedHeads.count > heads { lines.append("  … and \(variant.driftedHeads.count - heads) more") }
            if !variant.movedWords.isEmpty {
                lines.append("words whose attention moved most: " + variant.movedWords.prefix(3).map {
                    "\($0.text) (JS \(fixed($0.jsDivergence, 4)), most in layer \($0.layer), head \($0.head))"
                }.joined(separator: ", "))
            }
        }
        return lines
    }

    /// layer · head · max |Δ| · JS · A↔B mass · largest change, as aligned text.
    static func headTable<S: Sequence>(_ heads: S) -> [String] where S.Element == HeadDrift {
        let list = Array(heads)
        let stacks = Set(list.map(\.stack)).count > 1
        let masses = list.contains { $0.massChange != nil }
        var rows = [(stacks ? ["stack"] : []) + ["layer", "head", "max |Δ|", "JS"] + (masses ? ["A↔B mass"] : []) + ["largest change"]]
        for head in list {
            let strongest = head.strongest.map { "\($0.from) → \($0.to) \(fixed($0.old, 3)) → \(fixed($0.new, 3))" } ?? ""
            var row: [String] = stacks ? [head.stack.rawValue] : []
            row += ["\(head.layer)", "\(head.head)", head.maxAbsDifference.map { fixed($0, 4) } ?? "-", fixed(head.jsDivergence, 4)]
            if masses { row.append(head.massChange.map { fixed($0, 3) } ?? "-") }
            row.append(strongest)
            rows.append(row)
        }
        let first = stacks ? 1 : 0
        return table(rows, numericColumns: Set(first ..< first + (masses ? 5 : 4)))
    }

    // MARK: one-line summaries

    /// What changed in one variant, in one short phrase (`similarity 0.6790 → 0.7012, 14 heads drifted`).
    public static func summary(_ variant: VariantComparison) -> String {
        switch variant.status {
        case .identical: return "unchanged"
        case .withinTolerance: return "changed within tolerance"
        case .added: return "added" + (variant.new?.label.map { " (\($0))" } ?? "")
        case .removed: return "removed"
        case .drifted: break
        }
        var parts: [String] = []
        if let label = variant.labelChange { parts.append("label \(label.old ?? "∅") → \(label.new ?? "∅")") }
        let flipped = variant.expectationChanges
        if flipped.count == 1, let change = flipped.first {
            parts.append("expectation line \(change.line) " + (change.new == nil ? "removed" : change.old == nil ? "added"
                : change.new!.passed ? "now passes" : "now fails"))
        } else if flipped.count > 1 {
            parts.append("\(flipped.count) expectation results changed")
        }
        // The output that moved most, and how many others did.
        func moved(_ change: OutputChange) -> Double { abs((change.new ?? 0) - (change.old ?? 0)) }
        let outputs = variant.outputChanges.sorted { moved($0) > moved($1) }
        if let change = outputs.first {
            let more = outputs.count > 1 ? " and \(outputs.count - 1) more output\(outputs.count == 2 ? "" : "s")" : ""
            parts.append("\(change.name) \(change.old.map { fixed($0, 4) } ?? "∅") → \(change.new.map { fixed($0, 4) } ?? "∅")\(more)")
        }
        if !variant.tokenChanges.isEmpty { parts.append("tokens changed") }
        if !variant.attributionChanges.isEmpty { parts.append("attribution moved") }
        if let top = variant.driftedHeads.first {
            parts.append("\(variant.driftedHeads.count) head\(variant.driftedHeads.count == 1 ? "" : "s") drifted (most: layer \(top.layer), head \(top.head), JS \(fixed(top.jsDivergence, 3)))")
        }
        parts += variant.problems.prefix(1)
        return parts.isEmpty ? "changed" : parts.joined(separator: ", ")
    }

    /// What changed in an experiment's snapshots, in one line: each changed variant's summary.
    public static func summary(_ comparison: ExperimentComparison) -> String {
        if let suite = comparison.suite {
            if comparison.old == nil { return "first recording: \(suite.added.count) variant\(suite.added.count == 1 ? "" : "s") of a suite" }
            let text = summary(suite: suite)
            return text == "no change" && !comparison.notes.isEmpty ? comparison.notes.joined(separator: "; ") : text
        }
        let scans = comparison.scans.filter { $0.status != .identical && $0.status != .withinTolerance }
            .map { "scan \($0.id): \(summary($0))" }
        let variants = variantSummary(comparison)
        guard !scans.isEmpty else { return variants }
        let quiet = ["no change", "metadata changed"].contains(variants)
        return ((quiet ? [] : [variants]) + scans).joined(separator: "; ")
    }

    /// The variants' part of `summary(_:)`.
    static func variantSummary(_ comparison: ExperimentComparison) -> String {
        let changed = comparison.variants.filter { $0.status != .identical }
        if comparison.old == nil, !changed.isEmpty, changed.allSatisfy({ $0.status == .added }) {
            return "first recording: \(changed.count) variant\(changed.count == 1 ? "" : "s")"
        }
        if comparison.new == nil, !changed.isEmpty, changed.allSatisfy({ $0.status == .removed }) {
            return "snapshots removed"
        }
        let severalModels = Set(comparison.variants.map(\.model)).count > 1
        func name(_ variant: VariantComparison) -> String { (severalModels ? variant.model + " " : "") + variant.path }
        if changed.isEmpty {
            let notes = comparison.notes
            return notes.isEmpty ? (comparison.isIdentical ? "no change" : "metadata changed") : notes.joined(separator: "; ")
        }
        if changed.count <= 2 {
            return changed.map { "\(name($0)): \(summary($0))" }.joined(separator: "; ")
        }
        // Many variants: counts, and the strongest of each kind of change.
        var parts: [String] = []
        let statuses = Dictionary(grouping: changed, by: \.status)
        for (status, word) in [(VariantComparison.Status.drifted, "drifted"), (.added, "added"), (.removed, "removed"), (.withinTolerance, "changed within tolerance")] {
            if let count = statuses[status]?.count { parts.append("\(count) variant\(count == 1 ? "" : "s") \(word)") }
        }
        let labels = changed.filter { $0.labelChange != nil }
        if !labels.isEmpty {
            parts.append("label changed in \(labels.count) (" + labels.prefix(2).map { "\(name($0)): \($0.labelChange!.old ?? "∅") → \($0.labelChange!.new ?? "∅")" }.joined(separator: ", ")
                         + (labels.count > 2 ? ", …)" : ")"))
        }
        let expectations = changed.filter { !$0.expectationChanges.isEmpty }
        if !expectations.isEmpty { parts.append("expectation results changed in \(expectations.count)") }
        let outputs = changed.filter { !$0.outputChanges.isEmpty }
        if !outputs.isEmpty { parts.append("outputs moved in \(outputs.count)") }
        let heads = changed.filter { !$0.driftedHeads.isEmpty }
        if let strongest = heads.max(by: { $0.driftedHeads[0].jsDivergence < $1.driftedHeads[0].jsDivergence }) {
            let head = strongest.driftedHeads[0]
            parts.append("heads drifted in \(heads.count) (most: \(name(strongest)) layer \(head.layer), head \(head.head), JS \(fixed(head.jsDivergence, 3)))")
        }
        return parts.joined(separator: ", ")
    }

    // MARK: formatting

    /// `value` with exactly `decimals` decimals, as the snapshot files write it.
    public static func fixed(_ value: Double, _ decimals: Int) -> String { SnapshotJSON.format(value, decimals) }

    static func number(_ value: Double) -> String { fixed(value, outputDecimals) }

    static func signed(_ value: Double) -> String { (value >= 0 ? "+" : "") + fixed(value, outputDecimals) }

    /// `1e-4` style for tolerances.
    public static func short(_ value: Double) -> String {
        if value == 0 { return "0" }
        let exponent = Int(log10(abs(value)).rounded(.down))
        let mantissa = value / pow(10, Double(exponent))
        if abs(mantissa - mantissa.rounded()) < 1e-9, exponent < -2 { return "\(Int(mantissa.rounded()))e\(exponent)" }
        return String(format: "%g", value)
    }

    /// Two columns, the first padded.
    static func align(_ rows: [[String]]) -> [String] {
        let width = rows.map { $0[0].count }.max() ?? 0
        return rows.map { $0[0] + String(repeating: " ", count: width - $0[0].count) + "  " + $0[1] }
    }

    /// Columns padded to their widest cell; the numeric ones right-aligned.
    static func table(_ rows: [[String]], numericColumns: Set<Int>) -> [String] {
        guard let header = rows.first else { return [] }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return numericColumns.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }
}
