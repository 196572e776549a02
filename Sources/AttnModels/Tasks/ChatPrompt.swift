import AttnCore
import Foundation

/// Chat messages as a person gives them (`user:What is the capital of France?`, or a JSON file),
/// and a model's prompt rendered from them with its own template.
public enum ChatPrompt {
    /// `ROLE:TEXT`, split at the first colon (`user:Paris: a city?` is a user message).
    public static func message(parsing text: String) throws -> ChatMessage {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw ModelError("the message \"\(text.prefix(40))\" names no role",
                             hint: "write a message as ROLE:TEXT, for example user:What is the capital of France?")
        }
        let role = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
        guard !role.isEmpty, role.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw ModelError("\"\(role)\" is not a role", hint: "write a message as ROLE:TEXT with a role such as system, user or assistant")
        }
        return ChatMessage(role: role, content: String(text[text.index(after: colon)...]))
    }

    /// A JSON file of messages: `[{"role": …, "content": …}, …]`, or an object with a `messages` list.
    public static func read(file url: URL) throws -> [ChatMessage] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("cannot read the messages file", location: url.path, hint: "check the path")
        }
        struct Wrapped: Decodable { var messages: [ChatMessage] }
        let decoder = JSONDecoder()
        let messages: [ChatMessage]
        if let list = try? decoder.decode([ChatMessage].self, from: data) {
            messages = list
        } else if let wrapped = try? decoder.decode(Wrapped.self, from: data) {
            messages = wrapped.messages
        } else {
            throw ModelError("the messages file is not a JSON list of {\"role\": …, \"content\": …} objects", location: url.path,
                             hint: "write it as [{\"role\": \"user\", \"content\": \"What is the capital of France?\"}]")
        }
        guard !messages.isEmpty else { throw ModelError("the messages file lists no message", location: url.path) }
        return messages
    }
}

extension LoadedModel {
    /// The model's chat template (`tokenizer.chat_template` of a GGUF, or tokenizer_config.json's),
    /// or an error saying it has none.
    public func chatTemplate() throws -> ChatTemplate {
        guard let template = try ChatTemplate.load(folder: folder.url) else {
            throw ModelError("\(folder.id) has no chat template (tokenizer.chat_template in a GGUF, chat_template in tokenizer_config.json)",
                             hint: "trace the prompt as plain text, without --chat")
        }
        return template
    }

    /// The prompt a chat model reads for `messages`: its template rendered with the generation
    /// prompt, the special tokens spelt out (a `TraceRequest` with `chat` set tokenizes it adding
    /// none, and finds them as the tokenizer's special tokens).
    public func renderChat(_ messages: [ChatMessage]) throws -> String {
        guard !messages.isEmpty else { throw ModelError("a chat needs at least one message", hint: "give one with --message user:TEXT") }
        return try chatTemplate().render(messages, addGenerationPrompt: true)
    }
}
