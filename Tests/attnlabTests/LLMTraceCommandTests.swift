import AttnCore
import Foundation
import Testing

/// `attnlab trace` on decoder language models: SmolLM2-135M-Instruct from its GGUF, the next-token
/// predictions, chat prompts rendered with the model's own template, and the bad input of that path.
@Suite struct LLMTraceCommandTests {
    static let smolLM2 = "Models/SmolLM2-135M-Instruct"
    static let gpt2 = "Tests/attnlabTests/Fixtures/models/gpt2"

    @Test func predictsTheNextTokenAfterTheLastPosition() throws {
        let result = try CLI.run(["trace", "--model", Self.smolLM2, "--text", "The capital of France is"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("(llama, 30 layers × 9 heads), task causal-lm"))
        #expect(result.stdout.contains("next token after 4 (Ġis): ĠParis 0.773"))
    }

    /// By default one prediction, after the last token; `--all-positions` gives one after every token.
    @Test func allPositionsOnRequest() throws {
        func predictions(_ extra: [String]) throws -> [[String: Any]] {
            let result = try CLI.run(["trace", "--model", Self.smolLM2, "--text", "The capital of France is", "--format", "json"] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            return try #require((json["outputs"] as? [String: Any])?["topk"] as? [[String: Any]])
        }
        let last = try predictions([])
        #expect(last.count == 1 && last[0]["position"] as? Int == 4)
        let all = try predictions(["--all-positions", "--top-k", "2"])
        #expect(all.map { $0["position"] as? Int } == [0, 1, 2, 3, 4])
        #expect((all[4]["candidates"] as? [[String: Any]])?.first?["token"] as? String == "ĠParis")
        #expect((all[4]["candidates"] as? [[String: Any]])?.count == 2)
    }

    /// The template's special tokens are the tokenizer's special tokens (one token each, with the
    /// special token's id), not text cut into pieces, and nothing is added in front of what the
    /// template wrote.
    @Test func chatRendersTheModelsTemplate() throws {
        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("chat.safetensors")
        let result = try CLI.run(["trace", "--model", Self.smolLM2, "--chat", "--message", "system:Answer in one word.",
                                  "--message", "user:What is the capital of France?", "--out", out.path])
        #expect(result.status == 0, "\(result.stderr)")
        let trace = try TraceFile.read(out)
        #expect(trace.inputs.a == "<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
        #expect(trace.tokens.count == 26)
        let starts = trace.tokens.filter { $0.text == "<|im_start|>" }
        #expect(starts.count == 3 && starts.allSatisfy { $0.id == 1 && $0.word != nil })
        let ends = trace.tokens.filter { $0.text == "<|im_end|>" }
        #expect(ends.count == 2 && ends.allSatisfy { $0.id == 2 })
        #expect(trace.tokens.first?.id == 1)
        let next = try #require(trace.outputs.topk?.last?.candidates.first)
        #expect(next.token == "The" && abs(next.probability - 0.372) < 1e-3)
    }

    /// `--text` with `--chat` is one user message; a JSON file gives the same conversation as `--message`s.
    @Test func chatMessagesFromTextOrFile() throws {
        let folder = try CLI.temporaryFolder()
        let file = folder.appendingPathComponent("messages.json")
        try Data(#"[{"role": "user", "content": "What is the capital of France?"}]"#.utf8).write(to: file)
        let fromFile = try CLI.run(["trace", "--model", Self.smolLM2, "--chat", "--messages", file.path])
        let fromText = try CLI.run(["trace", "--model", Self.smolLM2, "--chat", "--text", "What is the capital of France?"])
        #expect(fromFile.status == 0 && fromText.status == 0, "\(fromFile.stderr) \(fromText.stderr)")
        #expect(fromFile.stdout == fromText.stdout)
        #expect(fromText.stdout.contains("tokens (37): <|im_start|> system Ċ You Ġare Ġa Ġhelpful"))
    }

    // MARK: bad input

    func expectFailure(_ arguments: [String], mentions phrases: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let folder = try CLI.temporaryFolder()
        let out = folder.appendingPathComponent("never.safetensors")
        let result = try CLI.run(arguments + ["--out", out.path])
        #expect(result.status == 1, "exit status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        for phrase in phrases {
            #expect(result.stderr.contains(phrase), "\(result.stderr) lacks \(phrase)", sourceLocation: sourceLocation)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "an output file was left", sourceLocation: sourceLocation)
    }

    /// A copy of the tiny GPT-2 with `template` as its chat template (none when nil).
    func gpt2(chatTemplate template: String?) throws -> URL {
        let folder = try CLI.temporaryFolder().appendingPathComponent("gpt2")
        try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent(Self.gpt2), to: folder)
        if let template {
            let config: [String: Any] = ["chat_template": template, "eos_token": "<|endoftext|>"]
            try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        }
        return folder
    }

    @Test func aGGUFArchitectureAttnLabDoesNotRun() throws {
        // tiny-llama.gguf with general.architecture "llama" spelt "bloom" (same length).
        var data = try Data(contentsOf: CLI.repository.appendingPathComponent("Tests/AttnModelsTests/Fixtures/gguf/tiny-llama.gguf"))
        let key = Data("general.architecture".utf8)
        let at = try #require(data.range(of: key)).upperBound + 4 + 8   // value type (u32), string length (u64)
        #expect(data[at ..< at + 5] == Data("llama".utf8))
        data.replaceSubrange(at ..< at + 5, with: Data("bloom".utf8))
        let file = try CLI.temporaryFolder().appendingPathComponent("bloom.gguf")
        try data.write(to: file)
        try expectFailure(["trace", "--model", file.path, "--text", "hi"], mentions: ["bloom.gguf", "architecture is \"bloom\"", "AttnLab runs these GGUF architectures: llama"])
    }

    /// A GGUF cut short anywhere (in the magic, the header, a tensor's data) or naming a tensor type
    /// AttnLab does not know: the file and the fault named, with what to do.
    @Test func aTruncatedOrCorruptGGUF() throws {
        let original = try Data(contentsOf: CLI.repository.appendingPathComponent("Tests/AttnModelsTests/Fixtures/gguf/tiny-llama.gguf"))
        let folder = try CLI.temporaryFolder()
        for (length, phrase) in [(3, "too few for the GGUF magic"), (100, "the GGUF header is corrupt"), (2000, "run past the end"),
                                 (original.count - 1, "run past the end")] {
            let file = folder.appendingPathComponent("cut-\(length).gguf")
            try original.prefix(length).write(to: file)
            try expectFailure(["trace", "--model", file.path, "--text", "hi"], mentions: [file.lastPathComponent, phrase, "download it again"])
        }
        // The first tensor entry: name, dimension count (u32), 2 dimensions (u64), then its ggml type (u32).
        var data = original
        let name = try #require(data.range(of: Data("token_embd.weight".utf8)))
        let type = name.upperBound + 4 + 2 * 8
        #expect(data[type ..< type + 4] == Data([1, 0, 0, 0]), "token_embd.weight is F16")
        data.replaceSubrange(type ..< type + 4, with: Data([77, 0, 0, 0]))
        let unknown = folder.appendingPathComponent("type77.gguf")
        try data.write(to: unknown)
        try expectFailure(["trace", "--model", unknown.path, "--text", "hi"],
                          mentions: ["type77.gguf", "unknown ggml type 77", "AttnLab reads F32, F16, BF16, Q8_0"])
    }

    @Test func aTemplateAttnLabCannotRender() throws {
        let macro = try gpt2(chatTemplate: "{% macro line(m) %}{{ m.content }}{% endmacro %}{% for m in messages %}{{ line(m) }}{% endfor %}")
        try expectFailure(["trace", "--model", macro.path, "--chat", "--text", "hi"], mentions: ["the chat template uses", "macro", "plain text"])
        let refusing = try gpt2(chatTemplate: "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}")
        try expectFailure(["trace", "--model", refusing.path, "--chat", "--message", "system:be brief", "--message", "user:hi"],
                          mentions: ["the chat template refused the conversation: System role not supported"])
        let none = try gpt2(chatTemplate: nil)
        try expectFailure(["trace", "--model", none.path, "--chat", "--text", "hi"], mentions: ["has no chat template", "without --chat"])
        let folder = try CLI.temporaryFolder()
        try Data("{\"role\": \"user\"}".utf8).write(to: folder.appendingPathComponent("bad.json"))
        try expectFailure(["trace", "--model", Self.smolLM2, "--chat", "--messages", folder.appendingPathComponent("bad.json").path],
                          mentions: ["bad.json", "not a JSON list"])
    }

    /// A prompt longer than the model's context, plain or rendered from a chat: the length and the limit are named.
    @Test func aPromptLongerThanTheContext() throws {
        let long = Array(repeating: "word", count: 100).joined(separator: " ")
        try expectFailure(["trace", "--model", Self.gpt2, "--text", long], mentions: ["201 tokens long", "maximum of 64", "--truncate"])
        let chat = try gpt2(chatTemplate: "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
        try expectFailure(["trace", "--model", chat.path, "--chat", "--text", long], mentions: ["64"])
        let huge = Array(repeating: "word", count: 9000).joined(separator: " ")
        try expectFailure(["trace", "--model", Self.smolLM2, "--text", huge], mentions: ["tokens long", "maximum of 8192"])
        try expectFailure(["trace", "--model", Self.smolLM2, "--text", ""], mentions: ["no tokens"])
    }

    @Test func chatOptionsWithoutChatAreBadUsage() throws {
        let stray = try CLI.run(["trace", "--model", Self.smolLM2, "--text", "hi", "--message", "user:hi"])
        #expect(stray.status == 2 && stray.stderr.contains("--message and --messages need --chat"), "\(stray.stderr)")
        let twice = try CLI.run(["trace", "--model", Self.smolLM2, "--chat", "--text", "hi", "--message", "user:hi"])
        #expect(twice.status == 2 && twice.stderr.contains("--chat takes its messages from one of"), "\(twice.stderr)")
        let roleless = try CLI.run(["trace", "--model", Self.smolLM2, "--chat", "--message", "What is it?"])
        #expect(roleless.status == 2, "\(roleless.stderr)")
        let nothing = try CLI.run(["trace", "--model", Self.smolLM2])
        #expect(nothing.status == 2 && nothing.stderr.contains("--text"), "\(nothing.stderr)")
    }
}
