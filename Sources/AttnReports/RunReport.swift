import AttnCore
import AttnDiff
import AttnExperiments
import Foundation

/// `report.html` of a run, built from its files, not from traces in memory, so that a run of any
/// size has a report of about the same size: failures first (each expectation that failed, its
/// failure rate per model and per perturbation, its worst failures with links to their traces),
/// then every expectation, the models, the variants (when there are few; an intervened variant
/// beside the one it changes), the scans (figure, strongest cells, link to the scan view), the
/// attributions as bars per word, and the variants that changed most against their base, drawn
/// side by side with their difference. One self-contained file (figures inlined).
public enum RunReport {
    public struct Options: Sendable {
        /// Heads shown per perturbed variant.
        public var headsPerVariant: Int = 3
        /// Variants listed one by one in the variants table, at most.
        public var variantsListed: Int = 200

        /// The key of a scan's link (`model id`).
        public static func key(model: String, variant: String) -> String { "\(model) \(variant)" }

        public init(headsPerVariant: Int = 3) { self.headsPerVariant = headsPerVariant }
    }

    /// The report's HTML.
    public static func render(_ run: RunFolder, options: Options = Options()) throws -> String {
        let manifest = run.manifest
        var html = ReportPage.header(title: "\(manifest.experiment.name) — AttnLab report")
        html += "<h1>\(Markup.escape(manifest.experiment.name))</h1>"
        if let description = manifest.experiment.description { html += "<p class=\"lead\">\(Markup.escape(description))</p>" }
        html += "<p class=\"status \(manifest.passed ? "pass" : "fail")\">\(Markup.escape(RunText.verdict(manifest)))</p>"
        html += "<p class=\"meta\">experiment <code>\(Markup.escape(manifest.experiment.file))</code> (sha256 \(manifest.experiment.hash.prefix(12))), "
            + "\(RunText.count(manifest.variantCount, "variant"))"
            + (manifest.experiment.inputs.map { " of \(RunText.count($0, "input"))" } ?? "")
            + (manifest.experiment.skippedRows.map { ", \(RunText.count($0, "bad row")) skipped" } ?? "")
            + ", traces: \(Markup.escape(manifest.storage.description)), run \(Markup.escape(manifest.timing.runID)), attnlab \(Markup.escape(manifest.attnlabVersion))</p>"

        html += failures(run)
        html += expectationTable(manifest)

        html += "<h2>Models</h2><table><tr><th>name</th><th>model</th><th>architecture</th><th>task</th><th>layers × heads</th><th>weights sha256</th></tr>"
        for model in manifest.models {
            html += "<tr><td>\(Markup.escape(model.name))</td><td><code>\(Markup.escape(model.id))</code></td><td>\(Markup.escape(model.architecture))</td><td>\(Markup.escape(model.task))</td><td>\(model.layers) × \(model.heads)</td><td><code>\(model.weightsHash.prefix(12))</code></td></tr>"
        }
        html += "</table>"

        html += try variantTable(run, options: options)
        html += try ScanSection.render(manifest, links: scanLinks(run))
        html += AttributionSection.render(manifest)
        html += try changes(run, options: options)
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

    /// A link to a variant's trace, or the command that writes it.
    static func traceLink(_ run: RunFolder, model: String, variant: String, trace: String?) -> String {
        if let trace { return "<a href=\"\(Markup.escape(trace))\">trace</a>" }
        return "<code>attnlab trace --from-run \(Markup.escape(run.url.path)) \(Markup.escape(variant)) --model \(Markup.escape(model))</code>"
    }

    /// The scan views the run wrote (`views/<model>/<scan>-scan.html`), by `Options.key(model:variant:)`.
    static func scanLinks(_ run: RunFolder) throws -> [String: String] {
        var links: [String: String] = [:]
        for record in run.manifest.scans {
            let relative = try RunPaths.scanView(model: record.model, scan: record.id)
            guard FileManager.default.fileExists(atPath: run.url.appendingPathComponent(relative).path) else { continue }
            links[Options.key(model: record.model, variant: record.id)] = relative
        }
        return links
    }

    /// Each failing expectation: failures per model and per perturbation, and the worst ones.
    static func failures(_ run: RunFolder) -> String {
        let failing = run.manifest.expectations.filter { !$0.passed }
        let unrun = run.manifest.failures ?? []
        guard !failing.isEmpty || !unrun.isEmpty else { return "" }
        var html = "<h2>Failures</h2>"
        // What could not be run at all (the rest of the run went on), with its error.
        if !unrun.isEmpty {
            html += "<table><tr><th></th><th>what</th><th>model</th><th>error</th></tr>"
            for failure in unrun {
                html += "<tr class=\"fail\"><td>✘</td><td><code>\(Markup.escape(failure.subject))</code></td><td>\(Markup.escape(failure.model))</td><td>\(Markup.escape(failure.message))</td></tr>"
            }
            html += "</table>"
        }
        for summary in failing {
            html += "<section><h3>line \(summary.line): \(Markup.escape(summary.expectation)) <span class=\"small\">on <code>\(Markup.escape(summary.variant))</code>\(summary.model.map { " [\(Markup.escape($0))]" } ?? "")</span></h3>"
            html += "<p><span class=\"fail\">\(Markup.escape(RunText.counts(summary)))</span></p>"
            if let problem = summary.problem { html += "<p>\(Markup.escape(problem))</p>" }
            if summary.byModel.count > 1 || summary.byPerturbation.count > 1 {
                html += "<table><tr><th></th><th>failed</th><th>checked</th><th>rate</th></tr>"
                for (kind, counts) in [("model", summary.byModel), ("perturbation", summary.byPerturbation)] where counts.count > 1 || kind == "model" {
                    for count in counts {
                        html += "<tr><td>\(kind) <b>\(Markup.escape(count.name))</b></td><td>\(count.failed)</td><td>\(count.checked)</td><td>\(RunText.percent(count.rate))</td></tr>"
                    }
                }
                html += "</table>"
            }
            if !summary.worst.isEmpty {
                html += "<table><tr><th>worst failures</th><th>model</th><th>measured</th><th>missed by</th><th></th></tr>"
                let traces = (try? traceIndex(run, wanted: Set(summary.worst.map { "\($0.model) \($0.variant)" }))) ?? [:]
                for result in summary.worst {
                    html += "<tr class=\"fail\"><td><code>\(Markup.escape(result.variant))</code></td><td>\(Markup.escape(result.model))</td><td>\(Markup.escape(result.actual))</td>"
                        + "<td>\(result.margin.map { String(format: "%.4f", $0) } ?? "–")</td>"
                        + "<td>\(traceLink(run, model: result.model, variant: result.variant, trace: traces["\(result.model) \(result.variant)"] ?? nil))</td></tr>"
                }
                html += "</table>"
            }
            html += "</section>"
        }
        return html
    }

    /// The trace paths of the wanted variants (`model input/variant`), in one pass over the records.
    static func traceIndex(_ run: RunFolder, wanted: Set<String>) throws -> [String: String?] {
        var found: [String: String?] = [:]
        guard !wanted.isEmpty else { return found }
        try run.forEachRecord { record in
            let key = "\(record.model) \(record.variant.path)"
            if wanted.contains(key) { found[key] = .some(record.trace) }
            return found.count < wanted.count
        }
        return found
    }

    static func expectationTable(_ manifest: Manifest) -> String {
        guard !manifest.expectations.isEmpty else { return "" }
        var html = "<h2>Expectations</h2><table><tr><th></th><th>variant</th><th>model</th><th>expected</th><th>measured</th><th>line</th></tr>"
        // Failures first, then the file's order.
        let ordered = manifest.expectations.filter { !$0.passed } + manifest.expectations.filter(\.passed)
        for summary in ordered {
            let mark = summary.passed ? "✔" : "✘", status = summary.passed ? "pass" : "fail"
            if let results = summary.results, !results.isEmpty, summary.allowed == nil {
                for result in results {
                    html += "<tr class=\"\(result.passed ? "pass" : "fail")\"><td>\(result.passed ? "✔" : "✘")</td><td><code>\(Markup.escape(result.variant))</code></td><td>\(Markup.escape(result.model))</td><td>\(Markup.escape(result.expectation))</td><td>\(Markup.escape(result.actual))</td><td>\(summary.line)</td></tr>"
                }
                continue
            }
            html += "<tr class=\"\(status)\"><td>\(mark)</td><td><code>\(Markup.escape(summary.variant))</code></td><td>\(Markup.escape(summary.model ?? "all"))</td><td>\(Markup.escape(summary.expectation))</td><td>\(Markup.escape(summary.problem ?? RunText.counts(summary)))</td><td>\(summary.line)</td></tr>"
        }
        return html + "</table>"
    }

    static func variantTable(_ run: RunFolder, options: Options) throws -> String {
        let manifest = run.manifest
        guard manifest.variantCount <= options.variantsListed else {
            return "<h2>Variants</h2><p>\(RunText.count(manifest.variantCount, "variant")) of \(manifest.models.count) model\(manifest.models.count == 1 ? "" : "s"): one a line in <a href=\"\(RunFiles.variants)\">\(RunFiles.variants)</a>, their expectation results in <a href=\"\(RunFiles.results)\">\(RunFiles.results)</a>.</p>"
        }
        let records = try run.records()
        let models = manifest.models.map(\.name)
        var byKey: [String: Manifest.VariantRecord] = [:]
        for record in records { byKey["\(record.model) \(record.variant.path)"] = record }
        var html = "<h2>Variants</h2><table><tr><th>variant</th><th>change</th><th>text</th>"
        html += models.map { "<th>\(Markup.escape($0))</th>" }.joined() + "</tr>"
        var firstByPath: [String: Manifest.VariantRecord] = [:]
        for record in records where firstByPath[record.variant.path] == nil { firstByPath[record.variant.path] = record }
        for path in orderedPaths(records) {
            guard let first = firstByPath[path] else { continue }
            let variant = first.variant
            let text = Markup.escape(variant.a) + (variant.b.map { "<br><span class=\"b\">" + Markup.escape($0) + "</span>" } ?? "")
            html += "<tr\(variant.intervention == nil ? "" : " class=\"intervened\"")><td><code>\(Markup.escape(path))</code></td>"
                + "<td>\(change(variant))</td><td class=\"text\">\(variant.intervention == nil ? text : "<span class=\"small\">as <code>\(Markup.escape(variant.input))/\(Markup.escape(variant.parentName))</code></span>")</td>"
            for model in models {
                guard let record = byKey["\(model) \(path)"] else {
                    html += "<td></td>"
                    continue
                }
                let links = (record.files ?? []).map { "<a href=\"\(Markup.escape($0.path))\">\(Markup.escape($0.kind))</a>" }.joined(separator: " · ")
                html += "<td>\(Markup.escape(outputText(record.outputs)))"
                if record.variant.intervention != nil, let parent = records.base(of: record) {
                    html += " <span class=\"delta\">\(Markup.escape(deltaText(record.outputs, from: parent.outputs, parent: parent.variant.name)))</span>"
                }
                if let label = record.label { html += "<br><b>\(Markup.escape(label))</b>" }
                if !links.isEmpty { html += "<br><span class=\"links\">\(links)</span>" }
                html += "</td>"
            }
            html += "</tr>"
        }
        return html + "</table>"
    }

    /// The variants' paths in run order, each intervened variant right after the one it changes.
    static func orderedPaths(_ records: [Manifest.VariantRecord]) -> [String] {
        // By dictionary, not by search: a report may list thousands of variants.
        var paths: [String] = [], variants: [String: Variant] = [:]
        for record in records where variants[record.variant.path] == nil {
            variants[record.variant.path] = record.variant
            paths.append(record.variant.path)
        }
        var intervened: [String: [String]] = [:]   // by the path of the variant they change, in run order
        for path in paths {
            guard let variant = variants[path], variant.intervention != nil else { continue }
            intervened["\(variant.input)/\(variant.parentName)", default: []].append(path)
        }
        var ordered: [String] = [], placed: Set<String> = []
        for path in paths where variants[path]?.intervention == nil {
            for each in [path] + (intervened[path] ?? []) {
                ordered.append(each)
                placed.insert(each)
            }
        }
        return ordered + paths.filter { !placed.contains($0) }
    }

    /// What a variant changes: the perturbation, and for an intervened variant what it does inside the model.
    static func change(_ variant: Variant) -> String {
        guard let intervention = variant.intervention else { return Markup.escape(variant.perturbation ?? "base") }
        return "<b>\(Markup.escape(intervention.description))</b>"
    }

    /// `Δ −0.0337 from terrific` (similarity), or the change of the top class's or token's probability.
    static func deltaText(_ outputs: TraceOutputs, from parent: TraceOutputs, parent name: String) -> String {
        if let s = outputs.similarity, let p = parent.similarity { return String(format: "Δ %+.4f from %@", s - p, name) }
        if let probabilities = outputs.probabilities, let before = parent.probabilities, let top = before.indices.max(by: { before[$0] < before[$1] }),
           top < probabilities.count {
            let label = parent.labels.map { top < $0.count ? $0[top] : "\(top)" } ?? "\(top)"
            return String(format: "p(%@) Δ %+.3f from %@", label, probabilities[top] - before[top], name)
        }
        if let token = parent.topk?.first?.candidates.first, let now = outputs.topk?.first {
            let probability = (now.candidates + (now.watched ?? [])).first { $0.id == token.id }?.probability
            if let probability { return String(format: "p(%@) Δ %+.3f from %@", token.token, probability - token.probability, name) }
        }
        return "vs \(name)"
    }

    /// The variants that changed most, each with the heads that changed most, drawn base | variant
    /// | compare when the run keeps those heads.
    static func changes(_ run: RunFolder, options: Options) throws -> String {
        let references = run.manifest.mostChanged
        guard !references.isEmpty else { return "" }
        let wanted = Set(references.flatMap { ["\($0.model) \($0.variant)", "\($0.model) \($0.base)"] })
        var records: [String: Manifest.VariantRecord] = [:]
        var perturbed = 0
        try run.forEachRecord { record in
            if record.change != nil { perturbed += 1 }
            let key = "\(record.model) \(record.variant.path)"
            if wanted.contains(key) { records[key] = record }
            return true
        }
        var html = "<h2>What changed</h2>"
        if perturbed > references.count {
            html += "<p class=\"meta\">The \(references.count) variants that changed most (largest divergence of a head) of \(perturbed); <code>attnlab diff RUN</code> compares any of them.</p>"
        }
        var sections = [Result<String, Error>](repeating: .success(""), count: references.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: references.count) { index in
            let reference = references[index]
            let section = Result { () throws -> String in
                guard let variant = records["\(reference.model) \(reference.variant)"], let change = variant.change else { return "" }
                return try comparison(run, variant: variant, change: change, base: records["\(reference.model) \(reference.base)"], options: options)
            }
            lock.withLock { sections[index] = section }
        }
        for section in sections { html += try section.get() }
        return html
    }

    /// One variant against its base: the heads that changed most, the words, and the figures.
    static func comparison(_ run: RunFolder, variant: Manifest.VariantRecord, change: ChangeSummary, base: Manifest.VariantRecord?,
                           options: Options) throws -> String {
        var html = "<section><h3><code>\(Markup.escape(variant.variant.path))</code> vs <code>\(Markup.escape(change.base))</code> · \(Markup.escape(variant.model))</h3>"
        let changed = change.changedWords.map { "<del>\(Markup.escape($0.a ?? "∅"))</del> → <ins>\(Markup.escape($0.b ?? "∅"))</ins>" }
        if let intervention = variant.variant.intervention {
            html += "<p>Inside the model: \(Markup.escape(intervention.description)) (the input is the same)</p>"
        } else {
            html += "<p>\(Markup.escape(variant.variant.change)): \(changed.isEmpty ? "no word changed" : changed.joined(separator: ", "))</p>"
        }
        html += "<table><tr><th>rank</th><th>layer</th><th>head</th><th>JS divergence</th><th>L1</th><th>top-3 changed</th><th>A↔B mass change</th></tr>"
        let heads = change.heads.prefix(options.headsPerVariant)
        for (rank, head) in heads.enumerated() {
            html += "<tr><td>\(rank + 1)</td><td>\(head.layer)</td><td>\(head.head)</td>"
                + String(format: "<td>%.3f</td><td>%.3f</td><td>%.0f%%</td>", head.jsDivergence, head.l1, head.topKChange * 100)
                + "<td>\(head.massChange.map { String(format: "%.3f", $0) } ?? "–")</td></tr>"
        }
        html += "</table>"
        let moved = change.words.prefix(5).map { String(format: "%@ (%.3f)", Markup.escape($0.text), $0.jsDivergence) }
        html += "<p>Words whose attention moved most: \(moved.joined(separator: ", "))</p>"
        guard let base, variant.trace != nil, base.trace != nil else {
            html += "<p class=\"meta\">The run keeps no traces to draw: \(traceLink(run, model: variant.model, variant: variant.variant.path, trace: nil)) writes this one.</p>"
            return html + "</section>"
        }
        let before = try run.trace(base), after = try run.trace(variant)
        let sideBefore = FigureRow.Side(title: base.variant.path, name: base.variant.name, trace: before)
        let sideAfter = FigureRow.Side(title: variant.variant.path, name: variant.variant.name, trace: after)
        for head in heads {
            guard let a = before.stacks[.encoder], let b = after.stacks[.encoder],
                  a.holds(layer: head.layer, head: head.head), b.holds(layer: head.layer, head: head.head) else { continue }
            html += try FigureRow.render(layer: head.layer, head: head.head, before: sideBefore, after: sideAfter)
        }
        return html + "</section>"
    }
}

/// Counts and rates in words, as the terminal summary and the report say them.
public enum RunText {
    /// `1,234 variants`.
    public static func count(_ value: Int, _ noun: String) -> String {
        "\(number(value)) \(noun)\(value == 1 ? "" : "s")"
    }

    /// `1,234`.
    public static func number(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `3.1%`.
    public static func percent(_ rate: Double) -> String {
        let value = rate * 100
        return value == 0 || value >= 10 ? String(format: "%.0f%%", value) : String(format: "%.1f%%", value)
    }

    /// `37 of 1,200 failed (3.1%), 5% allowed`.
    public static func counts(_ summary: Manifest.ExpectationSummary) -> String {
        if let problem = summary.problem { return problem }
        var text = "\(number(summary.failed)) of \(number(summary.checked)) failed (\(percent(summary.rate)))"
        if let allowed = summary.allowed { text += ", \(allowed) allowed" + (summary.byModel.count > 1 ? " per model" : "") }
        return text
    }

    /// `All 8 expectations passed`, or `2 of 3 expectations passed; 44 of 820 checks failed`.
    public static func verdict(_ manifest: Manifest) -> String {
        let total = manifest.expectations.count
        let passed = manifest.expectations.filter(\.passed).count
        let checks = manifest.expectations.reduce(0) { $0 + $1.checked }
        let failed = manifest.expectations.reduce(0) { $0 + $1.failed }
        if total == 0 { return "No expectations" }
        var text = passed == total ? "All \(total) expectations passed" : "\(passed) of \(total) expectations passed"
        if checks > total { text += "; \(failed) of \(count(checks, "check")) failed" }
        if let unrun = manifest.failures, !unrun.isEmpty { text += "; \(unrun.count) could not be run" }
        return text
    }
}
