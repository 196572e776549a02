import AttnCore
import Foundation

/// From `config.json`'s `model_type` to the architecture that runs it. To add an architecture,
/// write its file under `Architectures/` and add one line here (README: "Adding an architecture").
public enum ModelRegistry {
    public typealias Loader = (ModelConfig, WeightStore) throws -> TransformerModel

    public static let architectures: [String: Loader] = [
        "bert": { config, weights in try BertModel(config: config.decode(BertConfig.self), weights: weights, path: config.path) },
        "gpt2": { config, weights in try GPT2Model(config: config.decode(GPT2Config.self), weights: weights, path: config.path) },
        "roberta": { config, weights in try RobertaModel(config: config.decode(RobertaConfig.self), weights: weights, path: config.path) },
        "xlm-roberta": { config, weights in
            try RobertaModel(config: config.decode(RobertaConfig.self), weights: weights, path: config.path, architecture: "xlm-roberta")
        },
        "camembert": { config, weights in
            try RobertaModel(config: config.decode(RobertaConfig.self), weights: weights, path: config.path, architecture: "camembert")
        },
        "distilbert": { config, weights in try DistilBertModel(config: config.decode(DistilBertConfig.self), weights: weights, path: config.path) },
        "albert": { config, weights in try AlbertModel(config: config.decode(AlbertConfig.self), weights: weights, path: config.path) },
        "bart": { config, weights in try BartModel(config: config.decode(BartConfig.self), weights: weights, path: config.path) },
        "marian": { config, weights in try MarianModel(config: config.decode(MarianConfig.self), weights: weights, path: config.path) },
        "t5": { config, weights in try T5Model(config: config.decode(T5Config.self), weights: weights, path: config.path) },
        "mt5": { config, weights in
            try T5Model(config: config.decode(T5Config.self), weights: weights, path: config.path, architecture: "mt5")
        },
    ]

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
        let weights = try WeightStore(folder: folder)
        return (try loader(config, weights), weights)
    }
}
