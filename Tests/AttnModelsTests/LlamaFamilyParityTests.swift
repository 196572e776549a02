import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The Llama-family decoders (Llama, Mistral, Qwen2, Qwen3, Gemma, Phi-3) against PyTorch +
/// transformers with eager attention, on the tiny random models of Tools/reference/make_llm_fixtures.py,
/// and SmolLM2-135M-Instruct's GGUF against transformers' own loading of the same file.
@Suite struct LlamaFamilyParityTests {
    static let names = ["llama", "llama-yarn", "mistral", "qwen2", "qwen3", "gemma", "phi3"]

    /// Attention within 1e-5; hidden states, queries and keys after the rotation, values (keys and
    /// values per key/value head) and the logits at every position within 1e-4.
    @Test(arguments: names)
    func tinyModelMatchesPyTorch(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        #expect(model.taskHeads == [.causalLM])
        let expected = try ArchitectureFixtures.expected(name)
        let input = ArchitectureFixtures.input(expected)
        let output = try model.forward(input, capture: [.qkv, .hidden])
        #expect(try ArchitectureFixtures.compareStacks(output, expected, name) == 5)
        let logits = try model.languageModelLogits(output, positions: Array(input.ids.indices))
        expectClose(logits, try expected.tensor("logits"), within: 1e-4, "\(name) next-token logits")
    }

    /// What the trace says of each model's attention: which key/value head each query head reads,
    /// the causal mask, the sliding window, rotary positions.
    @Test func geometryStatesHowAttentionWasComputed() throws {
        let expectations: [(String, Int, Int, Int?)] = [
            ("llama", 4, 2, nil), ("llama-yarn", 4, 4, nil), ("mistral", 4, 2, 3), ("qwen2", 6, 2, nil),
            ("qwen3", 4, 2, nil), ("gemma", 4, 1, nil), ("phi3", 4, 2, 5),
        ]
        for (name, heads, keyValueHeads, window) in expectations {
            let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
            #expect(model.summary.heads == heads && model.summary.keyValueHeads == keyValueHeads, "\(name)")
            let stack = try #require(try model.forward(ModelInput(ids: [3, 4, 5]), capture: [.qkv]).stacks[.encoder])
            let geometry = try #require(stack.geometry)
            #expect(geometry.causal && geometry.rotary && !geometry.positionBias, "\(name)")
            #expect(geometry.keyValueHeads == keyValueHeads && geometry.slidingWindow == window, "\(name)")
            #expect(stack.key?.shape[1] == keyValueHeads && stack.query?.shape[1] == heads, "\(name)")
        }
    }

    /// The captured queries and keys are those the scores used: softmax(q·kᵀ·scale) with the causal
    /// mask (and window) gives back the captured attention of every head, as the neuron view shows it.
    @Test(arguments: names)
    func capturedQueriesAndKeysReproduceTheAttention(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let n = 9
        let stack = try #require(try model.forward(ModelInput(ids: Array(10 ..< 10 + n)), capture: [.qkv]).stacks[.encoder])
        let (query, key, geometry) = (try #require(stack.query), try #require(stack.key), try #require(stack.geometry))
        let (heads, d) = (query.shape[1], query.shape[3])
        var worst: Float = 0
        for l in 0 ..< stack.layerCount {
            for h in 0 ..< heads {
                let kv = geometry.keyValueHead(of: h, heads: heads)
                for i in 0 ..< n {
                    let visible = (0 ... i).filter { j in geometry.slidingWindow.map { i - j < $0 } ?? true }
                    let scores = visible.map { j in
                        (0 ..< d).reduce(Float(0)) { $0 + query[l, h, i, $1] * key[l, kv, j, $1] } * geometry.scales[l]
                    }
                    let top = scores.max()!
                    let total = scores.reduce(0) { $0 + exp($1 - top) }
                    for (j, score) in zip(visible, scores) {
                        worst = max(worst, abs(exp(score - top) / total - stack.attention[l, h, i, j]))
                    }
                }
            }
        }
        #expect(worst < 1e-5, "\(name): softmax(q·k·scale) misses the attention by \(worst)")
    }

    @Test func slidingWindowHidesTheKeysBeforeIt() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("mistral"))
        let attention = try #require(try model.forward(ModelInput(ids: Array(1 ... 8)), capture: []).stacks[.encoder]).attention
        for l in 0 ..< 2 { for h in 0 ..< 4 { for i in 0 ..< 8 { for j in 0 ..< 8 {
            let visible = j <= i && i - j < 3
            #expect((attention[l, h, i, j] > 0) == visible, "layer \(l) head \(h) query \(i) key \(j)")
        } } } }
    }

    /// transformers 4's layout (`rope_theta` + `rope_scaling`) and 5's (`rope_parameters`) give the
    /// same model.
    @Test func bothRopeLayoutsReadTheSame() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-rope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = ArchitectureFixtures.url("llama")
        try FileManager.default.copyItem(at: source.appendingPathComponent("model.safetensors"), to: folder.appendingPathComponent("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source.appendingPathComponent("config.json"))) as! [String: Any]
        var rope = config.removeValue(forKey: "rope_scaling") as! [String: Any]
        rope["rope_theta"] = config.removeValue(forKey: "rope_theta")
        config["rope_parameters"] = rope
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        let input = ModelInput(ids: [1, 2, 3, 40, 50])
        let legacy = try ModelRegistry.load(folder: source).forward(input, capture: [])
        let current = try ModelRegistry.load(folder: folder).forward(input, capture: [])
        #expect(legacy.stacks[.encoder]!.attention == current.stacks[.encoder]!.attention)
        #expect(legacy.lastHidden == current.lastHidden)
    }
}

/// SmolLM2-135M-Instruct's Q4_1 GGUF as AttnLab reads it and as transformers reads it
/// (`from_pretrained(gguf_file=…)`, float32, eager attention).
@Suite struct SmolLM2ParityTests {
    struct Case: Decodable {
        var text: String
        var chat: [ChatMessage]?
        var ids: [Int]
        var layers: [Int]
        var first_query: Int
        var attention: [[[[Double]]]]
        var top_ids: [Int]
        var top_probabilities: [Double]
    }

    static func cases() throws -> [Case] {
        struct File: Decodable { var cases: [Case] }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("gguf/smollm2-parity.json"))).cases
    }

    /// Same token ids, attention of layers 0, 14 and 29 within 1e-5, and the probabilities of the
    /// 20 most probable next tokens within 1e-4, in the same order.
    @Test func promptsMatchTransformers() throws {
        let folder = try Fixtures.realGGUF().deletingLastPathComponent()
        let model = try ModelRegistry.load(folder: folder)
        let tokenizer = try TokenizerLoader.load(folder: folder)
        let template = try #require(try ChatTemplate.load(folder: folder))
        for test in try Self.cases() {
            if let messages = test.chat {
                #expect(try template.render(messages, addGenerationPrompt: true) == test.text)
            }
            let ids = try tokenizer.encode(test.text, pair: nil, maxLength: 8192, truncate: false).ids
            #expect(ids == test.ids, "token ids of \(test.text.debugDescription)")
            let output = try model.forward(ModelInput(ids: test.ids), capture: [])
            let attention = try #require(output.stacks[.encoder]).attention
            var worst = 0.0
            for (slot, layer) in test.layers.enumerated() {
                for (h, rows) in test.attention[slot].enumerated() {
                    for (r, row) in rows.enumerated() {
                        for (j, value) in row.enumerated() {
                            worst = max(worst, abs(Double(attention[layer, h, test.first_query + r, j]) - value))
                        }
                    }
                }
            }
            #expect(worst < 1e-5, "attention of \(test.text.debugDescription) misses by \(worst)")
            let logits = try model.languageModelLogits(output, positions: [ids.count - 1])
            let maximum = Double(logits.scalars.max()!)
            let total = logits.scalars.reduce(0.0) { $0 + Foundation.exp(Double($1) - maximum) }
            let probabilities = logits.scalars.map { Foundation.exp(Double($0) - maximum) / total }
            let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(test.top_ids.count)
            #expect(Array(ranked) == test.top_ids, "next tokens after \(test.text.debugDescription)")
            let missed = zip(test.top_ids, test.top_probabilities).map { abs(probabilities[$0] - $1) }.max()!
            #expect(missed < 1e-4, "next-token probabilities of \(test.text.debugDescription) miss by \(missed)")
        }
    }
}

/// Configurations the Llama family cannot run are refused before a weight is read, each problem named.
@Suite struct LlamaFamilyConfigTests {
    /// The error of loading a folder whose config.json is `fixture`'s with `changes` applied.
    static func error(_ fixture: String, _ changes: [String: Any?]) throws -> ModelError {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: ArchitectureFixtures.url("\(fixture)/config.json"))) as! [String: Any]
        for (key, value) in changes { config[key] = value ?? NSNull() }
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        // No weights: the configuration is refused before they are looked for.
        return try #require(throws: ModelError.self) { try ModelRegistry.load(folder: folder) }
    }

    @Test func groupedHeadsMustDivide() throws {
        let error = try Self.error("llama", ["num_key_value_heads": 3])
        #expect(error.message.contains("num_attention_heads 4 is not a multiple of num_key_value_heads 3"))
        #expect(try Self.error("mistral", ["num_key_value_heads": 8]).message.contains("num_key_value_heads 8 is more than num_attention_heads 4"))
        #expect(try Self.error("qwen2", ["num_attention_heads": 0]).message.contains("num_attention_heads is 0"))
    }

    @Test func unknownRotaryVariantsAreNamed() throws {
        let dynamic = try Self.error("llama", ["rope_scaling": ["rope_type": "dynamic", "factor": 2.0]])
        #expect(dynamic.message.contains("rope type \"dynamic\" is not supported"))
        let longrope = try Self.error("phi3", ["rope_parameters": ["rope_type": "longrope", "rope_theta": 10000.0,
                                                                  "short_factor": [1.0], "long_factor": [1.0]]])
        #expect(longrope.message.contains("rope type \"longrope\" is not supported"))
        #expect(try Self.error("qwen3", ["rope_parameters": ["rope_type": "default", "rope_theta": -1.0]]).message.contains("rope_theta is -1.0"))
        #expect(try Self.error("phi3", ["rope_parameters": ["rope_type": "default", "rope_theta": 1.0, "partial_rotary_factor": 0.1]])
            .message.contains("partial_rotary_factor 0.1"))
    }

    @Test func windowsAndModesAttnLabDoesNotRunAreRefused() throws {
        // transformers 5 writes layer_types; without it they follow from max_window_layers.
        let mixed = try Self.error("qwen2", ["use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1, "layer_types": nil])
        #expect(mixed.message.contains("the sliding window covers some layers and not others"))
        let typed = try Self.error("qwen3", ["use_sliding_window": true, "sliding_window": 4, "layer_types": ["full_attention", "sliding_attention"]])
        #expect(typed.message.contains("the sliding window covers some layers and not others"))
        #expect(try Self.error("mistral", ["sliding_window": 0]).message.contains("sliding_window is 0"))
        #expect(try Self.error("gemma", ["use_bidirectional_attention": true]).message.contains("use_bidirectional_attention"))
    }

    /// Mistral's window is 4096 when config.json leaves it out, and none when it says null; Qwen2's
    /// applies only with use_sliding_window (on every layer from max_window_layers 0).
    @Test func slidingWindowDefaultsFollowTransformers() throws {
        func decoded<C: Decodable>(_ type: C.Type, _ json: String) throws -> C { try JSONDecoder().decode(C.self, from: Data(json.utf8)) }
        let base = #""vocab_size": 10, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2"#
        #expect(try decoded(MistralConfig.self, "{\(base)}").slidingWindow == 4096)
        #expect(try decoded(MistralConfig.self, "{\(base), \"sliding_window\": null}").slidingWindow == nil)
        #expect(try decoded(Qwen2Config.self, "{\(base), \"sliding_window\": 4}").window.window(layers: 2) == nil)
        #expect(try decoded(Qwen2Config.self, "{\(base), \"use_sliding_window\": true, \"sliding_window\": 4, \"max_window_layers\": 0}")
            .window.window(layers: 2) == 4)
        #expect(try decoded(Qwen3Config.self, "{\(base)}").keys.headWidth == 128)
        #expect(try decoded(GemmaConfig.self, "{\(base), \"hidden_act\": \"gelu\"}").keys.hiddenAct == "gelu_pytorch_tanh")
    }
}
