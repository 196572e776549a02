import AttnCore
import Foundation

/// Qwen2 (and Qwen2.5), as transformers' `modeling_qwen2.py` computes it with eager attention:
/// Llama's layers with biases on the query, key and value projections (none on the output), and a
/// sliding window only when `use_sliding_window` says so.
public struct Qwen2Config: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var window: QwenSlidingWindow

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        // Qwen2Config's default is 32 key/value heads, not one per query head.
        keys.numKeyValueHeads = keys.numKeyValueHeads ?? 32
        window = try QwenSlidingWindow(from: decoder)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        window.check(&check, layers: keys.numHiddenLayers)
    }
}

/// Qwen2's and Qwen3's sliding window: `sliding_window` (4096 when absent) if `use_sliding_window`,
/// on the layers `layer_types` calls `sliding_attention` (by default, those from `max_window_layers`
/// on). AttnLab runs it on every layer or on none: a trace states one window for its stack.
public struct QwenSlidingWindow: Decodable, Sendable {
    public var useSlidingWindow: Bool
    public var slidingWindow: Int?
    public var maxWindowLayers: Int
    public var layerTypes: [String]?

    enum CodingKeys: String, CodingKey {
        case useSlidingWindow = "use_sliding_window", slidingWindow = "sliding_window", maxWindowLayers = "max_window_layers"
        case layerTypes = "layer_types"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
        slidingWindow = c.contains(.slidingWindow) ? try c.decodeIfPresent(Int.self, forKey: .slidingWindow) : 4096
        maxWindowLayers = try c.decodeIfPresent(Int.self, forKey: .maxWindowLayers) ?? 28
        layerTypes = try c.decodeIfPresent([String].self, forKey: .layerTypes)
    }

    /// Which layers slide, as transformers derives them.
    func slidingLayers(_ layers: Int) -> [Bool] {
        guard useSlidingWindow, slidingWindow != nil else { return Array(repeating: false, count: layers) }
        if let layerTypes { return layerTypes.map { $0 == "sliding_attention" } }
        return (0 ..< layers).map { $0 >= maxWindowLayers }
    }

    /// The window of every layer, or nil when none slides.
    func window(layers: Int) -> Int? {
        slidingLayers(layers).contains(true) ? slidingWindow : nil
    }

    func check(_ check: inout ConfigCheck, layers: Int) {
        guard useSlidingWindow else { return }
        check.within("sliding_window", slidingWindow, 1 ... ConfigCheck.maxPositions)
        if let layerTypes {
            check.require(layerTypes.count == layers, "layer_types lists \(layerTypes.count) layers, num_hidden_layers is \(layers)")
            let unknown = Set(layerTypes).subtracting(["sliding_attention", "full_attention"])
            check.require(unknown.isEmpty, "layer_types holds \(unknown.sorted().joined(separator: ", ")), expected sliding_attention or full_attention")
        }
        let sliding = Set(slidingLayers(max(0, min(layers, ConfigCheck.maxLayers))))
        check.require(sliding.count < 2,
                      "the sliding window covers some layers and not others (max_window_layers \(maxWindowLayers) or layer_types), which AttnLab does not run; it runs the window on every layer or on none")
    }
}

/// A Qwen2 decoder and its LM head (next-token logits).
public final class Qwen2Model: TransformerModel {
    public let config: Qwen2Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: Qwen2Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, vocabulary) = (c.hiddenSize, c.vocabSize)
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        let eps = Float(c.rmsNormEps ?? 1e-6)
        let options = LlamaFamilyLayers.Options(
            hidden: h, shape: shape, inner: c.intermediateSize, eps: eps, projectionBias: true, outputBias: false, mlpBias: false,
            activation: try Activation(named: c.hiddenAct ?? "silu", path: path),
            rotary: try c.rotaryEmbedding(headDim: shape.headDim, path: path))
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Qwen2")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        layers = try (0 ..< c.numHiddenLayers).map { try LlamaFamilyLayers.layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? false, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "qwen2", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                               hidden: h, intermediate: c.intermediateSize, vocabulary: vocabulary,
                               maxPositions: c.maxPositionEmbeddings ?? 32768)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = layers.count
        let window = config.window.window(layers: L)
        var stack = StackPass(.encoder, layers: L, shape: shape, queries: n, keys: n, hidden: config.keys.hiddenSize,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: L),
                              causal: true, slidingWindow: window, rotary: true, pass: options)
        let mask = AttentionMask(keys: input.attentionMask, causal: true, window: window)
        var x = embed(input.ids, in: embeddings)                                   // (n, h)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)                  // (n, h)
            if l < L - 1 { stack.keepHidden(x, at: l + 1) }
        }
        x = finalNorm(x)
        stack.keepHidden(x, at: L)
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        LlamaFamilyLayers.flops(tokens: n, layers: layers.count, hidden: config.keys.hiddenSize, shape: shape,
                                inner: config.keys.intermediateSize, vocabulary: config.keys.vocabSize)
    }
}
