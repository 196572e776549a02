import AttnCore
import Foundation

/// Qwen2 (and Qwen2.5), as transformers' `modeling_qwen2.py` computes it with eager attention:
/// Llama's layers with biases on the query, key and value projections (none on the output), and a
/// sliding window only when `use_sliding_window` says so.
public struct Qwen2Config: Decodable, Sendable, ArchitectureConfig {
    public var keys: DecoderConfigKeys
    public var window: QwenSlidingWindow

    public init(from decoder: Decoder) throws {
        keys = try DecoderConfigKeys(from: decoder)
        // Qwen2Config's default is 32 key/value heads, not one per query head.
        keys.numKeyValueHeads = keys.numKeyValueHeads ?? 32
        window = try QwenSlidingWindow(from: decoder)
    }

    func check(_ check: inout ConfigCheck) {
        keys.check(&check)
        window.check(&check, layers: keys.numHiddenLayers)
    }
}

/// Qwen2's and Qwen3's sliding window: `sliding_window` (4096 when absent) if `use_sliding_window`,
/// on the layers `layer_types` calls `sliding_attention` (by default, those from `max_window_layers`
/// on). AttnLab runs it on every layer or on none: a trace states one window for its stack.
public struct QwenSlidingWindow: Decodable, Sendable {
    public var useSlidingWindow: Bool
    public var slidingWindow: Int?
    public var maxWindowLayers: Int
    public var layerTypes: [String]?

    enum CodingKeys: String, CodingKey {
        case useSlidingWindow = "use_sliding_window", slidingWindow = "sliding_window", maxWindowLayers = "max_window_layers"
        case layerTypes = "layer_types"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
        slidingWindow = c.contains(.slidingWindow) ? try c.decodeIfPresent(Int.self, forKey: .slidingWindow) : 4096
        maxWindowLayers = try c.decodeIfPresent(Int.self, forKey: .maxWindowLayers) ?? 28
        layerTypes = try c.decodeIfPresent([String].self, forKey: .layerTypes)
    }

    /// Which layers slide, as transformers derives them.
    func slidingLayers(_ layers: Int) -> [Bool] {
        guard useSlidingWindow, slidingWindow != nil else { return Array(repeating: false, count: layers) }
        if let layerTypes { return layerTypes.map { $0 == "sliding_attention" } }
        return (0 ..< layers).map { $0 >= maxWindowLayers }
    }

    /// The window of every layer, or nil when none slides.
    func window(layers: Int) -> Int? {
        slidingLayers(layers).contains(true) ? slidingWindow : nil
    }

    func check(_ check: inout ConfigCheck, layers: Int) {
        guard useSlidingWindow else { return }
        check.within("sliding_window", slidingWindow, 1 ... ConfigCheck.maxPositions)
        if let layerTypes {
            check.require(layerTypes.count == layers, "layer_types lists \(layerTypes.count) layers, num_hidden_layers is \(layers)")
            let unknown = Set(layerTypes).subtracting(["sliding_attention", "full_attention"])
            check.require(unknown.isEmpty, "layer_types holds \(unknown.sorted().joined(separator: ", ")), expected sliding_attention or full_attention")
        }
        let sliding = Set(slidingLayers(max(0, min(layers, ConfigCheck.maxLayers))))
        check.require(sliding.count < 2,
                      "the sliding window covers some layers and not others (max_window_layers \(maxWindowLayers) or layer_types), which AttnLab does not run; it runs the window on every layer or on none")
    }
}

/// A Qwen2 decoder and its LM head (next-token logits).
public final class Qwen2Model: TransformerModel {
    public let config: Qwen2Config
    public let summary: ModelSummary
    public let outputHeads: OutputHeads

    private let decoder: PreNormDecoderStack

    public init(config: Qwen2Config, weights: WeightStore, path: String) throws {
        self.config = config
        let c = config.keys
        let options = try LlamaFamilyLayers.Options(c, path: path, projectionBias: true, outputBias: false, mlpBias: false)
        decoder = try PreNormDecoderStack(weights, architecture: "Qwen2", keys: c, options: options, tied: c.tieWordEmbeddings ?? false,
                                          slidingWindow: config.window.window(layers: c.numHiddenLayers))
        outputHeads = decoder.outputHeads
        summary = decoder.summary(architecture: "qwen2", maxPositions: c.maxPositionEmbeddings ?? 32768)
    }

    public func compute(_ input: ModelInput, _ options: ForwardOptions) throws -> ModelOutput {
        decoder(input, options)
    }

    public func forwardFLOPs(tokens n: Int) -> Double { decoder.flops(tokens: n) }
}
