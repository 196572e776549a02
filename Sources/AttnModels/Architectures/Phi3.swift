import AttnCore
import Foundation

/// Phi-3, as transformers' `modeling_phi3.py` computes it with eager attention: Llama's layers with
/// the query, key and value projections fused in one weight (`qkv_proj`, rows q | k | v), the gate
/// and up projections fused in another (`gate_up_proj`, rows gate | up), rotary positions over the
/// first `partial_rotary_factor` of each head, and a sliding window when `sliding_window` is set.
/// Phi-3's long-context rotary variant (`longrope`, which transformers also makes of `su` and
/// `yarn`) is not supported.
public struct Phi3Config: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var slidingWindow: Int?

    enum CodingKeys: String, CodingKey { case slidingWindow = "sliding_window" }

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        slidingWindow = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Int.self, forKey: .slidingWindow)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check, ropeTypes: ["default"])
        check.within("sliding_window", slidingWindow, 1 ... ConfigCheck.maxPositions)
    }
}

/// A Phi-3 decoder and its LM head (next-token logits).
public final class Phi3Model: TransformerModel {
    public let config: Phi3Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: Phi3Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, m, vocabulary) = (c.hiddenSize, c.intermediateSize, c.vocabSize)
        let shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        self.shape = shape
        let eps = Float(c.rmsNormEps ?? 1e-5)
        let activation = try Activation(named: c.hiddenAct ?? "silu", path: path)
        let rotary = try c.rotaryEmbedding(headDim: shape.headDim, path: path)
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Phi-3")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        layers = try (0 ..< c.numHiddenLayers).map { i in
            let p = "layers.\(i)."
            var attention = SelfAttention(
                qkv: try w.linear(p + "self_attn.qkv_proj", in: h, out: shape.queryWidth + 2 * shape.keyValueWidth, bias: false, base: true),
                output: try w.linear(p + "self_attn.o_proj", in: shape.queryWidth, out: h, bias: false, base: true), shape: shape)
            attention.transform = QueryKeyTransform(rotary: rotary)
            let feedForward = FeedForward(gateUp: try w.linear(p + "mlp.gate_up_proj", in: h, out: 2 * m, bias: false, base: true),
                                          down: try w.linear(p + "mlp.down_proj", in: m, out: h, bias: false, base: true),
                                          activation: activation)
            return PreNormDecoderLayer(inputNorm: try RMSNorm(w, p + "input_layernorm", dim: h, eps: eps), attention: attention,
                                       postAttentionNorm: try RMSNorm(w, p + "post_attention_layernorm", dim: h, eps: eps),
                                       feedForward: feedForward)
        }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? false, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "phi3", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                               hidden: h, intermediate: m, vocabulary: vocabulary, maxPositions: c.maxPositionEmbeddings ?? 4096)
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
