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

    private let decoder: PreNormDecoderStack

    public init(config: GemmaConfig, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, activation: "gelu_pytorch_tanh", projectionBias: c.attentionBias ?? false,
                                                    outputBias: c.attentionBias ?? false, mlpBias: false, unitOffset: true)
        // √hidden_size, rounded to float32 as transformers rounds it to the weights' dtype.
        decoder = try PreNormDecoderStack(weights, architecture: "Gemma", keys: c, options: options, tied: c.tieWordEmbeddings ?? true,
                                          embeddingScale: Float(Double(c.hiddenSize).squareRoot()))
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "gemma", maxPositions: c.maxPositionEmbeddings ?? 8192)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
