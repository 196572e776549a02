import AttnCore
import AttnDiff
import Foundation
import Yams

// The causal parts of an experiment file: `interventions:`, `scans:`, `attribution:` and the
// expectations on scans and attributions. What needs the model (layers, heads, words) is checked
// once the models are loaded, before anything runs (`ExperimentChecker`), with the same positions.

extension SpecReader {
    func position(_ node: Node?, _ key: String) -> FilePosition {
        FilePosition(line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, key: key)
    }

    /// `5.4` (or a list of them).
    func headList(_ node: Node, _ key: String) -> [HeadRef]? {
        guard let items = strings(node, key) else { return nil }
        var heads: [HeadRef] = []
        for item in items {
            guard let head = HeadRef(parsing: item) else {
                problem(node, key, "\"\(item)\" is not a head; write LAYER.HEAD, both from 0 (5.4)")
                return nil
            }
            heads.append(head)
        }
        return heads
    }

    /// `[3, 5]`, `5`, `3-5` or `0,2-4`.
    func layerList(_ node: Node, _ key: String) -> [Int]? {
        let items: [String]
        if case .sequence(let sequence) = node {
            items = sequence.compactMap { $0.scalar?.string }
        } else if let text = string(node, key) {
            items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else {
            return nil
        }
        var layers: [Int] = []
        for item in items {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            if bounds.count == 1, let layer = bounds[0], layer >= 0 {
                layers.append(layer)
            } else if bounds.count == 2, let first = bounds[0], let last = bounds[1], first >= 0, first <= last {
                layers += Array(first ... last)
            } else {
                problem(node, key, "\"\(item)\" is not a layer; write layers as [3, 5] or 3-5, from 0")
                return nil
            }
        }
        return Array(Set(layers)).sorted()
    }

    func stackValue(_ node: Node?, _ key: String) -> StackKind? {
        guard let node else { return .encoder }
        return choice(node, key, StackKind.allCases.map(\.rawValue)).flatMap(StackKind.init(rawValue:))
    }

    // MARK: interventions

    func interventions(_ node: Node, variantNames: Set<String>) -> [InterventionSpec]? {
        guard let items = sequence(node, "interventions") else { return nil }
        let kinds = Intervention.Kind.allCases.map(\.rawValue)
        var result: [InterventionSpec] = []
        for (index, item) in items.enumerated() {
            let key = "interventions[\(index)]"
            guard let entries = mapping(item, key, allowed: ["id", "mode", "stack", "apply_to"] + kinds) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            let present = entries.filter { kinds.contains($0.key) }
            guard present.count == 1, let (kind, body, _) = present.first else {
                problem(item, key, present.isEmpty ? "say what to do: one of \(kinds.joined(separator: ", "))" : "one kind per intervention; this one has \(present.map(\.key).joined(separator: " and "))")
                continue
            }
            let at = "\(key).\(kind)"
            guard let stack = stackValue(value("stack"), "\(key).stack") else { continue }
            var intervention: Intervention?
            switch kind {
            case "ablate":
                let mode = value("mode").flatMap { choice($0, "\(key).mode", AblationMode.allCases.map(\.rawValue)) }.flatMap(AblationMode.init(rawValue:)) ?? .zero
                intervention = headList(body, at).map { .ablate($0, mode: mode, stack: stack) }
            case "scale":
                guard let fields = mapping(body, at, allowed: ["heads", "factor"]) else { continue }
                let heads = required(fields, "heads", in: body, at).flatMap { headList($0, "\(at).heads") }
                let factor = required(fields, "factor", in: body, at).flatMap { number($0, "\(at).factor") }
                if let heads, let factor { intervention = .scale(heads, by: factor, stack: stack) }
            case "knockout":
                guard let fields = mapping(body, at, allowed: ["from", "to", "layers", "heads"]) else { continue }
                let field = { (name: String) in fields.first { $0.key == name }?.node }
                let from = required(fields, "from", in: body, at).flatMap { strings($0, "\(at).from") }
                let to = required(fields, "to", in: body, at).flatMap { strings($0, "\(at).to") }
                let layers = field("layers").flatMap { layerList($0, "\(at).layers") }
                let heads = field("heads").flatMap { headList($0, "\(at).heads") } ?? []
                if let from, let to { intervention = .knockout(from: from, to: to, layers: layers, heads: heads, stack: stack) }
            default:
                guard let fields = mapping(body, at, allowed: ["site", "from", "layers", "heads", "words"]) else { continue }
                let field = { (name: String) in fields.first { $0.key == name }?.node }
                let site = field("site").flatMap { choice($0, "\(at).site", SiteKind.allCases.map(\.rawValue)) }.flatMap(SiteKind.init(rawValue:)) ?? .head
                let source = required(fields, "from", in: body, at).flatMap { string($0, "\(at).from") }
                if let source, let sourceNode = field("from"), !variantNames.contains(source) {
                    problem(sourceNode, "\(at).from", "no variant is named \"\(source)\"; variants: \(variantNames.sorted().joined(separator: ", "))")
                }
                let layers = field("layers").flatMap { layerList($0, "\(at).layers") }
                let heads = field("heads").flatMap { headList($0, "\(at).heads") } ?? []
                let words = field("words").flatMap { strings($0, "\(at).words") }
                if let source { intervention = .patch(site, from: source, layers: layers, heads: heads, words: words, stack: stack) }
            }
            let applyTo = value("apply_to").flatMap { strings($0, "\(key).apply_to") }
            for name in applyTo ?? [] where !variantNames.contains(name) {
                problem(value("apply_to"), "\(key).apply_to", "no variant is named \"\(name)\"; variants: \(variantNames.sorted().joined(separator: ", "))")
            }
            guard let intervention else { continue }
            let id = value("id").flatMap { slug($0, "\(key).id") } ?? intervention.slug
            result.append(InterventionSpec(id: id, intervention: intervention, applyTo: applyTo, position: position(item, key)))
        }
        var seen: Set<String> = []
        for spec in result where !seen.insert(spec.id).inserted {
            problem(node, "interventions", "two interventions are named \"\(spec.id)\"; give one an id")
        }
        return result
    }

    // MARK: scans

    func scans(_ node: Node, variantNames: Set<String>, inlineIDs: Set<String>, checkInputs: Bool, models: [ModelSpec]) -> [ScanSpecification]? {
        func variantPath(_ node: Node, _ key: String) -> String? {
            self.variantPath(node, key, variantNames: variantNames, inlineIDs: inlineIDs, checkInputs: checkInputs)
        }
        guard let items = sequence(node, "scans") else { return nil }
        var result: [ScanSpecification] = []
        for (index, item) in items.enumerated() {
            let key = "scans[\(index)]"
            guard let entries = mapping(item, key, allowed: ["id", "target", "source", "site", "stack", "mode", "metric", "layers", "model"]) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            let target = required(entries, "target", in: item, key).flatMap { variantPath($0, "\(key).target") }
            let mode = value("mode").flatMap { choice($0, "\(key).mode", ScanResult.Mode.allCases.map(\.rawValue)) }
                .flatMap(ScanResult.Mode.init(rawValue:)) ?? .patch
            let source = value("source").flatMap { variantPath($0, "\(key).source") }
            if mode == .patch, value("source") == nil { problem(item, key, "a patching scan needs a source variant (source: input/variant), or mode: ablate") }
            if let target, let source, target.split(separator: "/").first != source.split(separator: "/").first {
                problem(value("source"), "\(key).source", "the source must be a variant of the same input as the target (\(target))")
            }
            let site = value("site").flatMap { choice($0, "\(key).site", ["head", "resid", "attn", "mlp"]) }.flatMap(SiteKind.init(rawValue:)) ?? .head
            guard let stack = stackValue(value("stack"), "\(key).stack") else { continue }
            var metric: OutputMetric?
            if let metricNode = value("metric"), let text = string(metricNode, "\(key).metric") {
                do { metric = try OutputMetric(parsing: text) } catch { problem(metricNode, "\(key).metric", (error as? ExperimentError)?.message ?? "\(error)") }
            }
            let layers = value("layers").flatMap { layerList($0, "\(key).layers") }
            let model = value("model").flatMap { string($0, "\(key).model") }
            if let model, !models.contains(where: { $0.name == model }) {
                problem(value("model"), "\(key).model", "no model is named \"\(model)\"; models: \(models.map(\.name).joined(separator: ", "))")
            }
            guard let target else { continue }
            let id = value("id").flatMap { slug($0, "\(key).id") } ?? "scan-\(index + 1)"
            result.append(ScanSpecification(id: id, target: target, source: source, site: site, stack: stack, mode: mode, metric: metric,
                                            layers: layers, model: model, position: position(item, key)))
        }
        var seen: Set<String> = []
        for scan in result where !seen.insert(scan.id).inserted {
            problem(node, "scans", "two scans are named \"\(scan.id)\"")
        }
        return result
    }

    /// `input/variant`, naming a variant the experiment makes. An input of an inputs file or a
    /// template is confirmed when the files are read (`scanPaths`).
    func variantPath(_ node: Node, _ key: String, variantNames: Set<String>, inlineIDs: Set<String>, checkInputs: Bool) -> String? {
        guard let text = string(node, key) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, variantNames.contains(parts[1]) else {
            problem(node, key, "no variant is named \"\(text)\"; write input/variant, the variant one of \(variantNames.sorted().prefix(12).joined(separator: ", "))")
            return nil
        }
        if !inlineIDs.contains(parts[0]) {
            if checkInputs {
                problem(node, key, "no input has the id \"\(parts[0])\"; inputs: \(inlineIDs.sorted().prefix(12).joined(separator: ", "))")
                return nil
            }
            scanPaths.append((text, node, key))
        }
        return text
    }

    // MARK: attribution

    func attributions(_ node: Node, models: [ModelSpec]) -> [AttributionSpec]? {
        let items: [Node]
        if case .sequence(let sequence) = node { items = Array(sequence) } else { items = [node] }
        var result: [AttributionSpec] = []
        for (index, item) in items.enumerated() {
            let key = "attribution[\(index)]"
            guard let entries = mapping(item, key, allowed: ["variants", "variant", "methods", "metric", "model"]) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            let variants = (value("variants") ?? value("variant")).flatMap { string($0, "\(key).variants") } ?? "*/*"
            if variants.split(separator: "/").count != 2 {
                problem(value("variants") ?? value("variant"), "\(key).variants", "name variants as input/variant (either may be *)")
            }
            var methods = AttributionMethod.allCases
            if let node = value("methods"), let names = strings(node, "\(key).methods") {
                methods = names.compactMap { name in
                    guard let method = AttributionMethod(rawValue: name) else {
                        problem(node, "\(key).methods", "unknown method \"\(name)\"; choose from occlusion, mask, rollout")
                        return nil
                    }
                    return method
                }
            }
            var metric: OutputMetric?
            if let metricNode = value("metric"), let text = string(metricNode, "\(key).metric") {
                do { metric = try OutputMetric(parsing: text) } catch { problem(metricNode, "\(key).metric", (error as? ExperimentError)?.message ?? "\(error)") }
            }
            let model = value("model").flatMap { string($0, "\(key).model") }
            if let model, !models.contains(where: { $0.name == model }) {
                problem(value("model"), "\(key).model", "no model is named \"\(model)\"; models: \(models.map(\.name).joined(separator: ", "))")
            }
            result.append(AttributionSpec(variants: variants, methods: methods, metric: metric, model: model, position: position(item, key)))
        }
        return result
    }

    // MARK: expectations on scans and attributions

    /// `{scan: heads, top: 3, includes: [5.4]}` or `{scan: heads, cell: 5.4, above: 0.2, value: raw}`.
    func scanCheck(_ entries: [(key: String, node: Node, keyNode: Node)], _ item: Node, _ key: String, scans: [String]) -> ExpectationSpec.Check? {
        let value = { (name: String) in entries.first { $0.key == name }?.node }
        guard let scanNode = value("scan"), let scan = string(scanNode, "\(key).scan") else { return nil }
        if !scans.contains(scan) {
            problem(scanNode, "\(key).scan", scans.isEmpty ? "the experiment has no scans" : "no scan is named \"\(scan)\"; scans: \(scans.joined(separator: ", "))")
        }
        if let top = value("top") {
            guard let count = integer(top, "\(key).top", minimum: 1) else { return nil }
            guard let includesNode = value("includes"), let cells = strings(includesNode, "\(key).includes") else {
                problem(item, key, "say which cells the top \(count) include: includes: [5.4]")
                return nil
            }
            return .scanTop(scan: scan, count: count, includes: cells)
        }
        guard let cellNode = value("cell"), let cell = string(cellNode, "\(key).cell") else {
            problem(item, key, "check a scan's top cells (top: 3, includes: [5.4]) or one cell (cell: 5.4, above: 0.2)")
            return nil
        }
        let above = value("above").flatMap { number($0, "\(key).above") }
        let below = value("below").flatMap { number($0, "\(key).below") }
        if above == nil, below == nil { problem(item, key, "give above, below or both for the cell's effect") }
        let raw = value("value").flatMap { choice($0, "\(key).value", ["normalized", "raw"]) } == "raw"
        return .scanCell(scan: scan, cell: cell, above: above, below: below, raw: raw)
    }

    /// `{attribution: eminem/terrific, method: occlusion, word: terrific, rank: {max: 2}}`.
    func attributionCheck(_ entries: [(key: String, node: Node, keyNode: Node)], _ item: Node, _ key: String) -> ExpectationSpec.Check? {
        let value = { (name: String) in entries.first { $0.key == name }?.node }
        let method = value("method").flatMap { choice($0, "\(key).method", AttributionMethod.allCases.map(\.rawValue)) }
            .flatMap(AttributionMethod.init(rawValue:)) ?? .occlusion
        guard let wordNode = value("word"), let word = string(wordNode, "\(key).word") else {
            problem(item, key, "name the word whose rank is checked (word: terrific)")
            return nil
        }
        guard let rankNode = value("rank") else {
            problem(item, key, "give the rank the word must reach: rank: {max: 2} (1 is the most important)")
            return nil
        }
        let maxRank: Int?
        if let fields = mapping(rankNode, "\(key).rank", allowed: ["max"]) {
            maxRank = fields.first.flatMap { integer($0.node, "\(key).rank.max", minimum: 1) }
        } else {
            maxRank = nil
        }
        guard let maxRank else { return nil }
        return .attributionRank(method: method, word: word, maxRank: maxRank)
    }
}
