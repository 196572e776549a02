import AttnCore
import Foundation

/// The post-norm encoder layer of BERT's family (RoBERTa, DistilBERT, ALBERT, BART's and Marian's
/// encoders): `x = LN(x + attention(x))`, then `x = LN(x + feedForward(x))`. Each architecture
/// builds it with its own weight names.
struct PostNormEncoderLayer: Sendable {
    var attention: SelfAttentionWeights
    var attentionNorm: LayerNormWeights
    var feedForward: FeedForwardWeights
    var outputNorm: LayerNormWeights

    func callAsFunction(_ x: Tensor, mask: AttentionMask, capture: inout StackCapture, layer: Int) -> Tensor {
        let scale = 1 / Float(attention.headDim).squareRoot()
        let attended = attentionNorm(x + attention(x, scale: scale, mask: mask, capture: &capture, layer: layer))  // (n, h)
        return outputNorm(attended + feedForward(attended))                                                         // (n, h)
    }
}

/// The post-norm decoder layer of BART and Marian: causal self-attention, cross-attention over the
/// encoder's output, feed-forward, each followed by residual and LayerNorm.
struct PostNormDecoderLayer: Sendable {
    var selfAttention: SelfAttentionWeights
    var selfAttentionNorm: LayerNormWeights
    var crossAttention: CrossAttentionWeights
    var crossAttentionNorm: LayerNormWeights
    var feedForward: FeedForwardWeights
    var outputNorm: LayerNormWeights

    /// `y` `[nd, h]` decoder states, `memory` `[ne, h]` the encoder's output; `encoderMask` hides
    /// the encoder's padding from cross-attention.
    func callAsFunction(_ y: Tensor, memory: Tensor, encoderMask: AttentionMask,
                        decoder: inout StackCapture, cross: inout StackCapture, layer: Int) -> Tensor {
        let scale = 1 / Float(selfAttention.headDim).squareRoot()
        var y = selfAttentionNorm(y + selfAttention(y, scale: scale, mask: AttentionMask(causal: true),
                                                    capture: &decoder, layer: layer))                    // (nd, h)
        y = crossAttentionNorm(y + crossAttention(y, memory: memory, scale: scale, mask: encoderMask,
                                                  capture: &cross, layer: layer))                        // (nd, h)
        return outputNorm(y + feedForward(y))                                                            // (nd, h)
    }
}

/// The weights of BART's and Marian's layers, whose names the two share
/// (`layers.N.self_attn.q_proj`, `encoder_attn`, `fc1`, `fc2`, `*_layer_norm`).
enum BartFamilyLayers {
    static func encoder(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int, ffn: Int,
                        activation: FeedForwardActivation) -> PostNormEncoderLayer {
        PostNormEncoderLayer(
            attention: selfAttention(w, p + "self_attn", hidden: h, heads: heads),
            attentionNorm: LayerNormWeights(w, p + "self_attn_layer_norm", dim: h, eps: 1e-5),
            feedForward: feedForward(w, p, hidden: h, ffn: ffn, activation: activation),
            outputNorm: LayerNormWeights(w, p + "final_layer_norm", dim: h, eps: 1e-5))
    }

    static func decoder(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int, ffn: Int,
                        activation: FeedForwardActivation) -> PostNormDecoderLayer {
        let a = p + "encoder_attn."
        return PostNormDecoderLayer(
            selfAttention: selfAttention(w, p + "self_attn", hidden: h, heads: heads),
            selfAttentionNorm: LayerNormWeights(w, p + "self_attn_layer_norm", dim: h, eps: 1e-5),
            crossAttention: CrossAttentionWeights(w, query: a + "q_proj", key: a + "k_proj", value: a + "v_proj", output: a + "out_proj",
                                                  hidden: h, heads: heads, headDim: h / heads),
            crossAttentionNorm: LayerNormWeights(w, p + "encoder_attn_layer_norm", dim: h, eps: 1e-5),
            feedForward: feedForward(w, p, hidden: h, ffn: ffn, activation: activation),
            outputNorm: LayerNormWeights(w, p + "final_layer_norm", dim: h, eps: 1e-5))
    }

    private static func selfAttention(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int) -> SelfAttentionWeights {
        SelfAttentionWeights(w, query: p + ".q_proj", key: p + ".k_proj", value: p + ".v_proj", output: p + ".out_proj",
                             hidden: h, heads: heads, headDim: h / heads)
    }

    private static func feedForward(_ w: WeightLoader, _ p: String, hidden h: Int, ffn m: Int,
                                    activation: FeedForwardActivation) -> FeedForwardWeights {
        FeedForwardWeights(input: Linear(weight: w.base(p + "fc1.weight", [m, h]), bias: w.base(p + "fc1.bias", [m])), gate: nil,
                           output: Linear(weight: w.base(p + "fc2.weight", [h, m]), bias: w.base(p + "fc2.bias", [h])),
                           activation: activation)
    }
}

/// What an encoder-decoder's forward pass shares: the decoder's input ids and the encoder's mask.
enum EncoderDecoderInput {
    /// The decoder's ids: the given ones (teacher-forced), or else the encoder's ids shifted right
    /// after `startToken`, as transformers builds them from labels.
    static func decoderIds(_ input: ModelInput, startToken: Int, vocabulary: Int) throws -> [Int] {
        let ids = input.decoderIds ?? [startToken] + input.ids.dropLast()
        guard !ids.isEmpty else { throw ModelError("the decoder input has no tokens") }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw ModelError("decoder token id \(bad) is outside the vocabulary of \(vocabulary)",
                             hint: "the tokenizer does not belong to this model")
        }
        return ids
    }

    /// FLOPs of an encoder-decoder on `n` encoder and `n` decoder tokens: the encoder's layers,
    /// and per decoder layer self-attention, cross-attention (k and v over the encoder's tokens)
    /// and the feed-forward block.
    static func flops(tokens n: Int, hidden h: Int, inner: Int, encoderLayers: Int, decoderLayers: Int,
                      encoderFFN: Int, decoderFFN: Int, ffnMatrices: Int = 2) -> Double {
        let encoder = attentionFLOPs(queries: n, keys: n, hidden: h, inner: inner)
            + feedForwardFLOPs(rows: n, hidden: h, inner: encoderFFN, matrices: ffnMatrices)
        let decoder = 2 * attentionFLOPs(queries: n, keys: n, hidden: h, inner: inner)
            + feedForwardFLOPs(rows: n, hidden: h, inner: decoderFFN, matrices: ffnMatrices)
        return Double(encoderLayers) * encoder + Double(decoderLayers) * decoder
    }
}
