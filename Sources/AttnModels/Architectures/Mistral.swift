import AttnCore
import Foundation

/// Mistral, as transformers' `modeling_mistral.py` computes it with eager attention: Llama's layers
/// (no biases) with sliding-window attention: query `i` sees keys `i - sliding_window + 1 … i`.
public struct MistralConfig: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    /// `sliding_window`: 4096 when the file does not say, none when it says null (as MistralConfig).
    public var slidingWindow: Int?

    enum CodingKeys: String, CodingKey { case slidingWindow = "sliding_window" }

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        slidingWindow = container.contains(.slidingWindow) ? try container.decodeIfPresent(Int.self, forKey: .slidingWindow) : 4096
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        check.within("sliding_window", slidingWindow, 1 ... ConfigCheck.maxPositions)
    }
}

/// A Mistral decoder and its LM head (next-token logits).
public final class MistralModel: TransformerModel {
    public let config: MistralConfig
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let decoder: PreNormDecoderStack

    public init(config: MistralConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, projectionBias: false, outputBias: false, mlpBias: false)
        decoder = try PreNormDecoderStack(weights, architecture: "Mistral", keys: c, options: options, tied: c.tieWordEmbeddings ?? false,
                                          slidingWindow: config.slidingWindow)
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "mistral", maxPositions: c.maxPositionEmbeddings ?? 4096 * 32)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
