import AttnCore
import AttnDiff
import AttnFigures
import AttnGit
import AttnSnapshots
import Foundation

/// `attnlab review`: one self-contained HTML page (figures inlined as PNG) that shows what moved
/// between two revisions' snapshots: experiments and variants added, removed or changed; outputs,
/// labels and expectation results before → after; and the heads that drifted most, each drawn
/// before and after side by side with their difference.
public enum ReviewPage {
    public struct Options: Sendable {
        /// Heads drawn per drifted variant.
        public var headsPerVariant: Int
        /// Pixels per inch of the figures.
        public var dpi: Double

        public init(headsPerVariant: Int = 3, dpi: Double = 110) {
            self.headsPerVariant = headsPerVariant
            self.dpi = dpi
        }
    }

    public static func render(_ review: SnapshotReview, options: Options = Options()) throws -> String {
        let nameA = sideName(review.a, review.commitA), nameB = sideName(review.b, review.commitB)
        var html = ReportPage.header(title: "Snapshot review: \(review.a.description) → \(review.b.description) — AttnLab")
        html += """
        <h1>Snapshot review</h1>
        <table class="sides"><tr><th>A (before)</th><td>\(sideHTML(review.a, review.commitA))</td></tr>
        <tr><th>B (after)</th><td>\(sideHTML(review.b, review.commitB))</td></tr></table>
        """
        let drifted = review.experiments.filter { $0.comparison.hasDrift }
        let changedVariants = review.experiments.flatMap(\.comparison.variants).filter { $0.status != .identical && $0.status != .withinTolerance }
        if review.experiments.isEmpty {
            html += "<p class=\"status same\">Neither side has snapshots.</p>"
        } else if drifted.isEmpty {
            html += "<p class=\"status same\">Nothing moved beyond the tolerances in \(review.experiments.count) experiment\(review.experiments.count == 1 ? "" : "s").</p>"
        } else {
            let changedScans = review.experiments.flatMap(\.comparison.scans).filter { [.drifted, .added, .removed].contains($0.status) }.count
            let scans = changedScans == 0 ? "" : " and \(changedScans) scan\(changedScans == 1 ? "" : "s")"
            html += "<p class=\"status moved\">\(changedVariants.count) variant\(changedVariants.count == 1 ? "" : "s")\(scans) moved in \(drifted.count) of \(review.experiments.count) experiment\(review.experiments.count == 1 ? "" : "s").</p>"
        }
        if let tolerances = review.experiments.first?.comparison.tolerances {
            html += "<p class=\"meta\">Tolerances: outputs ±\(DriftReport.short(tolerances.output)), attention max |Δ| \(DriftReport.short(tolerances.attention)), JS divergence \(DriftReport.short(tolerances.jsDivergence)) bits per head.</p>"
        }

        html += "<h2>Experiments</h2><table><tr><th>experiment</th><th>status</th><th>variants</th><th>what changed</th></tr>"
        for experiment in review.experiments {
            let comparison = experiment.comparison
            let status = experiment.old == nil ? "added" : experiment.new == nil ? "removed" : comparison.hasDrift ? "changed" : comparison.isIdentical ? "unchanged" : "within tolerance"
            let counts = Dictionary(grouping: comparison.variants, by: \.status).mapValues(\.count)
            let countText = [VariantComparison.Status.drifted, .added, .removed, .withinTolerance, .identical]
                .compactMap { status in counts[status].map { "\($0) \(status == .identical ? "unchanged" : status.rawValue)" } }
                .joined(separator: ", ")
            html += "<tr class=\"\(status == "changed" ? "moved" : "")\"><td><a href=\"#\(anchor(experiment.name))\"><code>\(Markup.escape(experiment.name))</code></a></td><td>\(status)</td><td>\(Markup.escape(countText))</td><td>\(Markup.escape(DriftReport.summary(comparison)))</td></tr>"
        }
        html += "</table>"

        for experiment in review.experiments {
            html += try section(experiment, nameA: nameA, nameB: nameB, options: options)
        }
        html += "<p class=\"meta\">Made by attnlab \(Markup.escape(AttnLab.version)) from the snapshot files; revisions are read from git's objects.</p></body></html>\n"
        return html
    }

    // MARK: pieces

    static func sideName(_ side: ReviewSide, _ commit: CommitInfo?) -> String {
        if let commit, case .revision(let revision) = side { return "\(revision) (\(commit.id.prefix(7)))" }
        return side.description
    }

    static func sideHTML(_ side: ReviewSide, _ commit: CommitInfo?) -> String {
        switch side {
        case .workingTree: return "the working tree (uncommitted snapshots)"
        case .nothing: return "nothing (before the first snapshots)"
        case .revision(let revision):
            guard let commit else { return "<code>\(Markup.escape(revision))</code>" }
            let formatter = ISO8601DateFormatter()
            formatter.timeZone = TimeZone(secondsFromGMT: commit.author.timeZoneOffsetMinutes * 60)
            formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withSpaceBetweenDateAndTime]
            return "<code>\(Markup.escape(revision))</code> · <code>\(commit.id.prefix(10))</code> “\(Markup.escape(commit.summary))” · \(Markup.escape(commit.author.name)) · \(Markup.escape(formatter.string(from: commit.author.date)))"
        }
    }

    static func section(_ experiment: SnapshotReview.Experiment, nameA: String, nameB: String, options: Options) throws -> String {
        let comparison = experiment.comparison
        var html = "<section class=\"experiment\" id=\"\(anchor(experiment.name))\"><h2><code>\(Markup.escape(experiment.name))</code></h2>"
        if let info = experiment.new?.experiment ?? experiment.old?.experiment {
            if let description = info.description { html += "<p class=\"lead\">\(Markup.escape(description))</p>" }
            html += "<p class=\"meta\">experiment file <code>\(Markup.escape(info.file))</code>; models: "
                + info.models.map { "\(Markup.escape($0.name)) <code>\(Markup.escape($0.id))</code> (weights \($0.weightsHash.prefix(12)))" }.joined(separator: ", ") + "</p>"
        }
        if experiment.old == nil { html += "<p class=\"note\">New in B: these snapshots are not in A.</p>" }
        if experiment.new == nil { html += "<p class=\"note\">Removed in B: these snapshots are only in A.</p>" }
        for note in comparison.notes { html += "<p class=\"note\">\(Markup.escape(note))</p>" }
        for path in comparison.strayFiles.new { html += "<p class=\"note\">B has a file no variant writes: <code>\(Markup.escape(path))</code></p>" }

        // Variants: outputs and labels before → after.
        html += "<table><tr><th>model</th><th>variant</th><th>status</th><th>output A → B</th><th>label A → B</th><th>heads drifted</th></tr>"
        for variant in comparison.variants {
            let statusClass = variant.status == .drifted ? "moved" : variant.status == .added ? "added" : variant.status == .removed ? "removed" : ""
            let outputs = outputChange(variant.old, variant.new)
            let labelA = variant.old?.label ?? "∅", labelB = variant.new?.label ?? "∅"
            let label = variant.old == nil ? Markup.escape(labelB) : variant.new == nil ? Markup.escape(labelA)
                : labelA == labelB ? Markup.escape(labelB) : "<del>\(Markup.escape(labelA))</del> → <ins>\(Markup.escape(labelB))</ins>"
            let heads = variant.headCount > 0 ? "\(variant.driftedHeads.count) of \(variant.headCount)" : "–"
            html += "<tr class=\"\(statusClass)\"><td>\(Markup.escape(variant.model))</td><td><code>\(Markup.escape(variant.path))</code>"
                + ((variant.new ?? variant.old)?.perturbation.map { "<br><span class=\"small\">\(Markup.escape($0))</span>" } ?? "")
                + "</td><td>\(Markup.escape(variant.status.rawValue))</td><td>\(Markup.escape(outputs))</td><td>\(label)</td><td>\(heads)</td></tr>"
        }
        html += "</table>"

        html += expectationTable(comparison)

        for variant in comparison.variants where variant.status == .drifted {
            html += try variantSection(variant, experiment: experiment, nameA: nameA, nameB: nameB, options: options)
        }
        html += try scanSection(comparison, nameA: nameA, nameB: nameB, options: options)
        return html + "</section>"
    }

    /// `similarity 0.6790 → 0.6850`, or both sides' outputs in full when they are of other kinds.
    static func outputChange(_ old: VariantSnapshot?, _ new: VariantSnapshot?) -> String {
        if let a = old?.outputs.similarity, let b = new?.outputs.similarity {
            return a == b ? "similarity \(DriftReport.fixed(b, 4))" : "similarity \(DriftReport.fixed(a, 4)) → \(DriftReport.fixed(b, 4))"
        }
        if old == nil { return outputText(new) }
        if new == nil { return outputText(old) }
        let a = outputText(old), b = outputText(new)
        return a == b ? b : "\(a) → \(b)"
    }

    static func outputText(_ snapshot: VariantSnapshot?) -> String {
        guard let outputs = snapshot?.outputs else { return "∅" }
        if let similarity = outputs.similarity { return "similarity \(DriftReport.fixed(similarity, 4))" }
        if let label = outputs.label, let p = outputs.probabilities?.max() { return "\(label) \(DriftReport.fixed(p, 3))" }
        if let top = outputs.topk?.first?.candidates.prefix(2), !top.isEmpty {
            return top.map { "\($0.text) \(DriftReport.fixed($0.weight, 3))" }.joined(separator: ", ")
        }
        return "–"
    }

    /// Every expectation with its result before and after; the ones that changed first.
    static func expectationTable(_ comparison: ExperimentComparison) -> String {
        var rows: [(changed: Bool, html: String)] = []
        for variant in comparison.variants {
            let old = variant.old?.expectations ?? [], new = variant.new?.expectations ?? []
            var seen = Set<String>()
            for key in (new.map(\.key) + old.map(\.key)) where seen.insert(key).inserted {
                let a = old.first { $0.key == key }, b = new.first { $0.key == key }
                let any = (b ?? a)!
                func mark(_ record: ExpectationRecord?) -> String {
                    record.map { $0.passed ? "<span class=\"pass\">✔ passed</span>" : "<span class=\"fail\">✘ failed</span>" } ?? "–"
                }
                let changed = a?.passed != b?.passed
                rows.append((changed, "<tr class=\"\(changed ? "moved" : "")\"><td><code>\(Markup.escape(variant.path))</code></td><td>\(any.line)</td><td>\(Markup.escape(any.expectation))</td><td class=\"result\">\(mark(a))</td><td class=\"result\">\(mark(b))</td><td class=\"small\">\(Markup.escape(b?.measured ?? a?.measured ?? ""))</td></tr>"))
            }
        }
        guard !rows.isEmpty else { return "" }
        let changed = rows.filter(\.changed).count
        var html = "<h3>Expectations \(changed == 0 ? "(no result changed)" : "(\(changed) result\(changed == 1 ? "" : "s") changed)")</h3>"
        html += "<table><tr><th>variant</th><th>line</th><th>expected</th><th>A</th><th>B</th><th>measured (B)</th></tr>"
        html += rows.filter(\.changed).map(\.html).joined() + rows.filter { !$0.changed }.map(\.html).joined()
        return html + "</table>"
    }

    static func variantSection(_ variant: VariantComparison, experiment: SnapshotReview.Experiment, nameA: String, nameB: String,
                               options: Options) throws -> String {
        var html = "<div class=\"variant\"><h3>\(Markup.escape(variant.model)) <code>\(Markup.escape(variant.path))</code>: \(Markup.escape(DriftReport.summary(variant)))</h3>"
        let details = DriftReport.details(variant, heads: 8)
        html += "<pre>\(Markup.escape(details.joined(separator: "\n")))</pre>"
        guard let old = experiment.old?.variants[variant.key], let new = experiment.new?.variants[variant.key],
              old.attention != nil, new.attention != nil else { return html + "</div>" }
        let before = FigureRow.Side(title: "A: \(nameA)", name: "A", trace: try old.trace())
        let after = FigureRow.Side(title: "B: \(nameB)", name: "B", trace: try new.trace())
        for head in variant.driftedHeads.filter({ $0.stack == .encoder }).prefix(options.headsPerVariant) {
            var metrics = "JS \(DriftReport.fixed(head.jsDivergence, 4))"
            if let maxAbs = head.maxAbsDifference { metrics += ", max |Δ| \(DriftReport.fixed(maxAbs, 4))" }
            if let strongest = head.strongest {
                metrics += "; most: \(strongest.from) → \(strongest.to) \(DriftReport.fixed(strongest.old, 3)) → \(DriftReport.fixed(strongest.new, 3))"
            }
            html += try FigureRow.render(layer: head.layer, head: head.head, detail: metrics, before: before, after: after, dpi: options.dpi)
        }
        return html + "</div>"
    }

    /// The scans: a table of them, and for each one that moved what moved and its grid before and after.
    static func scanSection(_ comparison: ExperimentComparison, nameA: String, nameB: String, options: Options) throws -> String {
        guard !comparison.scans.isEmpty else { return "" }
        var html = "<h3>Scans</h3><table><tr><th>model</th><th>scan</th><th>status</th><th>strongest (B)</th><th>what changed</th></tr>"
        for scan in comparison.scans {
            let statusClass = scan.status == .drifted ? "moved" : scan.status == .added ? "added" : scan.status == .removed ? "removed" : ""
            let strongest = (scan.new ?? scan.old).map { snapshot in
                snapshot.result.top(3).map { "\(snapshot.result.name(of: $0)) \(DriftReport.fixed($0.normalized ?? $0.effect, 3))" }.joined(separator: ", ")
            } ?? ""
            html += "<tr class=\"\(statusClass)\"><td>\(Markup.escape(scan.model))</td><td><code>\(Markup.escape(scan.id))</code></td><td>\(Markup.escape(scan.status.rawValue))</td>"
                + "<td>\(Markup.escape(strongest))</td><td>\(Markup.escape(DriftReport.summary(scan)))</td></tr>"
        }
        html += "</table>"
        for scan in comparison.scans where scan.status == .drifted {
            html += "<div class=\"variant\"><h3>\(Markup.escape(scan.model)) scan <code>\(Markup.escape(scan.id))</code>: \(Markup.escape(DriftReport.summary(scan)))</h3>"
            html += "<pre>\(Markup.escape(DriftReport.details(scan, cells: 8).joined(separator: "\n")))</pre><div class=\"row\">"
            for (side, snapshot) in [("A: \(nameA)", scan.old), ("B: \(nameB)", scan.new)] {
                guard let snapshot else { continue }
                var figure = FigureOptions()
                figure.dpi = options.dpi
                figure.width = snapshot.result.columns.count > 16 ? 505 : 320
                figure.title = side
                let png = try FigureRenderer.render(.scan, try FigureInputs.scan(snapshot.result), options: figure, format: .png)
                html += "<figure><img class=\"scan\" alt=\"scan \(Markup.escape(scan.id)), \(Markup.escape(side))\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></figure>"
            }
            html += "</div></div>"
        }
        return html
    }

    static func anchor(_ name: String) -> String {
        "experiment-" + String(name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" ? Character($0) : "-" })
    }
}
