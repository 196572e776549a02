import AttnCore
import Foundation

/// Mistral, as transformers' `modeling_mistral.py` computes it with eager attention: Llama's layers
/// (no biases) with sliding-window attention: query `i` sees keys `i - sliding_window + 1 … i`.
public struct MistralConfig: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    /// `sliding_window`: 4096 when the file does not say, none when it says null (as MistralConfig).
    public var slidingWindow: Int?

    enum CodingKeys: String, CodingKey { case slidingWindow = "sliding_window" }

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        slidingWindow = container.contains(.slidingWindow) ? try container.decodeIfPresent(Int.self, forKey: .slidingWindow) : 4096
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        check.within("sliding_window", slidingWindow, 1 ... ConfigCheck.maxPositions)
    }
}

/// A Mistral decoder and its LM head (next-token logits).
public final class MistralModel: TransformerModel {
    public let config: MistralConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: MistralConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, vocabulary) = (c.hiddenSize, c.vocabSize)
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        let eps = Float(c.rmsNormEps ?? 1e-6)
        let options = LlamaFamilyLayers.Options(
            hidden: h, shape: shape, inner: c.intermediateSize, eps: eps, projectionBias: false, outputBias: false, mlpBias: false,
            activation: try Activation(named: c.hiddenAct ?? "silu", path: path),
            rotary: try c.rotaryEmbedding(headDim: shape.headDim, path: path))
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Mistral")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        layers = try (0 ..< c.numHiddenLayers).map { try LlamaFamilyLayers.layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? false, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "mistral", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                               hidden: h, intermediate: c.intermediateSize, vocabulary: vocabulary,
                               maxPositions: c.maxPositionEmbeddings ?? 4096 * 32)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = layers.count
        let window = config.slidingWindow
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
