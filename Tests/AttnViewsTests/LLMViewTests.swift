import AttnCore
import AttnModels
import Foundation
import Testing
@testable import AttnViews

/// The views at a language model's scale, in headless Chromium: SmolLM2-135M-Instruct (30 layers ×
/// 9 query heads over 3 key/value heads) run on a 512-token prompt and on a chat prompt. Each page's
/// `#selftest` drives it as on a small model; the model view hides the attention sink (the first
/// token) by default and its toggle brings it back.
@Suite(.serialized)
struct LLMViewTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Models/SmolLM2-135M-Instruct")

    /// A 512-token prompt of words drawn from a small list (the same every run), and a chat prompt.
    static let traces: (long: Trace, chat: Trace)? = {
        guard let loaded = try? LoadedModel(model.path) else { return nil }
        var generator = SplitMix64(seed: 5)
        let words = "the capital of france is paris and the capital of italy is rome while every token looks at the tokens before it".split(separator: " ")
        var text = "", count = 0
        while count < 512 {
            text += (text.isEmpty ? "" : " ") + words[Int(generator.next() % UInt64(words.count))]
            count = (try? loaded.tokenizer.encode(text).count) ?? 512
        }
        while (try? loaded.tokenizer.encode(text).count) ?? 0 > 512 { text.removeLast() }
        var long = TraceRequest(a: text, capture: [.qkv])
        long.threads = 2
        var chat = TraceRequest(a: (try? loaded.renderChat([ChatMessage(role: "user", content: "What is the capital of France?")])) ?? "", capture: [.qkv])
        chat.chat = true
        guard let a = try? loaded.trace(long), let b = try? loaded.trace(chat) else { return nil }
        return (a, b)
    }()

    func page(_ trace: Trace, _ view: ViewKind, _ options: ViewOptions = ViewOptions(), name: String) throws -> URL {
        let url = BrowserTests.folder.appendingPathComponent("smollm2-\(name).html")
        try ViewRenderer.write(trace, view: view, options: options, to: url)
        return url
    }

    func expectPassed(_ result: Chromium.SelfTest, expecting names: [String], _ label: String) {
        #expect(result.errors.isEmpty, "\(label): console errors \(result.errors)")
        #expect(result.failures.isEmpty, "\(label): failed checks \(result.failures)")
        let missing = Set(names).subtracting(result.checkNames)
        #expect(missing.isEmpty, "\(label): checks not run \(missing.sorted())")
        #expect(result.passed, "\(label)")
    }

    /// 270 heads of 512 × 512: at most 40 MB, every thumbnail drawn (as matrices), the first token
    /// hidden by default and shown on request.
    @Test func modelViewOf270HeadsAt512Tokens() throws {
        let traces = try #require(Self.traces, "SmolLM2 is not in Models/ (run make setup)")
        #expect(traces.long.tokens.count == 512)
        let url = try page(traces.long, .model, name: "long-model")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        #expect(size <= 40_000_000, "model view page of 512 tokens × 270 heads is \(size) bytes")
        let result = try Chromium.selfTest(url)
        expectPassed(result, expecting: ["grid of layers × heads", "every thumbnail drawn", "first token hidden by default for causal models only",
                                         "hide the first token", "hidden first token in matrices", "show the first token", "switch thumbnails to lines"],
                     "model view, SmolLM2, 512 tokens")
        #expect(result.facts["thumbnails"] as? String == "matrix")
        #expect(result.facts["hideFirstKey"] as? Bool == true)
        print("SmolLM2 model view, 512 tokens × 270 heads: \(size / 1_000_000) MB, first draw at \(Int(result.firstDrawMilliseconds ?? -1)) ms after navigation")
    }

    @Test func headAndNeuronViewsAt512Tokens() throws {
        let traces = try #require(Self.traces, "SmolLM2 is not in Models/ (run make setup)")
        let head = try Chromium.selfTest(try page(traces.long, .head, ViewOptions(layer: 14), name: "long-head"))
        expectPassed(head, expecting: ["lines drawn for every head", "hover isolates lines", "click pins a token", "top-k per token"], "head view, SmolLM2, 512 tokens")
        let neuron = try Chromium.selfTest(try page(traces.long, .neuron, ViewOptions(layer: 14, selectedHeads: [5], token: 300), name: "long-neuron"))
        expectPassed(neuron, expecting: ["vectors drawn", "α is a distribution", "select head"], "neuron view, SmolLM2, 512 tokens")
    }

    /// The chat prompt's views: the page's α over the visible keys is softmax(q·k·scale) for every
    /// query head, each reading its key/value head (grouped-query attention), with rotated q and k.
    @Test func chatPromptInEveryView() throws {
        let traces = try #require(Self.traces, "SmolLM2 is not in Models/ (run make setup)")
        let model = try Chromium.selfTest(try page(traces.chat, .model, name: "chat-model"))
        expectPassed(model, expecting: ["lines thumbnails", "hide the first token", "show the first token", "open cell has the thumbnail's lines"], "model view, chat")
        let head = try Chromium.selfTest(try page(traces.chat, .head, name: "chat-head"))
        expectPassed(head, expecting: ["lines drawn for every head"], "head view, chat")
        for layer in [0, 15, 29] {
            let neuron = try Chromium.selfTest(try page(traces.chat, .neuron, ViewOptions(layer: layer), name: "chat-neuron-\(layer)"))
            expectPassed(neuron, expecting: ["α is a distribution", "select head"], "neuron view, chat, layer \(layer)")
            let perHead = neuron.facts.first { $0.key.hasPrefix("layer ") }?.value as? [String: [String: Double]] ?? [:]
            #expect(perHead.count == 9)
            for (head, facts) in perHead {
                #expect(facts["maskedGap"]! < 0.02, "layer \(layer) head \(head): α differs from softmax(q·k·scale) by \(facts["maskedGap"]!)")
            }
        }
    }
}
