import AttnCore
import AttnModels
import Foundation
import Yams

/// Reads an experiment file (YAML) into an `Experiment`, checking every key and value and listing
/// every problem with its line and column, not only the first.
public enum ExperimentParser {
    public static let topLevelKeys = ["name", "description", "models", "inputs", "perturbations", "interventions", "scans", "attribution",
                                      "expect", "capture", "views", "figures"]
    public static let viewNames = ["head", "model", "neuron", "compare"]
    public static let figureNames = ["heatmap", "compare", "overview", "regions"]

    /// Reads and validates the file at `url`.
    public static func load(_ url: URL) throws -> Experiment {
        let data: Data
        do {
            data = try RegularFile.read(url, limit: 64 << 20, what: "experiment file")
        } catch let error as CoreError {
            throw ExperimentError(error.message, location: url.path, hint: error.hint ?? "check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ExperimentError(file: url.path, problems: [.init(line: 1, column: 1, key: "", message: "the file is not UTF-8 text")])
        }
        return try parse(text, file: url.relativePath, folder: url.deletingLastPathComponent(), hash: SHA256.hash(data))
    }

    /// Parses experiment YAML; `folder` resolves input files given by relative path.
    public static func parse(_ text: String, file: String, folder: URL? = nil, hash: String? = nil) throws -> Experiment {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ExperimentError(file: file, problems: [.init(line: 1, column: 1, key: "", message: "the file is empty; an experiment needs at least name, models and inputs")])
            }
            root = node
        } catch let error as YamlError {
            throw ExperimentError(file: file, problems: [yamlProblem(error)])
        }
        let reader = SpecReader(folder: folder ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let experiment = reader.experiment(root, file: file, hash: hash ?? SHA256.hash(Data(text.utf8)))
        guard reader.problems.isEmpty, let experiment else {
            throw ExperimentError(file: file, problems: reader.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return experiment
    }

    static func yamlProblem(_ error: YamlError) -> ExperimentError.Problem {
        switch error {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return .init(line: mark.line, column: mark.column, key: "", message: "not valid YAML: \(problem)")
        case let .reader(problem, offset, _, yaml):
            // The reader gives a byte offset; its own message would carry a second, multi-line position.
            let before = yaml.utf8.prefix(max(0, offset ?? 0))
            let line = before.filter { $0 == 0x0A }.count + 1
            let column = before.count - (before.lastIndex(of: 0x0A).map { before.distance(from: before.startIndex, to: $0) + 1 } ?? 0) + 1
            return .init(line: line, column: column, key: "", message: "not valid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            // Yams puts the whole file in its message; the first duplicated key is enough.
            let keys = duplicates.map(JSONText.quote).joined(separator: ", ")
            return .init(line: context.mark.line, column: context.mark.column, key: "",
                         message: "the key \(keys) appears more than once in the same mapping; keep one")
        default:
            return .init(line: 1, column: 1, key: "", message: "not valid YAML: \(MessageText.describe(error))")
        }
    }
}

/// Walks the YAML tree, collecting problems instead of stopping at the first.
final class SpecReader {
    var problems: [ExperimentError.Problem] = []
    let folder: URL

    init(folder: URL) { self.folder = folder }

    // MARK: primitives

    func problem(_ node: Node?, _ key: String, _ message: String) {
        problems.append(.init(line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, key: key, message: message))
    }

    /// The entries of a mapping, checking that every key is one of `allowed`.
    func mapping(_ node: Node, _ key: String, allowed: [String]? = nil) -> [(key: String, node: Node, keyNode: Node)]? {
        guard case .mapping(let mapping) = node else {
            problem(node, key, "expected a mapping of keys to values" + (allowed.map { " (\($0.joined(separator: ", ")))" } ?? ""))
            return nil
        }
        var entries: [(key: String, node: Node, keyNode: Node)] = []
        for (keyNode, value) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            if let allowed, !allowed.contains(name) {
                problem(keyNode, key.isEmpty ? name : "\(key).\(name)", "unknown key \"\(name)\"; allowed: \(allowed.joined(separator: ", "))")
                continue
            }
            entries.append((name, value, keyNode))
        }
        return entries
    }

    func sequence(_ node: Node, _ key: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            problem(node, key, "expected a list")
            return nil
        }
        return Array(sequence)
    }

    func string(_ node: Node, _ key: String) -> String? {
        guard case .scalar(let scalar) = node else {
            problem(node, key, "expected text")
            return nil
        }
        return scalar.string
    }

    func number(_ node: Node, _ key: String) -> Double? {
        guard case .scalar(let scalar) = node, let value = Double(scalar.string), value.isFinite else {
            problem(node, key, "expected a number")
            return nil
        }
        return value
    }

    func integer(_ node: Node, _ key: String, minimum: Int = 0) -> Int? {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string), value >= minimum else {
            problem(node, key, "expected a whole number of at least \(minimum)")
            return nil
        }
        return value
    }

    func strings(_ node: Node, _ key: String) -> [String]? {
        if case .scalar(let scalar) = node { return [scalar.string] }
        guard let items = sequence(node, key) else { return nil }
        let values = items.enumerated().compactMap { string($1, "\(key)[\($0)]") }
        return values.count == items.count ? values : nil
    }

    func choice(_ node: Node, _ key: String, _ allowed: [String]) -> String? {
        guard let value = string(node, key) else { return nil }
        guard allowed.contains(value) else {
            problem(node, key, "\"\(value)\" is not allowed; choose one of \(allowed.joined(separator: ", "))")
            return nil
        }
        return value
    }

    func required(_ entries: [(key: String, node: Node, keyNode: Node)], _ name: String, in node: Node, _ key: String) -> Node? {
        if let entry = entries.first(where: { $0.key == name }) { return entry.node }
        problem(node, key, "missing \"\(name)\"")
        return nil
    }

    /// A name that becomes a file or folder name, checked by `PathComponent`.
    func slug(_ node: Node, _ key: String) -> String? {
        guard let text = string(node, key) else { return nil }
        guard !text.contains("+") else {
            // `+` joins a variant and an intervention in the names the runs make (`sick+ablate`).
            problem(node, key, "\(JSONText.quote(text)) holds '+', which names intervened variants; use letters, digits, '-', '_' and '.'")
            return nil
        }
        return pathName(text, node, key)
    }

    /// `text` when it can name a file or folder; else a problem at `node`.
    func pathName(_ text: String, _ node: Node?, _ key: String, fix: String = "use letters, digits, '-', '_' and '.', not starting with '.'") -> String? {
        if let reason = PathComponent.problem(with: text) {
            problem(node, key, "\(JSONText.quote(text)) cannot name a file or folder: \(reason); \(fix)")
            return nil
        }
        return text
    }

    // MARK: the experiment

    func experiment(_ root: Node, file: String, hash: String) -> Experiment? {
        guard let entries = mapping(root, "", allowed: ExperimentParser.topLevelKeys) else { return nil }
        let value = { (name: String) in entries.first { $0.key == name }?.node }
        let name = required(entries, "name", in: root, "").flatMap { slug($0, "name") }
        let description = value("description").flatMap { string($0, "description") }
        let models = required(entries, "models", in: root, "").flatMap { self.models($0) } ?? []
        let inputs = required(entries, "inputs", in: root, "").flatMap { self.inputs($0) } ?? []
        let perturbations = value("perturbations").flatMap { self.perturbations($0) } ?? []
        let variantNames = Set(inputs.map(\.baseName) + perturbations.map(\.id))
        let variantPaths = Set(inputs.flatMap { input in variantNames.map { "\(input.id)/\($0)" } })
        let interventions = value("interventions").flatMap { self.interventions($0, variantNames: variantNames) } ?? []
        let scans = value("scans").flatMap { self.scans($0, variantPaths: variantPaths, models: models) } ?? []
        let attributions = value("attribution").flatMap { self.attributions($0, models: models) } ?? []
        let expectations = value("expect").flatMap { self.expectations($0, models: models, scans: scans) } ?? []
        var capture: CaptureOptions = []
        if let node = value("capture"), let items = strings(node, "capture") {
            for item in items {
                switch item {
                case "attention": break
                case "qkv": capture.insert(.qkv)
                case "hidden": capture.insert(.hidden)
                default: problem(node, "capture", "unknown capture \"\(item)\"; allowed: attention, qkv, hidden")
                }
            }
        }
        let views = value("views").flatMap { node in strings(node, "views").map { list in
            list.filter { view in
                if ExperimentParser.viewNames.contains(view) { return true }
                problem(node, "views", "unknown view \"\(view)\"; allowed: \(ExperimentParser.viewNames.joined(separator: ", "))")
                return false
            }
        } } ?? []
        let figures = value("figures").flatMap { node in strings(node, "figures").map { list in
            list.filter { figure in
                if ExperimentParser.figureNames.contains(figure) { return true }
                problem(node, "figures", "unknown figure \"\(figure)\"; allowed: \(ExperimentParser.figureNames.joined(separator: ", "))")
                return false
            }
        } } ?? []
        checkVariantNames(inputs: inputs, perturbations: perturbations, node: root)
        if views.contains("neuron"), !capture.contains(.qkv) {
            problem(value("views") ?? root, "views", "the neuron view needs the queries, keys and values; add qkv to capture: [attention, qkv]")
        }
        if let model = models.first(where: { $0.task == .similarity }), let inputsNode = value("inputs") {
            for input in inputs where input.b == nil {
                problem(inputsNode, "inputs", "input \(input.id) has no b, but model \(model.name) computes the similarity of a pair; add b: or choose another task")
            }
        }
        guard let name else { return nil }
        let experiment = Experiment(name: name, description: description, models: models, inputs: inputs, perturbations: perturbations,
                                    expectations: expectations, capture: capture, views: views, figures: figures,
                                    interventions: interventions, scans: scans, attributions: attributions, file: file, hash: hash)
        checkReferences(experiment, expect: value("expect"), attribution: value("attribution"))
        return experiment
    }

    func models(_ node: Node) -> [ModelSpec]? {
        guard let items = sequence(node, "models") else { return nil }
        if items.isEmpty { problem(node, "models", "list at least one model") }
        let tasks = ModelTask.allCases.map(\.rawValue)
        var names: Set<String> = []
        return items.enumerated().compactMap { index, item in
            let key = "models[\(index)]"
            guard let entries = mapping(item, key, allowed: ["id", "name", "task", "threshold", "labels", "top_k"]) else { return nil }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            guard let idNode = required(entries, "id", in: item, key), let id = string(idNode, "\(key).id") else { return nil }
            let name: String
            if let nameNode = value("name") {
                guard let given = slug(nameNode, "\(key).name") else { return nil }
                name = given
            } else {
                // The id's last part (`all-MiniLM-L6-v2`) names the model's folders; `x/..` cannot.
                let last = String(id.split(separator: "/", omittingEmptySubsequences: true).last ?? Substring(id))
                guard let derived = pathName(last, idNode, "\(key).id", fix: "give the model a name: with letters, digits, '-', '_' and '.'") else { return nil }
                name = derived
            }
            if !names.insert(name).inserted { problem(item, key, "two models are named \"\(name)\"; give one a different `name`") }
            let task = value("task").flatMap { choice($0, "\(key).task", tasks) }.flatMap(ModelTask.init(rawValue:))
            let threshold = value("threshold").flatMap { number($0, "\(key).threshold") }
            if let node = value("threshold") { checkRange(node, "\(key).threshold", -1 ... 1, "a cosine similarity is between -1 and 1") }
            let labels = value("labels").flatMap { strings($0, "\(key).labels") }
            if let labels, threshold != nil, labels.count != 2, let node = value("labels") {
                problem(node, "\(key).labels", "a similarity threshold needs two labels: below, then at or above it")
            }
            let topK = value("top_k").flatMap { integer($0, "\(key).top_k", minimum: 1) } ?? 5
            return ModelSpec(id: id, name: name, task: task, threshold: threshold, labels: labels, topK: topK)
        }
    }

    func inputs(_ node: Node) -> [InputSpec]? {
        guard let items = sequence(node, "inputs") else { return nil }
        if items.isEmpty { problem(node, "inputs", "list at least one input") }
        var result: [InputSpec] = []
        for (index, item) in items.enumerated() {
            let key = "inputs[\(index)]"
            guard let entries = mapping(item, key, allowed: ["id", "a", "b", "decoder", "base", "file", "text"]) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            if let fileNode = value("file") {
                guard let path = string(fileNode, "\(key).file") else { continue }
                result += inputFile(path, node: fileNode, key: "\(key).file").map { input in
                    var input = input
                    input.position = position(fileNode, "\(key).file")
                    if input.decoder != nil { input.decoderPosition = input.position }
                    return input
                }
                continue
            }
            guard let idNode = required(entries, "id", in: item, key), let id = slug(idNode, "\(key).id") else { continue }
            guard let textNode = value("a") ?? value("text") else {
                problem(item, key, "missing \"a\" (the text, or sentence A of a pair)")
                continue
            }
            guard let a = string(textNode, "\(key).a") else { continue }
            let base = value("base").flatMap { slug($0, "\(key).base") } ?? "base"
            result.append(InputSpec(id: id, a: a, b: value("b").flatMap { string($0, "\(key).b") },
                                    decoder: value("decoder").flatMap { string($0, "\(key).decoder") }, baseName: base,
                                    position: position(item, key), decoderPosition: value("decoder").map { position($0, "\(key).decoder") }))
        }
        var seen: Set<String> = []
        for input in result where !seen.insert(input.id).inserted {
            problem(node, "inputs", "two inputs have the id \"\(input.id)\"")
        }
        return result
    }

    /// Inputs from a CSV (header `id,a,b,decoder`; only `a` is required) or JSONL file.
    func inputFile(_ path: String, node: Node, key: String) -> [InputSpec] {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
        let text: String
        do {
            text = try RegularFile.text(url, limit: 256 << 20, what: "inputs file")
        } catch {
            problem(node, key, "cannot read \(url.path): \((error as? CoreError)?.message ?? "\(error)")")
            return []
        }
        var rows: [[String: String]] = []
        if url.pathExtension.lowercased() == "jsonl" {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    problem(node, key, "\(url.lastPathComponent) line \(number + 1) is not a JSON object")
                    continue
                }
                rows.append(object.compactMapValues { $0 as? String })
            }
        } else if url.pathExtension.lowercased() == "csv" {
            let records = CSV.parse(text)
            guard let header = records.first else { return [] }
            for record in records.dropFirst() where !(record.count == 1 && record[0].isEmpty) {
                rows.append(Dictionary(zip(header, record), uniquingKeysWith: { first, _ in first }))
            }
        } else {
            problem(node, key, "\(url.lastPathComponent): inputs come from .csv or .jsonl files")
            return []
        }
        return rows.enumerated().compactMap { index, row in
            guard let a = row["a"] ?? row["text"], !a.isEmpty else {
                problem(node, key, "\(url.lastPathComponent) row \(index + 1) has no \"a\" (or \"text\")")
                return nil
            }
            let id = row["id"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(url.deletingPathExtension().lastPathComponent)-\(index + 1)"
            guard pathName(id, node, "\(key): \(url.lastPathComponent) row \(index + 1)") != nil else { return nil }
            return InputSpec(id: id, a: a, b: row["b"].flatMap { $0.isEmpty ? nil : $0 },
                             decoder: row["decoder"].flatMap { $0.isEmpty ? nil : $0 }, baseName: "base")
        }
    }

    func perturbations(_ node: Node) -> [PerturbationSpec]? {
        guard let items = sequence(node, "perturbations") else { return nil }
        var result: [PerturbationSpec] = []
        for (index, item) in items.enumerated() {
            let key = "perturbations[\(index)]"
            let kinds = ["replace", "delete", "insert", "mask", "swap"]
            guard let entries = mapping(item, key, allowed: ["id", "in"] + kinds) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            guard let idNode = required(entries, "id", in: item, key), let id = slug(idNode, "\(key).id") else { continue }
            let target = value("in").flatMap { choice($0, "\(key).in", SegmentTarget.allCases.map(\.rawValue)) }
                .flatMap(SegmentTarget.init(rawValue:)) ?? .both
            let present = entries.filter { kinds.contains($0.key) }
            guard present.count == 1, let (kind, body, _) = present.first else {
                problem(item, key, present.isEmpty ? "say what to do: one of \(kinds.joined(separator: ", "))" : "one kind per perturbation; this one has \(present.map(\.key).joined(separator: " and "))")
                continue
            }
            let at = "\(key).\(kind)"
            switch kind {
            case "replace":
                guard let pairs = mapping(body, at) else { continue }
                let expanded = pairs.compactMap { entry -> [(String, String)]? in
                    strings(entry.node, "\(at).\(entry.key)").map { $0.map { (entry.key, $0) } }
                }.flatMap { $0 }
                if expanded.isEmpty { problem(body, at, "give at least one replacement, as {word: replacement}") }
                let isList = pairs.contains { if case .sequence = $0.node { return true } else { return false } }
                for (from, to) in expanded {
                    let name = isList ? "\(id)-\(Self.slugify(to))" : id
                    guard pathName(name, body, at, fix: "shorten the replacement or the id") != nil else { continue }
                    result.append(PerturbationSpec(id: name, kind: .replace(from: from, to: to), target: target, position: position(item, key)))
                }
            case "delete", "mask":
                guard let words = strings(body, at) else { continue }
                for word in words {
                    let name = words.count > 1 ? "\(id)-\(Self.slugify(word))" : id
                    guard pathName(name, body, at, fix: "shorten the word or the id") != nil else { continue }
                    result.append(PerturbationSpec(id: name, kind: kind == "delete" ? .delete(word) : .mask(word), target: target,
                                                   position: position(item, key)))
                }
            case "insert":
                guard let fields = mapping(body, at, allowed: ["text", "after", "before"]) else { continue }
                let text = fields.first { $0.key == "text" }.flatMap { string($0.node, "\(at).text") }
                let after = fields.first { $0.key == "after" }.flatMap { string($0.node, "\(at).after") }
                let before = fields.first { $0.key == "before" }.flatMap { string($0.node, "\(at).before") }
                guard let text, (after == nil) != (before == nil) else {
                    problem(body, at, "give the text and exactly one of after or before: {text: really, after: song}")
                    continue
                }
                result.append(PerturbationSpec(id: id, kind: .insert(text: text, anchor: after ?? before!, after: after != nil), target: target,
                                               position: position(item, key)))
            default:
                guard case .scalar(let scalar) = body, scalar.string == "true" else {
                    problem(body, at, "write `swap: true` to exchange sentences A and B")
                    continue
                }
                result.append(PerturbationSpec(id: id, kind: .swap, target: .both, position: position(item, key)))
            }
        }
        return result
    }

    static func slugify(_ text: String) -> String {
        let kept = text.lowercased().unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? Character($0) : "-" }
        return String(kept).split(separator: "-").joined(separator: "-")
    }

    func checkVariantNames(inputs: [InputSpec], perturbations: [PerturbationSpec], node: Node) {
        var seen: Set<String> = []
        for perturbation in perturbations where !seen.insert(perturbation.id).inserted {
            problem(node, "perturbations", "two perturbations make variants named \"\(perturbation.id)\"")
        }
        for input in inputs where seen.contains(input.baseName) {
            problem(node, "inputs", "input \(input.id)'s base variant \"\(input.baseName)\" has the name of a perturbation")
        }
    }

    // MARK: expectations

    func expectations(_ node: Node, models: [ModelSpec], scans: [ScanSpecification] = []) -> [ExpectationSpec]? {
        guard let items = sequence(node, "expect") else { return nil }
        let checks = ["above", "below", "equals", "label", "invariant", "direction", "attention", "mass", "scan", "attribution"]
        return items.enumerated().compactMap { index, item in
            let key = "expect[\(index)]"
            guard let entries = mapping(item, key, allowed: ["variant", "model", "output", "tolerance", "by", "top", "includes", "cell",
                                                             "value", "method", "word", "rank"] + checks) else { return nil }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            // A scan's expectation is about the scan; an attribution's names its variant.
            if let scanNode = value("scan") {
                let scan = scanNode.scalar?.string ?? ""
                guard let check = scanCheck(entries, item, key, scans: scans.map(\.id)) else { return nil }
                let target = scans.first { $0.id == scan }?.target ?? "*/*"
                return ExpectationSpec(variant: target, model: value("model").flatMap { string($0, "\(key).model") }, check: check,
                                       line: item.mark?.line ?? 0)
            }
            if let attributionNode = value("attribution") {
                guard let variant = string(attributionNode, "\(key).attribution"), variant.split(separator: "/").count == 2 else {
                    problem(attributionNode, "\(key).attribution", "name the variant as input/variant, for example eminem/terrific")
                    return nil
                }
                guard let check = attributionCheck(entries, item, key) else { return nil }
                return ExpectationSpec(variant: variant, model: value("model").flatMap { string($0, "\(key).model") }, check: check,
                                       line: item.mark?.line ?? 0)
            }
            let variant = value("variant").flatMap { string($0, "\(key).variant") } ?? "*/*"
            if variant.split(separator: "/").count != 2 {
                problem(value("variant"), "\(key).variant", "name a variant as input/variant (either may be *), for example eminem/terrific")
            }
            let model = value("model").flatMap { string($0, "\(key).model") }
            if let model, !models.contains(where: { $0.name == model }) {
                problem(value("model"), "\(key).model", "no model is named \"\(model)\"; models: \(models.map(\.name).joined(separator: ", "))")
            }
            let present = entries.filter { checks.contains($0.key) }
            guard present.count == 1, let (kind, body, _) = present.first else {
                problem(item, key, present.isEmpty ? "say what to check: one of \(checks.joined(separator: ", "))" : "one check per expectation; this one has \(present.map(\.key).joined(separator: " and "))")
                return nil
            }
            let output = value("output").flatMap { outputName($0, "\(key).output") }
            let tolerance = value("tolerance").flatMap { number($0, "\(key).tolerance") }
            let at = "\(key).\(kind)"
            var check: ExpectationSpec.Check?
            func needOutput() -> OutputName? {
                if output == nil, value("output") == nil { problem(item, key, "name the output to check with `output:` (similarity, or a label)") }
                return output
            }
            switch kind {
            case "above": if let o = needOutput(), let v = number(body, at) { check = .above(o, v) }
            case "below": if let o = needOutput(), let v = number(body, at) { check = .below(o, v) }
            case "equals": if let o = needOutput(), let v = number(body, at) { check = .equals(o, v, tolerance: tolerance ?? 1e-6) }
            case "label": if let v = string(body, at) { check = .label(v) }
            case "invariant":
                if let o = outputName(body, at) {
                    if tolerance == nil { problem(item, key, "say how far the output may move with `tolerance:`") }
                    check = .invariant(o, tolerance: tolerance ?? 0)
                }
            case "direction":
                if let o = needOutput(), let way = choice(body, at, ["up", "down"]) {
                    check = .direction(o, up: way == "up", by: value("by").flatMap { number($0, "\(key).by") } ?? 0)
                }
            case "attention": check = attentionCheck(body, at).map { .attention($0) }
            default: check = massCheck(body, at).map { .mass($0) }
            }
            guard let check else { return nil }
            return ExpectationSpec(variant: variant, model: model, check: check, line: item.mark?.line ?? 0, position: position(body, at))
        }
    }

    func outputName(_ node: Node, _ key: String) -> OutputName? {
        guard let text = string(node, key) else { return nil }
        return text == "similarity" ? .similarity : .probability(text)
    }

    func heads(_ fields: [(key: String, node: Node, keyNode: Node)], _ key: String) -> HeadScope {
        let value = { (name: String) in fields.first { $0.key == name }?.node }
        var selection = HeadScope(layer: value("layer").flatMap { integer($0, "\(key).layer") },
                                      head: value("head").flatMap { integer($0, "\(key).head") })
        if let node = value("layers"), let text = string(node, "\(key).layers") {
            let parts = text.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            if parts.count == 2, parts[0] <= parts[1], parts[0] >= 0 {
                selection.layers = parts[0] ... parts[1]
            } else if parts.count == 1, text.split(separator: "-").count == 1 {
                selection.layers = parts[0] ... parts[0]
            } else {
                problem(node, "\(key).layers", "write a layer range as FIRST-LAST, for example 3-5")
            }
            if selection.layer != nil { problem(node, "\(key).layers", "give layer or layers, not both") }
        }
        return selection
    }

    func bounds(_ fields: [(key: String, node: Node, keyNode: Node)], _ node: Node, _ key: String) -> (Double?, Double?) {
        let minimum = fields.first { $0.key == "min" }.flatMap { number($0.node, "\(key).min") }
        let maximum = fields.first { $0.key == "max" }.flatMap { number($0.node, "\(key).max") }
        if minimum == nil && maximum == nil { problem(node, key, "give min, max or both") }
        return (minimum, maximum)
    }

    func attentionCheck(_ node: Node, _ key: String) -> AttentionCheck? {
        guard let fields = mapping(node, key, allowed: ["from", "to", "min", "max", "layer", "head", "layers"]) else { return nil }
        let from = required(fields, "from", in: node, key).flatMap { string($0, "\(key).from") }
        let to = required(fields, "to", in: node, key).flatMap { string($0, "\(key).to") }
        let (minimum, maximum) = bounds(fields, node, key)
        let selection = heads(fields, key)
        guard let from, let to else { return nil }
        return AttentionCheck(from: from, to: to, min: minimum, max: maximum, heads: selection)
    }

    func massCheck(_ node: Node, _ key: String) -> MassCheck? {
        guard let fields = mapping(node, key, allowed: ["from", "to", "min", "max", "layer", "head", "layers"]) else { return nil }
        let from = required(fields, "from", in: node, key).flatMap { choice($0, "\(key).from", ["a", "b"]) }
        let to = required(fields, "to", in: node, key).flatMap { choice($0, "\(key).to", ["a", "b"]) }
        let (minimum, maximum) = bounds(fields, node, key)
        let selection = heads(fields, key)
        guard let from, let to else { return nil }
        return MassCheck(from: from == "a" ? 0 : 1, to: to == "a" ? 0 : 1, min: minimum, max: maximum, heads: selection)
    }
}

/// A small CSV reader (RFC 4180: quoted fields, doubled quotes, commas and newlines inside quotes).
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var records: [[String]] = [], record: [String] = [], field = ""
        var quoted = false, afterQuote = false
        for character in text {
            if quoted {
                if character == "\"" { quoted = false; afterQuote = true } else { field.append(character) }
                continue
            }
            switch character {
            case "\"":
                if afterQuote { field.append("\"") }
                quoted = true
            case ",": record.append(field); field = ""
            case "\n", "\r\n":
                record.append(field); records.append(record); record = []; field = ""
            case "\r": break
            default: field.append(character)
            }
            afterQuote = false
        }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        return records
    }
}
