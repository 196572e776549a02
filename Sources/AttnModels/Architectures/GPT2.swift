import AttnCore
import Foundation

/// GPT-2, as transformers' `modeling_gpt2.py` computes it with eager attention: pre-norm blocks,
/// causal self-attention, Conv1D weights stored `[in, out]`, and the LM head tied to the token
/// embeddings.
public struct GPT2Config: Codable, Sendable, ArchitectureConfig {
    public var vocabSize: Int
    public var nPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    public var nInner: Int?
    public var activationFunction: String?
    public var layerNormEpsilon: Float?
    public var scaleAttnWeights: Bool?
    public var scaleAttnByInverseLayerIdx: Bool?
    public var addCrossAttention: Bool?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", nPositions = "n_positions", nEmbd = "n_embd", nLayer = "n_layer", nHead = "n_head"
        case nInner = "n_inner", activationFunction = "activation_function", layerNormEpsilon = "layer_norm_epsilon"
        case scaleAttnWeights = "scale_attn_weights", scaleAttnByInverseLayerIdx = "scale_attn_by_inverse_layer_idx"
        case addCrossAttention = "add_cross_attention"
    }

    func check(_ check: inout ConfigCheck) {
        check.vocabulary("vocab_size", vocabSize)
        check.positions("n_positions", nPositions)
        check.width("n_embd", nEmbd)
        check.layers("n_layer", nLayer)
        check.heads("n_head", nHead)
        check.multiple("n_embd", nEmbd, of: "n_head", nHead)
        check.width("n_inner", nInner)
        check.positive("layer_norm_epsilon", layerNormEpsilon.map(Double.init))
        check.require(addCrossAttention != true, "GPT-2 with cross-attention (add_cross_attention) is not supported (AttnLab runs GPT-2 as a language model)")
    }
}

/// A pre-norm GPT-2 block: `x + attention(LN(x))`, then `x + MLP(LN(x))`.
private struct GPT2Block: Sendable {
    var norm1: LayerNorm
    var attention: SelfAttention
    var norm2: LayerNorm
    var feedForward: FeedForward

    init(_ w: WeightLoader, _ i: Int, _ c: GPT2Config, inner m: Int, activation: Activation) throws {
        let (h, eps) = (c.nEmbd, c.layerNormEpsilon ?? 1e-5)
        let p = "h.\(i)."
        norm1 = try LayerNorm(w, p + "ln_1", dim: h, eps: eps)
        // Conv1D keeps its weight as [in, out]: c_attn's columns are q | k | v, heads interleaved.
        attention = SelfAttention(qkv: try w.conv1D(p + "attn.c_attn", in: h, out: 3 * h), output: try w.conv1D(p + "attn.c_proj", in: h, out: h),
                                  shape: HeadShape(heads: c.nHead, headDim: h / c.nHead))
        norm2 = try LayerNorm(w, p + "ln_2", dim: h, eps: eps)
        feedForward = FeedForward(up: try w.conv1D(p + "mlp.c_fc", in: h, out: m), down: try w.conv1D(p + "mlp.c_proj", in: m, out: h),
                                  activation: activation)
    }

    func callAsFunction(_ x: Tensor, mask: AttentionMask, stack: inout StackPass, layer: Int) -> Tensor {
        var x = x
        stack.visit(.residual, layer: layer, &x)
        x += attention(norm1(x), mask: mask, stack: &stack, layer: layer)         // (n, h)
        var mlp = feedForward(norm2(x))                                           // (n, h)
        stack.visit(.mlp, layer: layer, &mlp)
        x += mlp
        return x
    }
}

/// GPT-2's decoder stack and its LM head (next-token logits at every position).
public final class GPT2Model: TransformerModel {
    public let config: GPT2Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let tokenEmbeddings: Tensor     // wte [vocab, hidden]
    private let positionEmbeddings: Tensor  // wpe [positions, hidden]
    private let blocks: [GPT2Block]
    private let finalNorm: LayerNorm
    /// The score scale of each layer: 1/√d unless `scale_attn_weights` is false, divided by l + 1
    /// with `scale_attn_by_inverse_layer_idx`.
    private let scales: [Float]

    public init(config c: GPT2Config, weights: WeightStore, path: String) throws {
        config = c
        let activation = try Activation(named: c.activationFunction ?? "gelu_new", path: path)
        let (h, m) = (c.nEmbd, c.nInner ?? 4 * c.nEmbd)
        let w = WeightLoader(store: weights, probe: "wte.weight", prefixes: ["transformer.", ""], architecture: "GPT-2")
        tokenEmbeddings = try w.base("wte.weight", [c.vocabSize, h])
        positionEmbeddings = try w.base("wpe.weight", [c.nPositions, h])
        blocks = try (0 ..< c.nLayer).map { try GPT2Block(w, $0, c, inner: m, activation: activation) }
        finalNorm = try LayerNorm(w, "ln_f", dim: h, eps: c.layerNormEpsilon ?? 1e-5)
        let lmHead = tied(try w.optional("lm_head.weight", [c.vocabSize, h]), to: tokenEmbeddings)   // [vocab, hidden]
        try w.finish()
        outputHeads = OutputHeads(languageModel: .projection(lmHead, task: .causalLM))
        let base: Float = c.scaleAttnWeights ?? true ? 1 / Float(h / c.nHead).squareRoot() : 1
        scales = (0 ..< c.nLayer).map { c.scaleAttnByInverseLayerIdx == true ? base / Float($0 + 1) : base }
        summary = ModelSummary(architecture: "gpt2", layers: c.nLayer, heads: c.nHead, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.nPositions)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = blocks.count
        // One stack over the input's tokens: `.encoder` in the trace's terms (its queries and keys are
        // the input's tokens), with a causal mask.
        var stack = StackPass(.encoder, layers: L, shape: blocks[0].attention.shape, queries: n, keys: n, hidden: config.nEmbd,
                              scales: scales, causal: true, pass: options)
        let mask = AttentionMask(keys: input.attentionMask, causal: true)

        // Token + position embeddings.                                  x: (n, h)
        var x = embed(input.ids, in: tokenEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings)
        for l in stack.layerRange(input: &x) {
            x = blocks[l](x, mask: mask, stack: &stack, layer: l)                 // (n, h)
            if l < L - 1 { stack.keepHidden(x, at: l + 1) }
        }
        // The final LayerNorm; transformers reports its output as the last hidden state.
        x = finalNorm(x)
        stack.keepHidden(x, at: L)
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }
}
