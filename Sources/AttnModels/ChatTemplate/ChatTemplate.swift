import AttnCore
import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable, Codable {
    /// `system`, `user`, `assistant` (or whatever roles the model's template knows).
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// The error a chat template gives: a template AttnLab cannot read or render, or the template's own
/// refusal of a conversation (`raise_exception`).
public struct ChatTemplateError: ExplainedError, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The template uses a Jinja construct outside the subset AttnLab renders.
        case unsupported
        /// The template is not valid Jinja.
        case syntax
        /// The template refused the conversation (`raise_exception(…)`).
        case refused
        /// Rendering failed (an undefined value used, a type error).
        case rendering
    }

    public var kind: Kind
    public var location: String?
    public var message: String
    public var hint: String?
}

/// A model's chat template (the Jinja text in `tokenizer.chat_template` of a GGUF, or in
/// tokenizer_config.json), rendered as transformers' `apply_chat_template` renders it: Jinja with
/// `trim_blocks` and `lstrip_blocks`, `tojson` without HTML escaping, `raise_exception`,
/// `strftime_now`, `namespace`, and the template variables `messages`, `add_generation_prompt`,
/// `tools` and `documents` (none unless given), and the special tokens (`bos_token`, `eos_token`, …).
///
/// AttnLab implements the subset of Jinja real chat templates use: `for` (with `else`, a filter
/// `if`, unpacking, `loop.index`/`index0`/`first`/`last`/`length`/…, `break`/`continue`),
/// `if`/`elif`/`else`, `set` (also `ns.attr` and block `set`), `{% generation %}`, comments,
/// whitespace control, every operator, slicing, string and dict methods, and the filters and tests in
/// `JinjaBuiltins`. A template using anything else (a macro, an unknown filter) is refused when it is
/// read, with the construct named.
public struct ChatTemplate: @unchecked Sendable {
    /// The template's text.
    public let source: String
    /// Where the template was read from, for errors.
    public let file: String?
    /// The special tokens the template sees (`bos_token`, `eos_token`, `unk_token`, `pad_token`, …).
    public var specialTokens: [String: String]
    private let nodes: [JinjaNode]

    /// Reads a template, refusing one that uses anything outside the subset.
    public init(source: String, file: String? = nil, specialTokens: [String: String] = [:]) throws {
        self.source = source
        self.file = file
        self.specialTokens = specialTokens
        do {
            nodes = try JinjaParser.parse(try JinjaLexer.tokenize(source))
        } catch let error as JinjaUnsupportedError {
            throw ChatTemplateError(kind: .unsupported, location: Self.where(file, line: error.line),
                                    message: "the chat template uses \(error.construct), which AttnLab's Jinja subset does not have",
                                    hint: "AttnLab renders for/if/set, loop variables, namespace(), the filters \(JinjaBuiltins.filterNames.sorted().joined(separator: ", ")) and the usual tests; pass the prompt as plain text instead")
        } catch let error as JinjaSyntaxError {
            throw ChatTemplateError(kind: .syntax, location: Self.where(file, line: error.line),
                                    message: "the chat template is not valid Jinja: \(error.message)",
                                    hint: "check the template's text, or pass the prompt as plain text instead")
        }
    }

    private static func `where`(_ file: String?, line: Int?) -> String {
        let position = line.map { "line \($0) of the chat template" } ?? "the chat template"
        return file.map { "\($0) (\(position))" } ?? position
    }

    /// Renders a conversation. `variables` is a JSON object whose members the template also sees
    /// (`tools`, `date_string`, …).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true, variables: Data? = nil) throws -> String {
        var extra: [String: JinjaValue] = [:]
        if let variables {
            let json = try TokenizerJSON.parse(variables, file: "the template variables")
            for (key, value) in try json.objectMembers() { extra[key] = JinjaValue(json: value.value) }
        }
        let list = messages.map { message -> JinjaValue in
            var dictionary = JinjaDictionary()
            dictionary["role"] = .string(message.role)
            dictionary["content"] = .string(message.content)
            return .dict(dictionary)
        }
        return try render(messages: list, addGenerationPrompt: addGenerationPrompt, variables: extra)
    }

    func render(messages: [JinjaValue], addGenerationPrompt: Bool, variables: [String: JinjaValue]) throws -> String {
        var context: [String: JinjaValue] = ["tools": .none, "documents": .none]
        for (name, token) in specialTokens { context[name] = .string(token) }
        for (name, value) in variables { context[name] = value }
        context["messages"] = .list(messages)
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        do {
            return try JinjaInterpreter(variables: context).render(nodes)
        } catch let error as JinjaRuntimeError {
            if error.raisedByTemplate {
                throw ChatTemplateError(kind: .refused, location: Self.where(file, line: error.line),
                                        message: "the chat template refused the conversation: \(error.message)",
                                        hint: "change the messages to what the model's template accepts")
            }
            throw ChatTemplateError(kind: .rendering, location: Self.where(file, line: error.line),
                                    message: "the chat template could not be rendered: \(error.message)",
                                    hint: "check the messages and variables the template expects")
        }
    }

    // MARK: - Loading

    /// The chat template of a model folder: `tokenizer.chat_template` of a GGUF model, or
    /// `chat_template` in tokenizer_config.json (or the `default` one of a list of named templates,
    /// or chat_template.jinja beside it); nil when the model has none.
    public static func load(folder: URL) throws -> ChatTemplate? {
        if let gguf = try GGUFModel.locate(folder) {
            let file = try GGUFFile(path: gguf.path)
            guard let source = try file.string("tokenizer.chat_template") else { return nil }
            let tokens = try file.strings("tokenizer.ggml.tokens") ?? []
            var special: [String: String] = [:]
            for (key, name) in [("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"),
                                ("unknown_token_id", "unk_token"), ("padding_token_id", "pad_token")] {
                if let id = try file.int("tokenizer.ggml." + key), tokens.indices.contains(id) { special[name] = tokens[id] }
            }
            return try ChatTemplate(source: source, file: gguf.path, specialTokens: special)
        }
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        let configURL = folder.appendingPathComponent("tokenizer_config.json")
        let config = try TokenizerLoader.readConfig(in: folder)
        var special: [String: String] = [:]
        for key in ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"] {
            if let value = config?.specialTokens[key] { special[key] = value }
        }
        if FileManager.default.fileExists(atPath: jinja.path) {
            let data = try TokenizerLoader.readFile(jinja)
            return try ChatTemplate(source: String(decoding: data, as: UTF8.self), file: jinja.path, specialTokens: special)
        }
        guard FileManager.default.fileExists(atPath: configURL.path) else { return nil }
        let data = try TokenizerLoader.readFile(configURL)
        let root = try TokenizerJSON.parse(data, file: configURL.path)
        guard let template = root["chat_template"] else { return nil }
        if case .array = template.value {
            for entry in try template.array() where try entry.required("name").string() == "default" {
                return try ChatTemplate(source: try entry.required("template").string(), file: configURL.path, specialTokens: special)
            }
            return nil
        }
        return try ChatTemplate(source: try template.string(), file: configURL.path, specialTokens: special)
    }
}
