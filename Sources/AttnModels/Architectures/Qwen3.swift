import AttnCore
import Foundation

/// Qwen3, as transformers' `modeling_qwen3.py` computes it with eager attention: Qwen2's layers
/// with an RMSNorm over each head's query and key (weights `q_norm`, `k_norm`, `[head_dim]`) before
/// the rotation, biases only with `attention_bias`, and `head_dim` 128 unless the file says otherwise.
public struct Qwen3Config: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var window: QwenSlidingWindow

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        // Qwen3Config's defaults: 32 key/value heads, heads 128 wide.
        keys.numKeyValueHeads = keys.numKeyValueHeads ?? 32
        keys.headDim = keys.headDim ?? 128
        window = try QwenSlidingWindow(from: decoder)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        window.check(&check, layers: keys.numHiddenLayers)
    }
}

/// A Qwen3 decoder and its LM head (next-token logits).
public final class Qwen3Model: TransformerModel {
    public let config: Qwen3Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: Qwen3Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, vocabulary) = (c.hiddenSize, c.vocabSize)
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        let eps = Float(c.rmsNormEps ?? 1e-6)
        let options = LlamaFamilyLayers.Options(
            hidden: h, shape: shape, inner: c.intermediateSize, eps: eps,
            projectionBias: c.attentionBias ?? false, outputBias: c.attentionBias ?? false, mlpBias: false,
            activation: try Activation(named: c.hiddenAct ?? "silu", path: path),
            rotary: try c.rotaryEmbedding(headDim: shape.headDim, path: path), queryKeyNorm: true)
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Qwen3")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        layers = try (0 ..< c.numHiddenLayers).map { try LlamaFamilyLayers.layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? false, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "qwen3", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
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
