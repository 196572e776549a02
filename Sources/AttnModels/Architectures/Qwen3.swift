import AttnCore
import Foundation

/// Qwen3, as transformers' `modeling_qwen3.py` computes it with eager attention: Qwen2's layers
/// with an RMSNorm over each head's query and key (weights `q_norm`, `k_norm`, `[head_dim]`) before
/// the rotation, biases only with `attention_bias`, and `head_dim` 128 unless the file says otherwise.
public struct Qwen3Config: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var window: QwenSlidingWindow

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        // Qwen3Config's defaults: 32 key/value heads, heads 128 wide.
        keys.numKeyValueHeads = keys.numKeyValueHeads ?? 32
        keys.headDim = keys.headDim ?? 128
        window = try QwenSlidingWindow(from: decoder)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        window.check(&check, layers: keys.numHiddenLayers)
    }
}

/// A Qwen3 decoder and its LM head (next-token logits).
public final class Qwen3Model: TransformerModel {
    public let config: Qwen3Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let decoder: PreNormDecoderStack

    public init(config: Qwen3Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, projectionBias: c.attentionBias ?? false,
                                                    outputBias: c.attentionBias ?? false, mlpBias: false, queryKeyNorm: true)
        decoder = try PreNormDecoderStack(weights, architecture: "Qwen3", keys: c, options: options, tied: c.tieWordEmbeddings ?? false,
                                          slidingWindow: config.window.window(layers: c.numHiddenLayers))
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "qwen3", maxPositions: c.maxPositionEmbeddings ?? 32768)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
