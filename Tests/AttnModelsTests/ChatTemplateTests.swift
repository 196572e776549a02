import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Real chat templates against transformers' apply_chat_template (fixtures by
/// Tools/reference/make_gguf_tokenizer_fixtures.py).
@Suite struct ChatTemplateTests {
    static let fixture: TokenizerJSON = {
        let url = Fixtures.url("gguf").appendingPathComponent("chat-templates.json")
        return try! TokenizerJSON.parse(Data(contentsOf: url), file: url.path)
    }()

    static func entry(_ name: String) throws -> TokenizerJSON {
        try #require(try fixture.required("templates").array().first { try $0.required("name").string() == name })
    }

    static func specialTokens(_ entry: TokenizerJSON) throws -> [String: String] {
        var tokens: [String: String] = [:]
        if let bos = try entry.optionalString("bos_token") { tokens["bos_token"] = bos }
        if let eos = try entry.optionalString("eos_token") { tokens["eos_token"] = eos }
        return tokens
    }

    /// Every conversation, with and without a generation prompt: the same text, or the same refusal.
    @Test(arguments: ["smollm2", "llama3", "llama3.2", "qwen2", "mistral", "mistral-nemo", "gemma"])
    func rendersAsTransformers(name: String) throws {
        let entry = try Self.entry(name)
        let template = try ChatTemplate(source: try entry.required("template").string(), specialTokens: try Self.specialTokens(entry))
        let conversations = try Self.fixture.required("conversations")
        var failures: [String] = []
        for testCase in try entry.required("cases").array() {
            let conversation = try testCase.required("conversation").string()
            let messages = JinjaValue(json: try conversations.required(conversation).value)
            guard case .list(let list, _) = messages else { continue }
            var variables: [String: JinjaValue] = [:]
            for (key, value) in try testCase.required("extra").objectMembers() { variables[key] = JinjaValue(json: value.value) }
            let generation = try testCase.required("add_generation_prompt").bool()
            let label = "\(name) \(conversation) generation=\(generation) \(variables.keys.sorted())"
            do {
                let output = try template.render(messages: list, addGenerationPrompt: generation, variables: variables)
                if let expected = try testCase.optionalString("output") {
                    if output != expected { failures.append("\(label):\n  got      \(String(reflecting: output))\n  expected \(String(reflecting: expected))") }
                } else {
                    failures.append("\(label): rendered, but transformers raised \(try testCase.required("error").string())")
                }
            } catch let error as ChatTemplateError {
                let expected = try testCase.optionalString("error")
                if error.kind != .refused || expected == nil || !error.message.hasSuffix(expected!) {
                    failures.append("\(label): \(error) (transformers: \(expected ?? "rendered"))")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(6).joined(separator: "\n"))")
    }

    /// SmolLM2's template comes from its GGUF, with its special tokens.
    @Test func smolLM2TemplateIsReadFromItsGGUF() throws {
        let template = try #require(try ChatTemplate.load(folder: Fixtures.realGGUF().deletingLastPathComponent()))
        #expect(template.source == (try Self.entry("smollm2").required("template").string()))
        #expect(template.specialTokens["bos_token"] == "<|im_start|>" && template.specialTokens["eos_token"] == "<|im_end|>")
        let prompt = try template.render([ChatMessage(role: "user", content: "What is the capital of France?")])
        #expect(prompt == "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func tokenizerConfigTemplatesAreRead() throws {
        let folder = try makeTokenizerTestFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"bos_token": "<s>", "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"}"#.utf8).write(to: config)
        #expect(try ChatTemplate.load(folder: folder)?.render([ChatMessage(role: "user", content: "hi")]) == "<s>hi")
        try Data(#"{"chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "{{ messages|length }}"}]}"#.utf8).write(to: config)
        #expect(try ChatTemplate.load(folder: folder)?.render([ChatMessage(role: "user", content: "hi")]) == "1")
        try Data(#"{"bos_token": "<s>"}"#.utf8).write(to: config)
        #expect(try ChatTemplate.load(folder: folder) == nil)
    }

    /// The Jinja that templates rely on, one construct at a time, against what Jinja gives.
    @Test(arguments: [
        ("{% for i in [1,2] %}[{{ x }}]{% set x = i %}{% endfor %}", "[][]"),
        ("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}", "1"),
        ("{{ [1,'a',None,True,1.5,{'k':'v'}] }}|{{ none }}|{{ 1/2 }}|{{ 7//2 }}|{{ -7 % 3 }}|{{ 'a' ~ none ~ nothing }}", "[1, 'a', None, True, 1.5, {'k': 'v'}]|None|0.5|3|2|aNone"),
        ("{{ 'x' if false }}|{{ (1,2) }}|{{ 1 == 1.0 }}|{{ 1 == true }}", "|(1, 2)|True|True"),
        ("  {% if true %}\n  yes\n  {% endif %}\n  after", "  yes\n  after"),
        ("a\n  {# c #}\n  b", "a\n  b"),
        ("{{ 'a\\tb' }}|{{ \"it's\" }}|{{ ['it\\'s'] }}", "a\tb|it's|[\"it's\"]"),
        ("{% for a, b in [[1,2],[3,4]] %}{{ a }}{{ b }}{% endfor %}{{ 'abc'[::-1] }}{{ [1,2,3][-2:] }}", "1234cba[2, 3]"),
        ("{{ 1e-5 }} {{ 1e16 }} {{ 3.0 }} {{ 2**10 }} {{ 2**-1 }} {{ 10/5 }}", "1e-05 1e+16 3.0 1024 0.5 2.0"),
        ("{{ 'hello world'.title() }} {{ '  x '.strip() }} {{ 'a,b'.split(',') }}", "Hello World x ['a', 'b']"),
        ("{% set ns = namespace(a=1) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}", "4"),
        ("{{ [3,1,2]|sort }} {{ 'abc'|upper }} {{ [1,2]|join(', ') }} {{ none|default('d') }} {{ ''|default('d', true) }}", "[1, 2, 3] ABC 1, 2 None d"),
        ("{% for x in [1,2,3,4] if x is even %}{{ loop.index }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}", "1/2,2/2"),
        ("{% for x in [] %}a{% else %}empty{% endfor %}", "empty"),
        ("{% for x in [1,2,3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% if x == 3 %}{% break %}{% endif %}{% endfor %}", "13"),
        ("{%- set t %}  in  {% endset -%} [{{ t }}]", "[  in  ]"),
        ("{{ {'a': [1, {'c': []}], 'b': {}}|tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    {\n      \"c\": []\n    }\n  ],\n  \"b\": {}\n}"),
        ("{{ 'é\n\"<'|tojson }}", "\"é\\n\\\"<\""),
        ("{{ x is defined }} {{ x is not defined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ 3 is divisibleby 3 }}", "False True True True True True"),
        ("{{ [{'r':'u'},{'r':'a'}]|selectattr('r','equalto','u')|list|length }} {{ [{'r':'u'}]|map(attribute='r')|join }}", "1 u"),
        ("{% raw %}{{ not rendered }}{% endraw %}", "{{ not rendered }}"),
        ("{{ 'abc'[1] }}{{ 'abc'|length }}{{ [1,2,3]|first }}{{ [1,2,3]|last }}{{ 'ab' in 'cab' }}{{ 'k' in {'k': 1} }}", "b313TrueTrue"),
    ])
    func jinjaSemantics(source: String, expected: String) throws {
        #expect(try ChatTemplate(source: source).render(messages: [], addGenerationPrompt: false, variables: [:]) == expected)
    }

    /// Anything outside the subset is refused when the template is read, naming the construct.
    @Test(arguments: [
        ("{% macro m() %}x{% endmacro %}", "{% macro %}"),
        ("{{ messages|batch(2) }}", "the filter |batch"),
        ("{% if x is sameas_not_a_test %}{% endif %}", "the test 'is sameas_not_a_test'"),
        ("{{ messages.append(1) }}", "the method .append()"),
        ("{{ lipsum(2) }}", "the function lipsum()"),
        ("{% include 'other.jinja' %}", "{% include %}"),
    ])
    func outsideTheSubsetIsRefused(source: String, construct: String) throws {
        #expect { try ChatTemplate(source: source, file: "Models/x/model.gguf") } throws: { error in
            guard let error = error as? ChatTemplateError else { return false }
            return error.kind == .unsupported && error.message.contains(construct) && "\(error)".hasPrefix("Models/x/model.gguf (line 1")
        }
    }

    @Test func brokenTemplatesAndRenderingErrorsSayWhere() throws {
        #expect { try ChatTemplate(source: "line one\n{% if x %}never closed") } throws: { error in
            (error as? ChatTemplateError)?.kind == .syntax && "\(error)".contains("line 2") && "\(error)".contains("endif")
        }
        let template = try ChatTemplate(source: "{{ messages[0].content + undefined_thing }}")
        #expect { try template.render([ChatMessage(role: "user", content: "x")]) } throws: { error in
            (error as? ChatTemplateError)?.kind == .rendering && "\(error)".contains("undefined_thing is undefined")
        }
        let refusing = try ChatTemplate(source: "{{ raise_exception('System role not supported') }}")
        #expect { try refusing.render([]) } throws: { error in
            (error as? ChatTemplateError)?.kind == .refused && "\(error)".contains("refused the conversation: System role not supported")
        }
    }
}
