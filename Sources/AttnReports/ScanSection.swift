import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import Foundation

/// The report's scans: each as its figure, with the target's and the source's values, a link to
/// its scan view, the strongest cells, and the expectations stated on it with what they measured.
enum ScanSection {
    /// Cells listed per scan.
    static let listed = 10

    static func render(_ manifest: Manifest, links: [String: String]) throws -> String {
        guard !manifest.scans.isEmpty else { return "" }
        var html = "<h2>Scans</h2>"
        for record in manifest.scans {
            html += try scan(record, manifest: manifest, link: links[RunReport.Options.key(model: record.model, variant: record.id)])
        }
        return html
    }

    static func scan(_ record: Manifest.ScanRecord, manifest: Manifest, link: String?) throws -> String {
        let result = record.result
        var html = "<section class=\"scan\"><h3>Scan <code>\(Markup.escape(record.id))</code> · \(Markup.escape(record.model))</h3>"
        let direction = result.source.map { "from <code>\(Markup.escape($0))</code> into <code>\(Markup.escape(result.target))</code>" }
            ?? "of <code>\(Markup.escape(result.target))</code>"
        html += "<p>\(result.mode == .patch ? "Patching" : "Ablation") scan of \(Markup.escape(result.siteDescription)) \(direction), "
            + "\(result.layers.count) layers × \(result.columns.count) \(result.site == .head ? "heads" : "words"), metric \(Markup.escape(result.metric)): "
            + String(format: "target %.4f", result.targetValue)
            + (result.sourceValue.map { String(format: ", source %.4f (normalised: 0 = target, 1 = source)", $0) } ?? "")
            + (link.map { " · <a href=\"\(Markup.escape($0))\">scan view</a>" } ?? "") + "</p>"
        var options = FigureOptions()
        options.dpi = 150
        options.width = result.columns.count > 16 ? 505 : 320
        let png = try FigureRenderer.render(.scan, try FigureInputs.scan(result), options: options, format: .png)
        html += "<div class=\"row\"><figure><img class=\"scan\" alt=\"scan \(Markup.escape(record.id)) of \(Markup.escape(record.model))\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></figure>"
        html += "<table class=\"ranked\"><tr><th>rank</th><th>cell</th><th>effect</th>\(result.sourceValue == nil ? "" : "<th>normalised</th>")</tr>"
        for (rank, cell) in result.top(listed).enumerated() {
            html += "<tr><td>\(rank + 1)</td><td><code>\(Markup.escape(result.name(of: cell)))</code></td>" + String(format: "<td>%+.4f</td>", cell.effect)
                + (result.sourceValue == nil ? "" : "<td>\(cell.normalized.map { String(format: "%+.3f", $0) } ?? "–")</td>") + "</tr>"
        }
        html += "</table></div>"
        if !result.skipped.isEmpty {
            html += "<p class=\"small\">\(result.skipped.count) cells could not be patched (a word split differently in the two inputs).</p>"
        }
        html += expectations(results(manifest).filter { $0.model == record.model && names($0.expectation, scan: record.id) })
        return html + "</section>"
    }

    /// The expectation results the manifest holds: every one of an expectation that checked a few
    /// (a scan's or an attribution's), the worst failures of the others.
    static func results(_ manifest: Manifest) -> [Manifest.ExpectationResult] {
        manifest.expectations.flatMap { $0.results ?? $0.worst }
    }

    /// True when an expectation's text is about scan `id` (`scan heads cell 4.11: …`, `… of scan heads include …`).
    static func names(_ expectation: String, scan id: String) -> Bool {
        expectation.hasPrefix("scan \(id) ") || expectation.contains(" of scan \(id) ")
    }

    /// The expectations stated on a scan or an attribution, with what was measured.
    static func expectations(_ results: [Manifest.ExpectationResult]) -> String {
        guard !results.isEmpty else { return "" }
        return "<ul class=\"expectations\">" + results.map { result in
            "<li class=\"\(result.passed ? "pass" : "fail")\"><span class=\"\(result.passed ? "pass" : "fail")\">\(result.passed ? "✔" : "✘")</span> "
                + "\(Markup.escape(result.expectation)) — \(Markup.escape(result.actual)) <span class=\"small\">(line \(result.line))</span></li>"
        }.joined() + "</ul>"
    }
}
