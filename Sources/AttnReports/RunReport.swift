import AttnCore
import AttnDiff
import AttnExperiments
import Foundation

/// `report.html` of a run: the variants × models with their outputs, the expectations with what
/// was measured, and for each perturbed variant the heads that changed most, drawn for the base and
/// the variant side by side with their difference. One self-contained file (figures inlined).
public enum RunReport {
    public struct Options: Sendable {
        /// Heads shown per perturbed variant.
        public var headsPerVariant: Int = 3
        /// Comparisons drawn with figures, the variants that changed most first; the others get their
        /// table only, so that a run of hundreds of variants keeps a report of a few megabytes.
        public var drawnComparisons: Int = 24
        /// Links to view pages, by (model, variant path) → [(view name, path relative to the report)].
        public var viewLinks: [String: [(String, String)]] = [:]

        public init(headsPerVariant: Int = 3) { self.headsPerVariant = headsPerVariant }

        public static func key(model: String, variant: String) -> String { "\(model) \(variant)" }
    }

    /// The report's HTML.
    public static func render(_ manifest: Manifest, subjects: [ExpectationEvaluator.Subject], options: Options = Options(),
                              comparisons: RunComparisons? = nil) throws -> String {
        let comparisons = try comparisons ?? RunComparisons(subjects)
        var html = ReportPage.header(title: "\(manifest.experiment.name) — AttnLab report")
        html += "<h1>\(Markup.escape(manifest.experiment.name))</h1>"
        if let description = manifest.experiment.description { html += "<p class=\"lead\">\(Markup.escape(description))</p>" }
        let passed = manifest.expectations.filter(\.passed).count
        let failures = manifest.failures ?? []
        html += "<p class=\"status \(manifest.passed ? "pass" : "fail")\">\(manifest.expectations.count == passed ? "All" : "\(passed) of") \(manifest.expectations.count) expectations passed"
            + (failures.isEmpty ? "" : "; \(failures.count) could not be run") + "</p>"
        // What failed comes first, before the tables of everything that ran.
        if !failures.isEmpty || passed < manifest.expectations.count {
            html += "<section class=\"failures\"><h2>Failures</h2>"
            if !failures.isEmpty {
                html += "<table><tr><th></th><th>what</th><th>model</th><th>error</th></tr>"
                for failure in failures {
                    html += "<tr class=\"fail\"><td>✘</td><td><code>\(Markup.escape(failure.subject))</code></td><td>\(Markup.escape(failure.model))</td><td>\(Markup.escape(failure.message))</td></tr>"
                }
                html += "</table>"
            }
            html += expectationRows(manifest.expectations.filter { !$0.passed }, heading: nil)
            html += "</section>"
        }
        html += "<p class=\"meta\">experiment <code>\(Markup.escape(manifest.experiment.file))</code> (sha256 \(manifest.experiment.hash.prefix(12))), run \(Markup.escape(manifest.timing.runID)), attnlab \(Markup.escape(manifest.attnlabVersion))</p>"

        html += "<h2>Models</h2><table><tr><th>name</th><th>model</th><th>architecture</th><th>task</th><th>layers × heads</th><th>weights sha256</th></tr>"
        for model in manifest.models {
            html += "<tr><td>\(Markup.escape(model.name))</td><td><code>\(Markup.escape(model.id))</code></td><td>\(Markup.escape(model.architecture))</td><td>\(Markup.escape(model.task))</td><td>\(model.layers) × \(model.heads)</td><td><code>\(model.weightsHash.prefix(12))</code></td></tr>"
        }
        html += "</table>"

        html += variantTable(manifest, options: options)
        html += expectationTable(manifest)

        html += "<h2>What changed</h2>"
        // Each comparison draws nine figures; they are independent, so they are drawn on every core.
        let pairs = comparisons.all
        let diffs = pairs.map(\.diff)
        let drawn = Set(diffs.indices.sorted { (diffs[$0].heads.first?.jsDivergence ?? 0) > (diffs[$1].heads.first?.jsDivergence ?? 0) }
            .prefix(options.drawnComparisons))
        if pairs.count > drawn.count {
            html += "<p class=\"meta\">Figures are drawn for the \(drawn.count) variants that changed most (largest divergence of a head); the other \(pairs.count - drawn.count) show their tables. <code>attnlab figure</code> draws any of them.</p>"
        }
        var sections = [Result<String, Error>](repeating: .success(""), count: pairs.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: pairs.count) { index in
            let section = Result {
                try comparison(base: pairs[index].base, variant: pairs[index].variant, diff: diffs[index], drawn: drawn.contains(index), options: options)
            }
            lock.withLock { sections[index] = section }
        }
        for section in sections { html += try section.get() }
        html += "</body></html>\n"
        return html
    }

    static func outputText(_ outputs: TraceOutputs) -> String {
        if let s = outputs.similarity { return String(format: "similarity %.4f", s) }
        if let label = outputs.label, let p = outputs.probabilities?.max() { return String(format: "%@ %.3f", label, p) }
        if let top = outputs.topk?.first?.candidates.prefix(3) {
            return top.map { String(format: "%@ %.3f", $0.token, $0.probability) }.joined(separator: ", ")
        }
        return ""
    }

    static func variantTable(_ manifest: Manifest, options: Options) -> String {
        let models = manifest.models.map(\.name)
        var paths: [String] = []
        for record in manifest.variants where !paths.contains(record.variant.path) { paths.append(record.variant.path) }
        var html = "<h2>Variants</h2><table><tr><th>variant</th><th>change</th><th>text</th>"
        html += models.map { "<th>\(Markup.escape($0))</th>" }.joined() + "</tr>"
        for path in paths {
            guard let first = manifest.variants.first(where: { $0.variant.path == path }) else { continue }
            let variant = first.variant
            let text = Markup.escape(variant.a) + (variant.b.map { "<br><span class=\"b\">" + Markup.escape($0) + "</span>" } ?? "")
            html += "<tr><td><code>\(Markup.escape(path))</code></td><td>\(Markup.escape(variant.perturbation ?? "base"))</td><td class=\"text\">\(text)</td>"
            for model in models {
                guard let record = manifest.variants.first(where: { $0.model == model && $0.variant.path == path }) else {
                    html += "<td></td>"
                    continue
                }
                let links = (options.viewLinks[Options.key(model: model, variant: path)] ?? [])
                    .map { "<a href=\"\(Markup.escape($0.1))\">\(Markup.escape($0.0))</a>" }.joined(separator: " · ")
                html += "<td>\(Markup.escape(outputText(record.outputs)))"
                if let label = record.label { html += "<br><b>\(Markup.escape(label))</b>" }
                if !links.isEmpty { html += "<br><span class=\"links\">\(links)</span>" }
                html += "</td>"
            }
            html += "</tr>"
        }
        return html + "</table>"
    }

    /// Every expectation, the failed ones first.
    static func expectationTable(_ manifest: Manifest) -> String {
        expectationRows(manifest.expectations.filter { !$0.passed } + manifest.expectations.filter(\.passed), heading: "Expectations")
    }

    static func expectationRows(_ results: [Manifest.ExpectationResult], heading: String?) -> String {
        guard !results.isEmpty else { return "" }
        var html = (heading.map { "<h2>\($0)</h2>" } ?? "") + "<table><tr><th></th><th>variant</th><th>model</th><th>expected</th><th>measured</th><th>line</th></tr>"
        for result in results {
            html += "<tr class=\"\(result.passed ? "pass" : "fail")\"><td>\(result.passed ? "✔" : "✘")</td><td><code>\(Markup.escape(result.variant))</code></td><td>\(Markup.escape(result.model))</td><td>\(Markup.escape(result.expectation))</td><td>\(Markup.escape(result.actual))</td><td>\(result.line)</td></tr>"
        }
        return html + "</table>"
    }

    /// The heads that changed most between a variant and its base, each drawn base | variant | compare.
    static func comparison(base: ExpectationEvaluator.Subject, variant: ExpectationEvaluator.Subject, diff: TraceDiff,
                           drawn: Bool, options: Options) throws -> String {
        var html = "<section><h3><code>\(Markup.escape(base.variant.path))</code> → <code>\(Markup.escape(variant.variant.path))</code> · \(Markup.escape(variant.model))</h3>"
        let changed = diff.changedWords.map { "<del>\(Markup.escape($0.a ?? "∅"))</del> → <ins>\(Markup.escape($0.b ?? "∅"))</ins>" }
        html += "<p>\(Markup.escape(variant.variant.perturbation ?? "")): \(changed.isEmpty ? "no word changed" : changed.joined(separator: ", "))</p>"
        html += "<table><tr><th>rank</th><th>layer</th><th>head</th><th>JS divergence</th><th>L1</th><th>top-3 changed</th><th>A↔B mass change</th></tr>"
        for (rank, head) in diff.heads.prefix(options.headsPerVariant).enumerated() {
            html += "<tr><td>\(rank + 1)</td><td>\(head.layer)</td><td>\(head.head)</td>"
                + String(format: "<td>%.3f</td><td>%.3f</td><td>%.0f%%</td>", head.jsDivergence, head.l1, head.topKChange * 100)
                + "<td>\(head.massChange.map { String(format: "%.3f", $0) } ?? "–")</td></tr>"
        }
        html += "</table>"
        let moved = diff.words.prefix(5).map { String(format: "%@ (%.3f)", Markup.escape($0.text), $0.jsDivergence) }
        html += "<p>Words whose attention moved most: \(moved.joined(separator: ", "))</p>"
        let before = FigureRow.Side(title: base.variant.path, name: base.variant.name, trace: base.trace)
        let after = FigureRow.Side(title: variant.variant.path, name: variant.variant.name, trace: variant.trace)
        for head in diff.heads.prefix(drawn ? options.headsPerVariant : 0) {
            html += try FigureRow.render(layer: head.layer, head: head.head, before: before, after: after)
        }
        return html + "</section>"
    }
}
