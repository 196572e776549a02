import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import Foundation

/// `attnlab diff`: which heads and words changed between two traces, or between the variants of runs.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare attention: two traces, two runs, or each variant of a run with its base.",
        discussion: """
        Tokens are aligned through their words, so traces of different inputs (a perturbed sentence) \
        or different tokenizers compare. Per head: Jensen–Shannon divergence of each word's attention \
        over the shared words (bits, 0 to 1), L1 distance, share of top-3 attended words that changed, \
        and change in attention mass between sentences A and B; heads ranked by divergence.
        """)

    @Argument(help: "A trace file or a run folder (runs/<experiment>/<run-id>).")
    var first: String

    @Argument(help: "A second trace file or run folder; without it, each perturbed variant of the first run is compared with its base.")
    var second: String?

    @Option(help: "Heads and words listed per comparison.")
    var top = 5

    @Option(help: "How to print the comparisons.")
    var format = DiffFormat.text

    func validate() throws {
        guard top > 0 else { throw ValidationError("--top must be at least 1") }
    }

    func run() throws {
        var comparisons: [(String, Trace, Trace)] = []
        let firstURL = URL(fileURLWithPath: first)
        if let second {
            let secondURL = URL(fileURLWithPath: second)
            switch (RunFolder.isRun(firstURL), RunFolder.isRun(secondURL)) {
            case (false, false):
                comparisons = [("\(first) → \(second)", try TraceFile.read(firstURL), try TraceFile.read(secondURL))]
            case (true, true):
                let (runA, runB) = (try RunFolder(firstURL), try RunFolder(secondURL))
                var others: [String: Manifest.VariantRecord] = [:]
                try runB.forEachRecord { others["\($0.model) \($0.variant.path)"] = $0; return true }
                try runA.forEachRecord { record in
                    guard let other = others["\(record.model) \(record.variant.path)"] else { return true }
                    comparisons.append(("\(record.model) \(record.variant.path)", try runA.trace(record), try runB.trace(other)))
                    return true
                }
                if comparisons.isEmpty { throw ExperimentError("the two runs share no model and variant", hint: "compare runs of the same experiment") }
            default:
                throw ValidationError("give two trace files or two run folders")
            }
        } else {
            guard RunFolder.isRun(firstURL) else {
                throw ValidationError("with one argument, give a run folder: its perturbed variants are compared with their bases")
            }
            let run = try RunFolder(firstURL)
            let records = try run.records()
            for record in records where !record.variant.isBase {
                guard let base = records.base(of: record) else { continue }
                comparisons.append(("\(record.model) \(base.variant.path) → \(record.variant.path)", try run.trace(base), try run.trace(record)))
            }
        }
        var json: [[String: Any]] = []
        let diffs = try comparisons.map { try TraceDiff.compare($0.1, $0.2) }
        if format == .text, diffs.count > 1, diffs.allSatisfy(\.identical) {
            print("identical: all \(diffs.count) comparisons have the same tokens and the same attention in every head")
            return
        }
        for ((title, _, _), diff) in zip(comparisons, diffs) {
            if format == .json {
                json.append(["comparison": title, "identical": diff.identical,
                             "changed_words": diff.changedWords.map { ["a": $0.a as Any, "b": $0.b as Any] },
                             "heads": diff.heads.prefix(top).map(Self.object),
                             "words": diff.words.prefix(top).map(Self.object)])
                continue
            }
            print(Self.render(title, diff, top: top))
        }
        if format == .json {
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }

    static func object<T: Encodable>(_ value: T) -> Any {
        (try? JSONSerialization.jsonObject(with: TraceFile.stableJSON(value))) ?? NSNull()
    }

    static func render(_ title: String, _ diff: TraceDiff, top: Int) -> String {
        // Tables of zeros would only hide that nothing changed.
        if diff.identical { return "\(title)\n  identical: the same tokens and the same attention in every head" }
        var lines = [title]
        let changed = diff.changedWords.map { "\($0.a ?? "∅") → \($0.b ?? "∅")" }
        lines.append("  changed words: " + (changed.isEmpty ? "none" : changed.joined(separator: ", ")))
        var rows = [["layer", "head", "JS", "L1", "top-3 changed", "A↔B mass"]]
        for head in diff.heads.prefix(top) {
            rows.append(["\(head.layer)", "\(head.head)", String(format: "%.3f", head.jsDivergence), String(format: "%.3f", head.l1),
                         String(format: "%.0f%%", head.topKChange * 100), head.massChange.map { String(format: "%.3f", $0) } ?? "-"])
        }
        lines.append(Table.render(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        lines.append("  words whose attention moved most: " + diff.words.prefix(top).map {
            String(format: "%@ %.3f (most in layer %d, head %d)", $0.text, $0.jsDivergence, $0.layer, $0.head)
        }.joined(separator: "; "))
        return lines.joined(separator: "\n")
    }
}
