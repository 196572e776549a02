import AttnCore
import Foundation
import Yams

/// A named list of words or phrases (`adj: [good, great]`), or a mapping from a word to the words
/// that may replace it (`synonyms: {happy: [glad, cheerful]}`), for perturbations
/// (`replace: {sick: "@synonyms"}`, `replace: "@synonyms"`) and template slots (`{adj}`).
public struct Lexicon: Sendable, Equatable {
    public enum Entries: Sendable, Equatable {
        case list([String])
        /// Words in the order written, each with its replacements.
        case mapping([(word: String, replacements: [String])])

        public static func == (a: Entries, b: Entries) -> Bool {
            switch (a, b) {
            case let (.list(x), .list(y)): return x == y
            case let (.mapping(x), .mapping(y)): return x.map(\.word) == y.map(\.word) && x.map(\.replacements) == y.map(\.replacements)
            default: return false
            }
        }
    }

    public var name: String
    public var entries: Entries

    public init(name: String, entries: Entries) {
        self.name = name
        self.entries = entries
    }

    /// Every word of a list; the words a mapping replaces.
    public var words: [String] {
        switch entries {
        case .list(let words): words
        case .mapping(let pairs): pairs.map(\.word)
        }
    }
}

/// Reads lexicon files: `.txt` (one word or phrase a line, or `word: replacement, replacement`;
/// `#` starts a comment), `.yaml`/`.yml`/`.json` (a list, or a mapping of words to a replacement or
/// a list of them).
enum LexiconFile {
    /// The largest lexicon file read.
    static let maximumBytes = 16 << 20

    /// The lexicon in the file at `url`, or the problem with it (with the line when there is one).
    static func read(_ url: URL, name: String) throws -> Lexicon {
        let data: Data
        do {
            data = try RegularFile.read(url, limit: maximumBytes, what: "lexicon file")
        } catch let error as CoreError {
            throw ExperimentError("cannot read the lexicon file: \(error.message)", location: url.path,
                                  hint: error.hint ?? "check the path (it is relative to the experiment file)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ExperimentError("the lexicon file is not UTF-8 text", location: url.path)
        }
        switch url.pathExtension.lowercased() {
        case "txt": return try parseText(text, name: name, file: url.path)
        case "yaml", "yml", "json": return try parseYAML(text, name: name, file: url.path)
        default:
            throw ExperimentError("a lexicon file is .txt, .yaml, .yml or .json", location: url.path)
        }
    }

    /// One entry a line: `word` (a list) or `word: replacement, replacement` (a mapping).
    static func parseText(_ text: String, name: String, file: String) throws -> Lexicon {
        var list: [String] = []
        var mapping: [(word: String, replacements: [String])] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if trimmed.isEmpty { continue }
            let position = "\(file):\(index + 1)"
            if let colon = trimmed.firstIndex(of: ":") {
                let word = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
                let replacements = trimmed[trimmed.index(after: colon)...].split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                guard !word.isEmpty, !replacements.isEmpty, !replacements.contains(where: \.isEmpty) else {
                    throw ExperimentError("write a mapping line as `word: replacement, replacement`", location: position)
                }
                mapping.append((word, replacements))
            } else {
                list.append(trimmed)
            }
            if !list.isEmpty && !mapping.isEmpty {
                throw ExperimentError("the file mixes plain lines and `word: replacements` lines", location: position,
                                      hint: "a lexicon is either a list (one word a line) or a mapping (word: replacements)")
            }
        }
        let lexicon = Lexicon(name: name, entries: mapping.isEmpty ? .list(list) : .mapping(mapping))
        try check(lexicon, location: file)
        return lexicon
    }

    static func parseYAML(_ text: String, name: String, file: String) throws -> Lexicon {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let problem = ExperimentParser.yamlProblem(error)
            throw ExperimentError(problem.message, location: "\(file):\(problem.line):\(problem.column)")
        }
        guard let node else { throw ExperimentError("the lexicon file is empty", location: file) }
        let reader = SpecReader(folder: URL(fileURLWithPath: file).deletingLastPathComponent())
        let lexicon = reader.lexiconEntries(node, name: name, key: name)
        if let problem = reader.problems.first {
            throw ExperimentError("\(problem.key.isEmpty ? "" : "\(problem.key): ")\(problem.message)",
                                  location: "\(file):\(problem.line):\(problem.column)")
        }
        guard let lexicon else { throw ExperimentError("not a lexicon", location: file) }
        try check(lexicon, location: file)
        return lexicon
    }

    /// A lexicon needs at least one entry, and no word twice (two variants would get one name).
    static func check(_ lexicon: Lexicon, location: String) throws {
        if lexicon.words.isEmpty { throw ExperimentError("lexicon \(lexicon.name) is empty", location: location) }
        var seen: Set<String> = []
        for word in lexicon.words where !seen.insert(word.lowercased()).inserted {
            throw ExperimentError("lexicon \(lexicon.name) has \(JSONText.quote(word)) twice", location: location)
        }
    }
}

extension SpecReader {
    /// `lexicons:` — a mapping of names to lists, mappings or files, or the path of a YAML or JSON
    /// file holding such a mapping.
    func lexicons(_ node: Node) -> [String: Lexicon] {
        var result: [String: Lexicon] = [:]
        if case .scalar(let scalar) = node {
            let url = resolve(scalar.string)
            do {
                let text = try RegularFile.text(url, limit: LexiconFile.maximumBytes, what: "lexicon file")
                lexiconFiles.append(url)
                guard let root = try Yams.compose(yaml: text) else {
                    problem(node, "lexicons", "\(url.path) is empty")
                    return [:]
                }
                let inner = SpecReader(folder: url.deletingLastPathComponent())
                let found = inner.lexicons(root)
                for item in inner.problems {
                    problem(node, "lexicons", "\(url.path):\(item.line):\(item.column): \(item.key.isEmpty ? "" : "\(item.key): ")\(item.message)")
                }
                lexiconFiles += inner.lexiconFiles
                return found
            } catch let error as YamlError {
                let item = ExperimentParser.yamlProblem(error)
                problem(node, "lexicons", "\(url.path):\(item.line):\(item.column): \(item.message)")
            } catch {
                problem(node, "lexicons", "cannot read the lexicon file \(url.path): \((error as? CoreError)?.message ?? "\(error)"); check the path (it is relative to the experiment file)")
            }
            return [:]
        }
        guard let entries = mapping(node, "lexicons") else { return [:] }
        for (name, value, keyNode) in entries {
            let key = "lexicons.\(name)"
            let problemsBefore = problems.count
            defer { if result[name] == nil, problems.count > problemsBefore { brokenLexicons.insert(name) } }
            guard pathName(name, keyNode, key, fix: "name lexicons with letters, digits, '-', '_' and '.'") != nil else { continue }
            if case .scalar(let scalar) = value {
                let url = resolve(scalar.string)
                do {
                    result[name] = try LexiconFile.read(url, name: name)
                    lexiconFiles.append(url)
                } catch let error as ExperimentError {
                    problem(value, key, error.description)
                } catch {
                    problem(value, key, "cannot read \(url.path)")
                }
                continue
            }
            guard let lexicon = lexiconEntries(value, name: name, key: key) else { continue }
            do {
                try LexiconFile.check(lexicon, location: "")
                result[name] = lexicon
            } catch let error as ExperimentError {
                problem(value, key, error.message)
            } catch {}
        }
        return result
    }

    /// A list of words, or a mapping of words to one replacement or a list of them.
    func lexiconEntries(_ node: Node, name: String, key: String) -> Lexicon? {
        switch node {
        case .sequence:
            guard let words = strings(node, key) else { return nil }
            return Lexicon(name: name, entries: .list(words.map { $0.trimmingCharacters(in: .whitespaces) }))
        case .mapping:
            guard let entries = mapping(node, key) else { return nil }
            var pairs: [(word: String, replacements: [String])] = []
            for (word, value, _) in entries {
                guard let replacements = strings(value, "\(key).\(word)") else { continue }
                if replacements.isEmpty { problem(value, "\(key).\(word)", "give at least one replacement") }
                pairs.append((word, replacements))
            }
            return Lexicon(name: name, entries: .mapping(pairs))
        default:
            problem(node, key, "a lexicon is a list ([good, great]), a mapping ({happy: [glad, cheerful]}) or a file name")
            return nil
        }
    }

    /// A path relative to the experiment file's folder.
    func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appendingPathComponent(path)
    }
}
