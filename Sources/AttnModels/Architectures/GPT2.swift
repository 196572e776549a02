import AttnCore
import Foundation

/// GPT-2, as transformers' `modeling_gpt2.py` computes it with eager attention: pre-norm blocks,
/// causal self-attention, Conv1D weights stored `[in, out]`, and the LM head tied to the token
/// embeddings.
public struct GPT2Config: Codable, Sendable {
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
}

private struct GPT2Block: Sendable {
    var norm1: LayerNormWeights
    var attention: SelfAttentionWeights
    var norm2: LayerNormWeights
    var feedForward: FeedForwardWeights

    init(_ w: WeightLoader, _ i: Int, _ c: GPT2Config, inner m: Int, activation: FeedForwardActivation) {
        let (h, eps) = (c.nEmbd, c.layerNormEpsilon ?? 1e-5)
        let p = "h.\(i)."
        norm1 = LayerNormWeights(w, p + "ln_1", dim: h, eps: eps)
        // Conv1D keeps its weight as [in, out]: c_attn's columns are q | k | v, heads interleaved.
        attention = SelfAttentionWeights(qkv: Linear(kernel: w.base(p + "attn.c_attn.weight", [h, 3 * h]), bias: w.base(p + "attn.c_attn.bias", [3 * h])),
                                         output: Linear(kernel: w.base(p + "attn.c_proj.weight", [h, h]), bias: w.base(p + "attn.c_proj.bias", [h])),
                                         heads: c.nHead, headDim: h / c.nHead)
        norm2 = LayerNormWeights(w, p + "ln_2", dim: h, eps: eps)
        feedForward = FeedForwardWeights(input: Linear(kernel: w.base(p + "mlp.c_fc.weight", [h, m]), bias: w.base(p + "mlp.c_fc.bias", [m])),
                                         gate: nil,
                                         output: Linear(kernel: w.base(p + "mlp.c_proj.weight", [m, h]), bias: w.base(p + "mlp.c_proj.bias", [h])),
                                         activation: activation)
    }
}

/// GPT-2's decoder stack and its LM head (next-token logits at every position).
public final class GPT2Model: TransformerModel {
    public let config: GPT2Config
    public let summary: ModelSummary
    public let taskHeads: Set<TaskHead>

    private let tokenEmbeddings: Tensor     // wte [vocab, hidden]
    private let positionEmbeddings: Tensor  // wpe [positions, hidden]
    private let blocks: [GPT2Block]
    private let finalNorm: LayerNormWeights
    private let lmHead: Tensor              // [vocab, hidden]: wte, or lm_head.weight when the file has its own

    public init(config c: GPT2Config, weights: WeightStore, path: String) throws {
        config = c
        guard c.nEmbd % c.nHead == 0 else {
            throw ModelError("n_embd \(c.nEmbd) is not a multiple of n_head \(c.nHead)", location: path)
        }
        if c.addCrossAttention == true {
            throw ModelError("GPT-2 with cross-attention (add_cross_attention) is not supported", location: path,
                             hint: "AttnLab runs GPT-2 as a language model")
        }
        let activation = try FeedForwardActivation(named: c.activationFunction ?? "gelu_new", path: path)
        let (h, m) = (c.nEmbd, c.nInner ?? 4 * c.nEmbd)
        let w = WeightLoader(store: weights, probe: "wte.weight", prefixes: ["transformer.", ""])
        tokenEmbeddings = w.base("wte.weight", [c.vocabSize, h])
        positionEmbeddings = w.base("wpe.weight", [c.nPositions, h])
        blocks = (0 ..< c.nLayer).map { GPT2Block(w, $0, c, inner: m, activation: activation) }
        finalNorm = LayerNormWeights(w, "ln_f", dim: h, eps: c.layerNormEpsilon ?? 1e-5)
        lmHead = tied(w.optional("lm_head.weight", [c.vocabSize, h]), to: tokenEmbeddings)
        try w.finish(architecture: "GPT-2")

        taskHeads = [.causalLM]
        summary = ModelSummary(architecture: "gpt2", layers: c.nLayer, heads: c.nHead, hidden: h, intermediate: m,
                               vocabulary: c.vocabSize, maxPositions: c.nPositions, parameters: parameterCount(tokenEmbeddings, positionEmbeddings, blocks, finalNorm, lmHead))
    }

    public func forward(_ input: ModelInput, capture: CaptureOptions) throws -> ModelOutput {
        try validateInput(input, summary: summary)
        let n = input.ids.count                             // tokens
        let (h, heads, L) = (config.nEmbd, config.nHead, blocks.count)
        var stack = StackCapture(layers: L, heads: heads, queries: n, keys: n, headDim: h / heads, hidden: h, capture: capture)
        let mask = AttentionMask(keys: input.attentionMask, causal: true)

        // Token + position embeddings.                                  x: (n, h)
        var x = embed(input.ids, in: tokenEmbeddings) + embed(Array(0 ..< n), in: positionEmbeddings)
        stack.keepHidden(x, at: 0)
        for (l, block) in blocks.enumerated() {
            var scale = config.scaleAttnWeights ?? true ? 1 / Float(h / heads).squareRoot() : 1
            if config.scaleAttnByInverseLayerIdx == true { scale /= Float(l + 1) }
            // x + attention(LN(x)), causal.                             (n, h)
            x = x + block.attention(block.norm1(x), scale: scale, mask: mask, capture: &stack, layer: l)
            // x + MLP(LN(x)).                                           (n, h)
            x = x + block.feedForward(block.norm2(x))
            if l < L - 1 { stack.keepHidden(x, at: l + 1) }
        }
        // The final LayerNorm; transformers reports its output as the last hidden state.
        x = finalNorm(x)
        stack.keepHidden(x, at: L)
        // One stack over the input's tokens: `.encoder` in the trace's terms (its queries and keys are
        // the input's tokens), with a causal mask.
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// Next-token logits `[positions, vocab]`: the final hidden states times the (tied) LM head.
    public func languageModelLogits(_ output: ModelOutput, positions: [Int]) throws -> Tensor {
        tiedProjection(try rows(positions, of: output.lastHidden), embeddings: lmHead, bias: nil)
    }
}
