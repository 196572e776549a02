import AttnCore
import AttnModels
import Foundation
import Yams

/// Reads an experiment file (YAML) into an `Experiment`, checking every key and value and listing
/// every problem with its line and column, not only the first.
public enum ExperimentParser {
    public static let topLevelKeys = ["name", "description", "models", "lexicons", "inputs", "sample", "perturbations", "interventions", "scans",
                                      "attribution", "expect", "capture", "views", "figures", "snapshot"]

    /// How to read an experiment's inputs.
    public struct Options: Sendable {
        /// Leave out the rows of an inputs file that cannot be inputs, instead of refusing the file.
        public var skipBadRows: Bool
        public init(skipBadRows: Bool = false) { self.skipBadRows = skipBadRows }
    }
    public static let viewNames = ["head", "model", "neuron", "compare"]
    public static let figureNames = ["heatmap", "compare", "overview", "regions"]

    /// Reads and validates the file at `url`.
    public static func load(_ url: URL, options: Options = Options()) throws -> Experiment {
        let data: Data
        do {
            data = try RegularFile.read(url, limit: 64 << 20, what: "experiment file")
        } catch let error as CoreError {
            throw ExperimentError(error.message, location: url.path, hint: error.hint ?? "check the path")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ExperimentError(file: url.path, problems: [.init(line: 1, column: 1, key: "", message: "the file is not UTF-8 text")])
        }
        return try parse(text, file: url.relativePath, folder: url.deletingLastPathComponent(), hash: SHA256.hash(data), options: options)
    }

    /// Parses experiment YAML; `folder` resolves input files given by relative path.
    public static func parse(_ text: String, file: String, folder: URL? = nil, hash: String? = nil, options: Options = Options()) throws -> Experiment {
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
        guard reader.problems.isEmpty, var experiment else {
            throw ExperimentError(file: file, problems: reader.problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        try InputValidation.validate(&experiment, reader: reader, options: options)
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

/// What only reading the inputs files can tell: bad rows, ids used twice, scan targets among the
/// rows, and the files' hashes, which join the experiment's.
enum InputValidation {
    static func validate(_ experiment: inout Experiment, reader: SpecReader, options: ExperimentParser.Options) throws {
        let wanted = Set(reader.scanPaths.map { String($0.path.split(separator: "/")[0]) })
        let found: Set<String>
        do {
            found = try experiment.inputs.validate(skipBadRows: options.skipBadRows, wanted: wanted)
        } catch let error as ExperimentError {
            // Name the `file:` entry of the experiment too, so the message says where the file comes from.
            if let location = error.location, let entry = reader.fileNodes.first(where: { reader.resolve($0.path).path == location }) {
                throw ExperimentError(file: experiment.file, problems: [.init(line: entry.node.mark?.line ?? 1, column: entry.node.mark?.column ?? 1,
                                                                              key: entry.key, message: error.description)])
            }
            throw ExperimentError(file: experiment.file, problems: [.init(line: 1, column: 1, key: "inputs", message: error.description)])
        }
        let missing = reader.scanPaths.filter { !found.contains(String($0.path.split(separator: "/")[0])) }
        if !missing.isEmpty {
            throw ExperimentError(file: experiment.file, problems: missing.map {
                .init(line: $0.node.mark?.line ?? 1, column: $0.node.mark?.column ?? 1, key: $0.key,
                      message: "no input has the id \"\($0.path.split(separator: "/")[0])\"")
            })
        }
        if experiment.inputs.count == 0 {
            throw ExperimentError(file: experiment.file, problems: [.init(line: 1, column: 1, key: "inputs", message: "no input to run: the files have no rows")])
        }
        // The experiment is its file and the files it reads.
        guard !experiment.inputs.files.isEmpty || !reader.lexiconFiles.isEmpty else { return }
        var parts = [experiment.hash]
        for file in experiment.inputs.files { parts.append("\(file.path) \(file.hash)") }
        for url in reader.lexiconFiles {
            parts.append("\(url.lastPathComponent) \((try? SHA256.hash(fileAt: url.path)) ?? "")")
        }
        experiment.hash = SHA256.hash(Data(parts.joined(separator: "\n").utf8))
    }
}

/// Walks the YAML tree, collecting problems instead of stopping at the first.
final class SpecReader {
    var problems: [ExperimentError.Problem] = []
    let folder: URL
    /// Lexicon files read, for the experiment's hash.
    var lexiconFiles: [URL] = []
    var lexicons: [String: Lexicon] = [:]
    /// Lexicons defined with a problem (already reported), which references to them do not repeat.
    var brokenLexicons: Set<String> = []
    /// The `inputs:` entries that are files, with their positions, for problems found when they are read.
    var fileNodes: [(path: String, node: Node, key: String)] = []
    /// Scan targets and sources (`input/variant`) whose inputs only the inputs files can confirm.
    var scanPaths: [(path: String, node: Node, key: String)] = []

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
        lexicons = value("lexicons").map { self.lexicons($0) } ?? [:]
        let sources = required(entries, "inputs", in: root, "").flatMap { self.inputs($0) } ?? []
        var inputs = InputSet()
        inputs.sources = sources
        inputs.sample = value("sample").flatMap { self.sample($0) }
        inputs.needsPair = models.contains { $0.task == .similarity }
        let inline = sources.compactMap { if case .inline(let input) = $0 { input } else { nil } }
        let perturbations = value("perturbations").flatMap { self.perturbations($0) } ?? []
        let variantNames = Set(inline.map(\.baseName) + sources.compactMap { source -> String? in
            switch source {
            case .file: "base"
            case .template(let template): template.baseName
            case .inline: nil
            }
        } + perturbations.map(\.id))
        let interventions = value("interventions").flatMap { self.interventions($0, variantNames: variantNames) } ?? []
        let scans = value("scans").flatMap { self.scans($0, variantNames: variantNames, inlineIDs: Set(inline.map(\.id)),
                                                         checkInputs: inline.count == sources.count, models: models) } ?? []
        let attributions = value("attribution").flatMap { self.attributions($0, models: models) } ?? []
        let expectations = value("expect").flatMap { self.expectations($0, models: models, scans: scans) } ?? []
        let (capture, storage) = value("capture").map { self.capture($0) } ?? ([], TraceStorage())
        let snapshotKind = value("snapshot").flatMap { choice($0, "snapshot", SnapshotKind.allCases.map(\.rawValue)) }
            .flatMap(SnapshotKind.init(rawValue:)) ?? (inline.count == sources.count && inputs.sample == nil ? .variants : .suite)
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
        checkVariantNames(inputs: inline, perturbations: perturbations, node: root)
        if views.contains("neuron"), !capture.contains(.qkv) {
            problem(value("views") ?? root, "views", "the neuron view needs the queries, keys and values; add qkv to capture: [attention, qkv]")
        }
        if let model = models.first(where: { $0.task == .similarity }), let inputsNode = value("inputs") {
            for input in inline where input.b == nil {
                problem(inputsNode, "inputs", "input \(input.id) has no b, but model \(model.name) computes the similarity of a pair; add b: or choose another task")
            }
            for case .template(let template) in sources where template.b == nil {
                problem(inputsNode, "inputs", "template \(template.id) has no b, but model \(model.name) computes the similarity of a pair; add b: or choose another task")
            }
        }
        guard let name else { return nil }
        var experiment = Experiment(name: name, description: description, models: models, inputs: inputs, perturbations: perturbations,
                          expectations: expectations, capture: capture, views: views, figures: figures,
                          interventions: interventions, scans: scans, attributions: attributions, file: file, hash: hash,
                          lexicons: lexicons)
        experiment.storage = storage
        experiment.snapshotKind = snapshotKind
        // Names of inputs and variants are checked here when every input is in the file; those of
        // inputs files and templates are known only as the run reads them.
        if inputs.isInline {
            var counted = experiment  // inline inputs are counted without reading a file
            _ = try? counted.inputs.validate(skipBadRows: false)
            checkReferences(counted, expect: value("expect"), attribution: value("attribution"))
        }
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

    func inputs(_ node: Node) -> [InputSet.Source]? {
        guard let items = sequence(node, "inputs") else { return nil }
        if items.isEmpty { problem(node, "inputs", "list at least one input") }
        var result: [InputSet.Source] = []
        var ids: [(String, Node)] = []
        for (index, item) in items.enumerated() {
            let key = "inputs[\(index)]"
            guard let entries = mapping(item, key, allowed: ["id", "a", "b", "decoder", "base", "file", "text", "template", "chat", "messages"]) else { continue }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            if let fileNode = value("file") {
                guard let path = string(fileNode, "\(key).file") else { continue }
                for other in entries where other.key != "file" {
                    problem(other.keyNode, "\(key).\(other.key)", "an inputs file gives its rows' columns itself; write only file:")
                }
                let url = resolve(path)
                guard let format = DataFormat(url) else {
                    problem(fileNode, "\(key).file", "\(url.lastPathComponent): inputs come from .csv or .jsonl files")
                    continue
                }
                fileNodes.append((path, fileNode, "\(key).file"))
                result.append(.file(InputSet.File(url: url, path: path, format: format, position: position(fileNode, "\(key).file"))))
                continue
            }
            if let chatNode = value("chat") {
                if value("template") != nil { problem(value("template"), "\(key).template", "a chat input is one conversation; template is not allowed") }
                guard let idNode = required(entries, "id", in: item, key), let id = slug(idNode, "\(key).id") else { continue }
                ids.append((id, idNode))
                if var input = chatInput(entries, chatNode, id: id, key: key) {
                    input.position = position(item, key)
                    result.append(.inline(input))
                }
                continue
            }
            if let node = value("messages") { problem(node, "\(key).messages", "messages are a chat: add chat: true") }
            let base = value("base").flatMap { slug($0, "\(key).base") } ?? "base"
            guard let textNode = value("a") ?? value("text") else {
                problem(item, key, "missing \"a\" (the text, or sentence A of a pair)")
                continue
            }
            guard let a = string(textNode, "\(key).a") else { continue }
            let b = value("b").flatMap { string($0, "\(key).b") }
            let decoder = value("decoder").flatMap { string($0, "\(key).decoder") }
            if let templateNode = value("template") {
                if value("id") != nil { problem(value("id"), "\(key).id", "a template names its inputs <template>-1, <template>-2, …; drop id:") }
                guard let id = slug(templateNode, "\(key).template") else { continue }
                do {
                    result.append(.template(try InputTemplate(id: id, a: a, b: b, decoder: decoder, baseName: base, lexicons: lexicons)))
                } catch {
                    // A slot of a lexicon that could not be read is that lexicon's problem, reported already.
                    if !brokenLexicons.contains(where: { error.message.contains("no lexicon named \"\($0)\"") }) {
                        problem(templateNode, "\(key).template", error.message)
                    }
                }
                continue
            }
            guard let idNode = required(entries, "id", in: item, key), let id = slug(idNode, "\(key).id") else { continue }
            ids.append((id, idNode))
            result.append(.inline(InputSpec(id: id, a: a, b: b, decoder: decoder, baseName: base, position: position(item, key),
                                            decoderPosition: value("decoder").map { position($0, "\(key).decoder") })))
        }
        var seen: Set<String> = []
        for (id, _) in ids where !seen.insert(id).inserted {
            problem(node, "inputs", "two inputs have the id \"\(id)\"")
        }
        return result
    }

    /// A chat input (`chat: true`): its `messages` (each `{role, content}`), or its `a` as one user
    /// message. Each model renders them with its own template.
    func chatInput(_ entries: [(key: String, node: Node, keyNode: Node)], _ chatNode: Node, id: String, key: String) -> InputSpec? {
        let value = { (name: String) in entries.first { $0.key == name }?.node }
        guard let chat = choice(chatNode, "\(key).chat", ["true", "false"]), chat == "true" else {
            problem(chatNode, "\(key).chat", "write chat: true with the messages, or leave chat out for plain text")
            return nil
        }
        for name in ["b", "decoder"] where value(name) != nil { problem(value(name), "\(key).\(name)", "a chat input is one conversation; \(name) is not allowed") }
        var messages: [ChatMessage] = []
        if let list = value("messages") {
            guard let items = sequence(list, "\(key).messages") else { return nil }
            for (index, item) in items.enumerated() {
                let at = "\(key).messages[\(index)]"
                guard let fields = mapping(item, at, allowed: ["role", "content"]),
                      let role = required(fields, "role", in: item, at).flatMap({ string($0, "\(at).role") }),
                      let content = required(fields, "content", in: item, at).flatMap({ string($0, "\(at).content") }) else { continue }
                messages.append(ChatMessage(role: role, content: content))
            }
            if items.isEmpty { problem(list, "\(key).messages", "list at least one message") }
        } else if let text = (value("a") ?? value("text")).flatMap({ string($0, "\(key).a") }) {
            messages = [ChatMessage(role: "user", content: text)]
        } else {
            problem(chatNode, key, "a chat input needs messages: [{role: user, content: …}] (or a: as the user's message)")
            return nil
        }
        let base = value("base").flatMap { slug($0, "\(key).base") } ?? "base"
        return InputSpec(id: id, a: messages.map(\.content).joined(separator: "\n"), b: nil, decoder: nil, baseName: base, messages: messages)
    }

    /// `sample: 500`, `sample: 10%`, or `{size: 500, seed: 7}`.
    func sample(_ node: Node) -> InputSet.Sample? {
        func size(_ node: Node, _ key: String) -> InputSet.Sample.Size? {
            guard let text = string(node, key)?.trimmingCharacters(in: .whitespaces) else { return nil }
            if text.hasSuffix("%"), let percent = Double(text.dropLast()), percent > 0, percent <= 100 { return .fraction(percent / 100) }
            if let count = Int(text), count >= 1 { return .count(count) }
            problem(node, key, "give the inputs to run as a count (500) or a share (10%)")
            return nil
        }
        if case .scalar = node { return size(node, "sample").map { InputSet.Sample(size: $0, seed: 0) } }
        guard let entries = mapping(node, "sample", allowed: ["size", "seed"]) else { return nil }
        guard let sizeNode = required(entries, "size", in: node, "sample"), let value = size(sizeNode, "sample.size") else { return nil }
        let seed = entries.first { $0.key == "seed" }.flatMap { integer($0.node, "sample.seed") } ?? 0
        return InputSet.Sample(size: value, seed: UInt64(seed))
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
                // `replace: "@synonyms"`: every word of a mapping lexicon, one variant per replacement.
                if case .scalar(let scalar) = body, scalar.string.hasPrefix("@") {
                    guard let lexicon = lexicon(named: scalar.string, body, at) else { continue }
                    guard case .mapping(let pairs) = lexicon.entries else {
                        problem(body, at, "lexicon \(lexicon.name) is a list; name the word it replaces: replace: {sick: \"@\(lexicon.name)\"}")
                        continue
                    }
                    for (from, replacements) in pairs {
                        for to in replacements {
                            // Rates are counted per word replaced: `syn-clean` covers syn-clean-spotless, syn-clean-tidy.
                            result.append(PerturbationSpec(id: "\(id)-\(Self.slugify(from))-\(Self.slugify(to))", kind: .replace(from: from, to: to),
                                                           target: target, family: "\(id)-\(Self.slugify(from))"))
                        }
                    }
                    continue
                }
                guard let pairs = mapping(body, at) else { continue }
                var isList = pairs.contains { if case .sequence = $0.node { return true } else { return false } }
                var expanded: [(String, String)] = []
                for entry in pairs {
                    if case .scalar(let scalar) = entry.node, scalar.string.hasPrefix("@") {
                        guard let lexicon = lexicon(named: scalar.string, entry.node, "\(at).\(entry.key)") else { continue }
                        isList = true
                        switch lexicon.entries {
                        case .list(let words):
                            expanded += words.map { (entry.key, $0) }
                        case .mapping(let map):
                            guard let found = map.first(where: { $0.word.lowercased() == entry.key.lowercased() }) else {
                                problem(entry.node, "\(at).\(entry.key)", "lexicon \(lexicon.name) has no entry for \"\(entry.key)\"")
                                continue
                            }
                            expanded += found.replacements.map { (entry.key, $0) }
                        }
                        continue
                    }
                    expanded += strings(entry.node, "\(at).\(entry.key)").map { $0.map { (entry.key, $0) } } ?? []
                }
                if expanded.isEmpty, problems.isEmpty { problem(body, at, "give at least one replacement, as {word: replacement}") }
                for (from, to) in expanded {
                    let name = isList ? "\(id)-\(Self.slugify(to))" : id
                    guard pathName(name, body, at, fix: "shorten the replacement or the id") != nil else { continue }
                    result.append(PerturbationSpec(id: name, kind: .replace(from: from, to: to), target: target, family: id, position: position(item, key)))
                }
            case "delete", "mask":
                var words: [String]
                if case .scalar(let scalar) = body, scalar.string.hasPrefix("@") {
                    guard let lexicon = lexicon(named: scalar.string, body, at) else { continue }
                    words = lexicon.words
                } else {
                    guard let listed = strings(body, at) else { continue }
                    words = listed
                }
                let expandedList = words.count > 1 || (body.scalar?.string.hasPrefix("@") ?? false)
                for word in words {
                    let name = expandedList ? "\(id)-\(Self.slugify(word))" : id
                    guard pathName(name, body, at, fix: "shorten the word or the id") != nil else { continue }
                    result.append(PerturbationSpec(id: name, kind: kind == "delete" ? .delete(word) : .mask(word), target: target, family: id, position: position(item, key)))
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
                                               family: id, position: position(item, key)))
            default:
                guard case .scalar(let scalar) = body, scalar.string == "true" else {
                    problem(body, at, "write `swap: true` to exchange sentences A and B")
                    continue
                }
                result.append(PerturbationSpec(id: id, kind: .swap, target: .both, family: id, position: position(item, key)))
            }
        }
        return result
    }

    /// The lexicon `@name` names, or a problem saying which lexicons there are.
    func lexicon(named reference: String, _ node: Node, _ key: String) -> Lexicon? {
        let name = String(reference.dropFirst())
        if let lexicon = lexicons[name] { return lexicon }
        if brokenLexicons.contains(name) { return nil }
        let known = lexicons.keys.sorted()
        problem(node, key, "no lexicon named \"\(name)\"" + (known.isEmpty ? "; define it under lexicons: (a list, a mapping or a file)"
                                                                     : "; lexicons: \(known.joined(separator: ", "))"))
        return nil
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
                                                             "value", "method", "word", "rank", "rate"] + checks) else { return nil }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            let allowance = value("rate").flatMap { self.allowance($0, "\(key).rate") }
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
            return ExpectationSpec(variant: variant, model: model, check: check, line: item.mark?.line ?? 0, allowance: allowance, position: position(body, at))
        }
    }

    /// `rate: {max_failures: 5%}` (a share of the variants checked) or `{max_failures: 3}` (a count).
    func allowance(_ node: Node, _ key: String) -> FailureAllowance? {
        guard let entries = mapping(node, key, allowed: ["max_failures"]) else { return nil }
        guard let bound = required(entries, "max_failures", in: node, key), let text = string(bound, "\(key).max_failures") else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%"), let percent = Double(trimmed.dropLast().trimmingCharacters(in: .whitespaces)), percent >= 0, percent <= 100 {
            return .fraction(percent / 100)
        }
        if let count = Int(trimmed), count >= 0 { return .count(count) }
        problem(bound, "\(key).max_failures", "give the failures allowed as a share (5%) or a count (3)")
        return nil
    }

    func outputName(_ node: Node, _ key: String) -> OutputName? {
        guard let text = string(node, key) else { return nil }
        return OutputName(parsing: text)
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
