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

    private let decoder: PreNormDecoderStack

    public init(config: Phi3Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, eps: 1e-5, projectionBias: false, outputBias: false, mlpBias: false)
        decoder = try PreNormDecoderStack(weights, architecture: "Phi-3", keys: c, options: options, tied: c.tieWordEmbeddings ?? false,
                                          slidingWindow: config.slidingWindow, layer: Self.layer)
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "phi3", maxPositions: c.maxPositionEmbeddings ?? 4096)
    }

    /// Layer `i`: Llama's, with q | k | v in `qkv_proj` and gate | up in `gate_up_proj`, no biases.
    private static func layer(_ w: WeightLoader, _ i: Int, _ o: LlamaFamilyLayers.Options) throws -> PreNormDecoderLayer {
        let (p, h, m, shape) = ("layers.\(i).", o.hidden, o.inner, o.shape)
        var attention = SelfAttention(
            qkv: try w.linear(p + "self_attn.qkv_proj", in: h, out: shape.queryWidth + 2 * shape.keyValueWidth, bias: false, base: true),
            output: try w.linear(p + "self_attn.o_proj", in: shape.queryWidth, out: h, bias: false, base: true), shape: shape)
        attention.transform = QueryKeyTransform(rotary: o.rotary)
        let feedForward = FeedForward(gateUp: try w.linear(p + "mlp.gate_up_proj", in: h, out: 2 * m, bias: false, base: true),
                                      down: try w.linear(p + "mlp.down_proj", in: m, out: h, bias: false, base: true),
                                      activation: o.activation)
        return PreNormDecoderLayer(inputNorm: try RMSNorm(w, p + "input_layernorm", dim: h, eps: o.eps), attention: attention,
                                   postAttentionNorm: try RMSNorm(w, p + "post_attention_layernorm", dim: h, eps: o.eps),
                                   feedForward: feedForward)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
