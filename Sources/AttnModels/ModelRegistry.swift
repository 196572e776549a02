import AttnCore
import Foundation

/// From `config.json`'s `model_type` to the architecture that runs it. To add an architecture,
/// write its file under `Architectures/` and add one line here (docs/adding-an-architecture.md).
public enum ModelRegistry {
    /// Decodes and checks a configuration, then returns what builds the model from its weights: a
    /// config.json that cannot describe a model is refused before any weight is read.
    public typealias Loader = (ModelConfig) throws -> (WeightStore) throws -> TransformerModel

    public static let architectures: [String: Loader] = [
        "bert": entry(BertConfig.self) { try BertModel(config: $0, weights: $1, path: $2) },
        "gpt2": entry(GPT2Config.self) { try GPT2Model(config: $0, weights: $1, path: $2) },
        "roberta": entry(RobertaConfig.self) { try RobertaModel(config: $0, weights: $1, path: $2) },
        "xlm-roberta": entry(RobertaConfig.self) { try RobertaModel(config: $0, weights: $1, path: $2, architecture: "xlm-roberta") },
        "camembert": entry(RobertaConfig.self) { try RobertaModel(config: $0, weights: $1, path: $2, architecture: "camembert") },
        "distilbert": entry(DistilBertConfig.self) { try DistilBertModel(config: $0, weights: $1, path: $2) },
        "albert": entry(AlbertConfig.self) { try AlbertModel(config: $0, weights: $1, path: $2) },
        "bart": entry(BartConfig.self) { try BartModel(config: $0, weights: $1, path: $2) },
        "marian": entry(MarianConfig.self) { try MarianModel(config: $0, weights: $1, path: $2) },
        "t5": entry(T5Config.self) { try T5Model(config: $0, weights: $1, path: $2) },
        "mt5": entry(T5Config.self) { try T5Model(config: $0, weights: $1, path: $2, architecture: "mt5") },
        "llama": entry(LlamaConfig.self) { try LlamaModel(config: $0, weights: $1, path: $2) },
        "mistral": entry(MistralConfig.self) { try MistralModel(config: $0, weights: $1, path: $2) },
        "qwen2": entry(Qwen2Config.self) { try Qwen2Model(config: $0, weights: $1, path: $2) },
        "qwen3": entry(Qwen3Config.self) { try Qwen3Model(config: $0, weights: $1, path: $2) },
        "gemma": entry(GemmaConfig.self) { try GemmaModel(config: $0, weights: $1, path: $2) },
        "phi3": entry(Phi3Config.self) { try Phi3Model(config: $0, weights: $1, path: $2) },
    ]

    /// A registry entry: decode `C` from config.json, check it, then build with `make`.
    static func entry<C: ArchitectureConfig>(_ type: C.Type,
                                             _ make: @escaping (C, WeightStore, String) throws -> TransformerModel) -> Loader {
        { config in
            let decoded = try config.decode(C.self)
            var check = ConfigCheck(path: config.path)
            decoded.check(&check)
            try check.finish(modelType: config.modelType)
            return { weights in try make(decoded, weights, config.path) }
        }
    }

    /// The model types AttnLab runs, sorted.
    public static var supportedTypes: [String] { architectures.keys.sorted() }

    /// Loads the architecture named by the folder's config.json with the folder's weights.
    public static func load(folder: URL) throws -> TransformerModel {
        try loadWithWeights(folder: folder).model
    }

    /// The model and the weight files it was read from.
    public static func loadWithWeights(folder: URL) throws -> (model: TransformerModel, weights: WeightStore) {
        let config = try ModelConfig(folder: folder)
        guard let loader = architectures[config.modelType] else {
            throw ModelError("model_type \"\(config.modelType)\" is not supported", location: config.path,
                             hint: "AttnLab runs: " + supportedTypes.joined(separator: ", "))
        }
        let build = try loader(config)
        let weights = try WeightStore(folder: folder)
        return (try build(weights), weights)
    }
}
