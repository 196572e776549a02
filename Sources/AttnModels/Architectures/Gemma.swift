import AttnCore
import Foundation

/// Gemma (the first generation), as transformers' `modeling_gemma.py` computes it with eager
/// attention: Llama's layers with RMSNorms that multiply by `1 + w`, a GeGLU feed-forward
/// (`gelu_pytorch_tanh`, also for the legacy `"gelu"`), the token embeddings multiplied by
/// √hidden_size, heads 256 wide unless the file says otherwise, and the LM head tied.
///
/// transformers multiplies the embeddings by √hidden_size rounded to the weights' dtype (float32
/// for a float32 model, which is how AttnLab computes every model).
public struct GemmaConfig: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var useBidirectionalAttention: Bool?

    enum CodingKeys: String, CodingKey { case useBidirectionalAttention = "use_bidirectional_attention" }

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        // GemmaConfig's defaults: heads 256 wide, tied embeddings; "gelu" means the tanh approximation.
        keys.headDim = keys.headDim ?? 256
        keys.numKeyValueHeads = keys.numKeyValueHeads ?? 16
        keys.tieWordEmbeddings = keys.tieWordEmbeddings ?? true
        if keys.hiddenAct == nil || keys.hiddenAct == "gelu" { keys.hiddenAct = "gelu_pytorch_tanh" }
        useBidirectionalAttention = try decoder.container(keyedBy: CodingKeys.self)
            .decodeIfPresent(Bool.self, forKey: .useBidirectionalAttention)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        check.require(useBidirectionalAttention != true,
                      "use_bidirectional_attention (an embedding model) is not supported (AttnLab runs Gemma as a causal language model)")
    }
}

/// A Gemma decoder and its LM head (next-token logits).
public final class GemmaModel: TransformerModel {
    public let config: GemmaConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let embeddingScale: Float       // √hidden, in float32
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: GemmaConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, vocabulary) = (c.hiddenSize, c.vocabSize)
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        let eps = Float(c.rmsNormEps ?? 1e-6)
        let options = LlamaFamilyLayers.Options(
            hidden: h, shape: shape, inner: c.intermediateSize, eps: eps,
            projectionBias: c.attentionBias ?? false, outputBias: c.attentionBias ?? false, mlpBias: false,
            activation: try Activation(named: c.hiddenAct ?? "gelu_pytorch_tanh", path: path),
            rotary: try c.rotaryEmbedding(headDim: shape.headDim, path: path), unitOffset: true)
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Gemma")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        embeddingScale = Float(Double(h).squareRoot())
        layers = try (0 ..< c.numHiddenLayers).map { try LlamaFamilyLayers.layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps, unitOffset: true)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? true, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "gemma", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                               hidden: h, intermediate: c.intermediateSize, vocabulary: vocabulary,
                               maxPositions: c.maxPositionEmbeddings ?? 8192)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = layers.count
        var stack = StackPass(.encoder, layers: L, shape: shape, queries: n, keys: n, hidden: config.keys.hiddenSize,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: L),
                              causal: true, rotary: true, pass: options)
        let mask = AttentionMask(keys: input.attentionMask, causal: true)
        var x = embed(input.ids, in: embeddings, scale: embeddingScale)           // (n, h)
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
