import AttnCore
import AttnExperiments
import Foundation

/// The report's attributions: per variant, one bar per word and method (occlusion, mask, rollout),
/// each method on its own scale, and the expectations stated on them with what they measured.
enum AttributionSection {
    static func render(_ manifest: Manifest) -> String {
        guard !manifest.attributions.isEmpty else { return "" }
        var html = "<h2>Attribution</h2><p class=\"small\">Occlusion: how much the metric drops when the word is deleted "
            + "(mask: replaced by the mask token); a positive bar means the word raised it. Rollout: the attention that flows to the word "
            + "through every layer (residual counted as half of each step). Each method has its own scale.</p>"
        var groups: [(model: String, variant: String)] = []
        for record in manifest.attributions where !groups.contains(where: { $0 == (record.model, record.variant) }) {
            groups.append((record.model, record.variant))
        }
        for (model, variant) in groups {
            let records = manifest.attributions.filter { $0.model == model && $0.variant == variant }
            html += "<section class=\"attribution\"><h3><code>\(Markup.escape(variant))</code> · \(Markup.escape(model))</h3>"
            let measured = records.compactMap { record in
                record.metric.map { metric in "\(record.method.rawValue) measures \(metric)" + (record.baseline.map { String(format: " (%.4f unchanged)", $0) } ?? "") }
            }
            if !measured.isEmpty { html += "<p class=\"small\">\(Markup.escape(measured.joined(separator: "; ")))</p>" }
            html += chart(records)
            let methods = records.map(\.method.rawValue)
            html += ScanSection.expectations(ScanSection.results(manifest).filter { result in
                result.model == model && result.variant == variant && methods.contains { result.expectation.hasSuffix(" by \($0)") }
            })
            html += "</section>"
        }
        return html
    }

    /// A table of words × methods, each cell a bar (to the right for a positive score, to the left
    /// for a negative one; from the left edge when the method has no negative score) and its value.
    static func chart(_ records: [Manifest.AttributionRecord]) -> String {
        guard let words = records.first?.words else { return "" }
        var html = "<table class=\"bars\"><tr><th>word</th>" + records.map { "<th>\(Markup.escape($0.method.rawValue))</th>" }.joined() + "</tr>"
        let scales = records.map { record -> (end: Double, signed: Bool) in
            let finite = record.scores.filter(\.isFinite)
            return (max(finite.map(abs).max() ?? 0, 1e-12), finite.contains { $0 < 0 })
        }
        let ranks = records.map { record -> [String: Int] in
            Dictionary(record.ranked().enumerated().map { ($1.word, $0 + 1) }, uniquingKeysWith: { first, _ in first })
        }
        for (index, word) in words.enumerated() {
            html += "<tr><td><code>\(Markup.escape(word))</code></td>"
            for (column, record) in records.enumerated() {
                guard index < record.scores.count, record.scores[index].isFinite else {
                    html += "<td class=\"small\">–</td>"
                    continue
                }
                let score = record.scores[index], scale = scales[column]
                let share = abs(score) / scale.end * (scale.signed ? 50 : 100)
                let side = score < 0 ? "neg" : scale.signed ? "pos" : "pos whole"
                html += "<td class=\"bar\"><span class=\"track\"><span class=\"\(side)\" style=\"width:\(String(format: "%.1f", share))%\"></span></span> "
                    + String(format: "%.4f", score) + " <span class=\"small\">#\(ranks[column][word] ?? 0)</span></td>"
            }
            html += "</tr>"
        }
        return html + "</table>"
    }
}
