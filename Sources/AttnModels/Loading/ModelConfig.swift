import AttnCore
import Foundation

/// The parts of `config.json` every architecture shares, plus the raw file for the architecture
/// to decode its own configuration from.
public struct ModelConfig: Sendable {
    /// `model_type` (`bert`, `gpt2`, `t5`, …).
    public var modelType: String
    /// `architectures` (`BertForMaskedLM`, …); may be empty.
    public var architectures: [String]
    /// The file's bytes.
    public var data: Data
    public var path: String

    /// Reads `config.json` in a model folder; for a GGUF model, the equivalent synthesised from its
    /// metadata (`GGUFModel.configJSON()`).
    public init(folder: URL) throws {
        if let gguf = try GGUFModel.locate(folder) {
            let model = try GGUFModel(path: gguf.path)
            path = gguf.path
            data = try model.configJSON()
            modelType = GGUFModel.supportedArchitectures[model.architecture] ?? model.architecture
            architectures = ["LlamaForCausalLM"]
            return
        }
        let url = folder.appendingPathComponent("config.json")
        path = url.path
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError("no config.json in the model folder", location: folder.path,
                             hint: "a model folder holds config.json, the weights and the tokenizer files")
        }
        self.data = data
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError("config.json is not a JSON object", location: path, hint: "the file is corrupt")
        }
        guard let type = object["model_type"] as? String else {
            throw ModelError("config.json has no \"model_type\"", location: path,
                             hint: "add the model type, for example \"model_type\": \"bert\"")
        }
        modelType = type
        architectures = object["architectures"] as? [String] ?? []
    }

    /// Decodes an architecture's configuration (snake_case keys in the file).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw ModelError("config.json does not fit a \(modelType) model: \(TraceFile.describe(error))",
                             location: path)
        }
    }
}

