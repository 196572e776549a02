import AttnCore
import Foundation

/// The post-norm encoder layer of BERT's family (BERT, RoBERTa, DistilBERT, ALBERT, BART's and
/// Marian's encoders): `x = LN(x + attention(x))`, then `x = LN(x + feedForward(x))`. Each
/// architecture builds it with its own weight names.
struct PostNormEncoderLayer: Sendable {
    var attention: SelfAttention
    var attentionNorm: LayerNorm
    var feedForward: FeedForward
    var outputNorm: LayerNorm

    func callAsFunction(_ x: Tensor, mask: AttentionMask, stack: inout StackPass, layer: Int) -> Tensor {
        var x = x
        stack.visit(.residual, layer: layer, &x)
        var attended = attention(x, mask: mask, stack: &stack, layer: layer)   // (n, h)
        attended += x
        attentionNorm.normalize(&attended)
        var mlp = feedForward(attended)                                        // (n, h)
        stack.visit(.mlp, layer: layer, &mlp)
        mlp += attended
        outputNorm.normalize(&mlp)
        return mlp
    }
}

extension PostNormEncoderLayer {
    /// Several inputs' rows stacked in `x` (`[Σn, h]`, input `i` in rows `segments[i]`), each
    /// attending to itself: what `callAsFunction(_:mask:stack:layer:)` computes for each, with
    /// every product run once over all rows, each input's sites visited in its own rows.
    /// `feedForwardInputs` (the last layer of a pass some of whose inputs' outputs nobody reads)
    /// names the inputs whose rows go on through the feed-forward block; the others' rows are left
    /// after the attention block.
    func callAsFunction(_ x: Tensor, segments: [Range<Int>], masks: [AttentionMask], stacks: inout [StackPass], layer: Int,
                        feedForwardInputs: [Int]? = nil) -> Tensor {
        var x = x
        for i in stacks.indices { stacks[i].visit(.residual, layer: layer, &x, rows: segments[i]) }
        var attended = attention(x, segments: segments, masks: masks, stacks: &stacks, layer: layer)   // (Σn, h)
        attended += x
        attentionNorm.normalize(&attended)
        if let feedForwardInputs {
            return feedForwardOnly(attended, rows: feedForwardInputs.map { segments[$0] })
        }
        var mlp = feedForward(attended)                                                                // (Σn, h)
        for i in stacks.indices { stacks[i].visit(.mlp, layer: layer, &mlp, rows: segments[i]) }
        mlp += attended
        outputNorm.normalize(&mlp)
        return mlp
    }

    /// `attended` with the feed-forward block applied to some rows only (gathered, run, put back).
    private func feedForwardOnly(_ attended: Tensor, rows: [Range<Int>]) -> Tensor {
        let h = attended.shape[1]
        var result = attended
        guard !rows.isEmpty else { return result }
        var gathered = Tensor(uninitialized: [rows.reduce(0) { $0 + $1.count }, h])
        attended.withUnsafeBufferPointer { source in
            gathered.withUnsafeMutableBufferPointer { target in
                var at = 0
                for range in rows {
                    (target.baseAddress! + at * h).update(from: source.baseAddress! + range.lowerBound * h, count: range.count * h)
                    at += range.count
                }
            }
        }
        var mlp = feedForward(gathered)                                                                // (rows, h)
        mlp += gathered
        outputNorm.normalize(&mlp)
        mlp.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                var at = 0
                for range in rows {
                    (target.baseAddress! + range.lowerBound * h).update(from: source.baseAddress! + at * h, count: range.count * h)
                    at += range.count
                }
            }
        }
        return result
    }
}

/// The post-norm decoder layer of BART and Marian: causal self-attention, cross-attention over the
/// encoder's output, feed-forward, each followed by residual and LayerNorm.
struct PostNormDecoderLayer: Sendable {
    var selfAttention: SelfAttention
    var selfAttentionNorm: LayerNorm
    var crossAttention: CrossAttention
    var crossAttentionNorm: LayerNorm
    var feedForward: FeedForward
    var outputNorm: LayerNorm

    /// `y` `[nd, h]` decoder states, `memory` `[ne, h]` the encoder's output; `encoderMask` hides
    /// the encoder's padding from cross-attention.
    func callAsFunction(_ y: Tensor, memory: Tensor, encoderMask: AttentionMask,
                        decoder: inout StackPass, cross: inout StackPass, layer: Int) -> Tensor {
        var y = y
        decoder.visit(.residual, layer: layer, &y)
        y = selfAttentionNorm(y + selfAttention(y, mask: AttentionMask(causal: true), stack: &decoder, layer: layer))   // (nd, h)
        y = crossAttentionNorm(y + crossAttention(y, memory: memory, mask: encoderMask, stack: &cross, layer: layer))   // (nd, h)
        var mlp = feedForward(y)                                                                                       // (nd, h)
        decoder.visit(.mlp, layer: layer, &mlp)
        return outputNorm(y + mlp)                                                                                     // (nd, h)
    }
}

/// The weights of BART's and Marian's layers, whose names the two share
/// (`layers.N.self_attn.q_proj`, `encoder_attn`, `fc1`, `fc2`, `*_layer_norm`).
enum BartFamilyLayers {
    static func encoder(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int, ffn: Int,
                        activation: Activation) throws -> PostNormEncoderLayer {
        PostNormEncoderLayer(
            attention: try selfAttention(w, p + "self_attn", hidden: h, heads: heads),
            attentionNorm: try LayerNorm(w, p + "self_attn_layer_norm", dim: h, eps: 1e-5),
            feedForward: try feedForward(w, p, hidden: h, ffn: ffn, activation: activation),
            outputNorm: try LayerNorm(w, p + "final_layer_norm", dim: h, eps: 1e-5))
    }

    static func decoder(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int, ffn: Int,
                        activation: Activation) throws -> PostNormDecoderLayer {
        let a = p + "encoder_attn."
        return PostNormDecoderLayer(
            selfAttention: try selfAttention(w, p + "self_attn", hidden: h, heads: heads),
            selfAttentionNorm: try LayerNorm(w, p + "self_attn_layer_norm", dim: h, eps: 1e-5),
            crossAttention: try CrossAttention(w, query: a + "q_proj", key: a + "k_proj", value: a + "v_proj", output: a + "out_proj",
                                               hidden: h, shape: HeadShape(heads: heads, headDim: h / heads)),
            crossAttentionNorm: try LayerNorm(w, p + "encoder_attn_layer_norm", dim: h, eps: 1e-5),
            feedForward: try feedForward(w, p, hidden: h, ffn: ffn, activation: activation),
            outputNorm: try LayerNorm(w, p + "final_layer_norm", dim: h, eps: 1e-5))
    }

    private static func selfAttention(_ w: WeightLoader, _ p: String, hidden h: Int, heads: Int) throws -> SelfAttention {
        try SelfAttention(w, query: p + ".q_proj", key: p + ".k_proj", value: p + ".v_proj", output: p + ".out_proj",
                          hidden: h, shape: HeadShape(heads: heads, headDim: h / heads))
    }

    private static func feedForward(_ w: WeightLoader, _ p: String, hidden h: Int, ffn m: Int,
                                    activation: Activation) throws -> FeedForward {
        FeedForward(up: try w.linear(p + "fc1", in: h, out: m, base: true), down: try w.linear(p + "fc2", in: m, out: h, base: true),
                    activation: activation)
    }
}

/// What an encoder-decoder's forward pass shares: the decoder's input ids and the FLOP count.
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
