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

    private let decoder: PreNormDecoderStack

    public init(config: LlamaConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, projectionBias: c.attentionBias ?? false,
                                                    outputBias: c.attentionBias ?? false, mlpBias: c.mlpBias ?? false)
        decoder = try PreNormDecoderStack(weights, architecture: "Llama", keys: c, options: options, tied: c.tieWordEmbeddings ?? false)
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "llama", maxPositions: c.maxPositionEmbeddings ?? 2048)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
