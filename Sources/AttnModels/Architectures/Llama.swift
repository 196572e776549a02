import AttnCore
import Foundation

/// Llama (Llama 2 and 3.x, SmolLM2, TinyLlama), as transformers' `modeling_llama.py` computes it with
/// eager attention: pre-norm layers with RMSNorm, grouped-query attention with rotary positions
/// (`rope_theta`; `rope_scaling` or `rope_parameters` of type default, linear, llama3 or yarn), a
/// SiLU-gated feed-forward, and an LM head tied to the token embeddings or of its own.
public struct LlamaConfig: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
    }
}

/// A Llama decoder and its LM head (next-token logits).
public final class LlamaModel: TransformerModel {
    public let config: LlamaConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let embeddings: Tensor          // embed_tokens [vocab, hidden]
    private let layers: [PreNormDecoderLayer]
    private let finalNorm: RMSNorm
    private let shape: HeadShape

    public init(config: LlamaConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let (h, vocabulary) = (c.hiddenSize, c.vocabSize)
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        let eps = Float(c.rmsNormEps ?? 1e-6)
        let options = LlamaFamilyLayers.Options(
            hidden: h, shape: shape, inner: c.intermediateSize, eps: eps,
            projectionBias: c.attentionBias ?? false, outputBias: c.attentionBias ?? false, mlpBias: c.mlpBias ?? false,
            activation: try Activation(named: c.hiddenAct ?? "silu", path: path),
            rotary: try c.rotaryEmbedding(headDim: shape.headDim, path: path))
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: "Llama")
        embeddings = try w.base("embed_tokens.weight", [vocabulary, h])
        layers = try (0 ..< c.numHiddenLayers).map { try LlamaFamilyLayers.layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: h, eps: eps)
        let lmHead = try LlamaFamilyLayers.languageModelHead(w, tied: c.tieWordEmbeddings ?? false, embeddings: embeddings,
                                                             vocabulary: vocabulary, hidden: h)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        summary = ModelSummary(architecture: "llama", layers: c.numHiddenLayers, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                               hidden: h, intermediate: c.intermediateSize, vocabulary: vocabulary,
                               maxPositions: c.maxPositionEmbeddings ?? 2048)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = layers.count
        // One causal stack over the input's tokens, kept as `encoder` (as for GPT-2).
        var stack = StackPass(.encoder, layers: L, shape: shape, queries: n, keys: n, hidden: config.keys.hiddenSize,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: L),
                              causal: true, rotary: true, pass: options)
        let mask = AttentionMask(keys: input.attentionMask, causal: true)
        var x = embed(input.ids, in: embeddings)                                   // (n, h)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)                  // (n, h)
            if l < L - 1 { stack.keepHidden(x, at: l + 1) }
        }
        // The final RMSNorm; transformers reports its output as the last hidden state.
        x = finalNorm(x)
        stack.keepHidden(x, at: L)
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    public func forwardFLOPs(tokens n: Int) -> Double {
        LlamaFamilyLayers.flops(tokens: n, layers: layers.count, hidden: config.keys.hiddenSize, shape: shape,
                                inner: config.keys.intermediateSize, vocabulary: config.keys.vocabSize)
    }
}
