import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// GGUF files against gguf-py and transformers (fixtures by Tools/reference/make_gguf_fixtures.py).
@Suite struct GGUFTests {
    static let folder = Fixtures.url("gguf")

    static func expectedJSON(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent(name))) as! [String: Any]
    }

    static func hash(_ tensor: Tensor) -> String {
        var digest = SHA256()
        tensor.scalars.withUnsafeBytes { digest.update($0) }
        return digest.finalize()
    }

    /// Every type, random valid blocks and quantised values: bit for bit what ggml's reference
    /// dequantisation gives (tolerance 0).
    @Test func everyTypeDequantisesBitForBitAsGGML() throws {
        let file = try GGUFFile(path: Self.folder.appendingPathComponent("quants.gguf").path)
        let expected = try SafeTensorsFile(path: Self.folder.appendingPathComponent("quants.expected.safetensors").path)
        #expect(file.version == 3 && file.alignment == 32)
        #expect(Set(file.tensors.map(\.type)) == Set(GGMLType.readable))
        #expect(Set(file.tensors.map(\.name)) == Set(expected.names))
        for name in expected.names {
            let actual = try file.tensor(name), reference = try expected.tensor(name)
            #expect(actual.shape == reference.shape, "\(name): shape \(actual.shape) vs \(reference.shape)")
            let mismatches = zip(actual.scalars, reference.scalars).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(mismatches == 0, "\(name) (\(file.tensorInfo(name)!.type.name)): \(mismatches) of \(reference.count) values differ")
        }
        #expect(file.tensorInfo("F32.3d")?.dimensions == [64, 3, 2])
    }

    @Test func dequantisationDoesNotDependOnTheThreadCount() throws {
        let file = try GGUFFile(path: Self.folder.appendingPathComponent("quants.gguf").path)
        let single = try file.tensor("Q4_K")
        #expect(try Parallel.run(threads: 2) { try file.tensor("Q4_K") } == single)
    }

    /// Llama names, PyTorch shapes and the Q/K permutation undone: the tensors transformers loads.
    @Test func tinyLlamaTensorsEqualTransformersGGUFLoading() throws {
        let model = try GGUFModel(path: Self.folder.appendingPathComponent("tiny-llama.gguf").path)
        let expected = try Self.expectedJSON("tiny-llama.expected.json")["tensors"] as! [String: [String: Any]]
        #expect(model.tensorNames == expected.keys.sorted())
        for (name, entry) in expected {
            let tensor = try model.tensor(name)
            #expect(tensor.shape == (entry["shape"] as! [Int]), "\(name) shape")
            #expect(Self.hash(tensor) == entry["sha256"] as! String, "\(name): first values \(Array(tensor.scalars.prefix(6))) vs \(entry["first"]!)")
        }
    }

    @Test func tinyLlamaConfigurationHasTransformersValues() throws {
        let model = try GGUFModel(path: Self.folder.appendingPathComponent("tiny-llama.gguf").path)
        let config = try JSONSerialization.jsonObject(with: model.configJSON()) as! [String: Any]
        let expected = try Self.expectedJSON("tiny-llama.expected.json")["config"] as! [String: Any]
        Self.expectSameConfig(config, expected)
        let scaling = try #require(config["rope_scaling"] as? [String: Any])
        #expect(scaling["rope_type"] as? String == "linear" && scaling["factor"] as? Double == 2)
        #expect(config["rope_theta"] as? Double == 10000)
    }

    static func expectSameConfig(_ config: [String: Any], _ expected: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) {
        for (key, value) in expected where !(value is NSNull) {
            #expect("\(config[key] ?? "missing")" == "\(value)", "\(key): \(config[key] ?? "missing") vs \(value)", sourceLocation: sourceLocation)
        }
    }

    /// The real SmolLM2-135M-Instruct Q4_1 file against transformers' own GGUF loading.
    @Test func smolLM2TensorsAndConfigurationEqualTransformers() throws {
        let gguf = try Fixtures.realGGUF()
        let model = try GGUFModel(path: gguf.path)
        let expected = try Self.expectedJSON("smollm2.expected.json")
        for (name, entry) in expected["tensors"] as! [String: [String: Any]] {
            let tensor = try model.tensor(name)
            #expect(tensor.shape == (entry["shape"] as! [Int]), "\(name) shape")
            #expect(Self.hash(tensor) == entry["sha256"] as! String, "\(name): first values \(Array(tensor.scalars.prefix(8))) vs \(entry["first"]!)")
        }
        // transformers adds the tied lm_head.weight to its state dict; the file has one tensor fewer.
        #expect(model.tensorNames.count == (expected["tensor_count"] as! Int) - 1)
        #expect(!model.tensorNames.contains("lm_head.weight"))
        let config = try JSONSerialization.jsonObject(with: model.configJSON()) as! [String: Any]
        Self.expectSameConfig(config, expected["config"] as! [String: Any])
        #expect(config["rope_theta"] as? Double == expected["rope_theta"] as? Double)
        #expect(config["rope_scaling"] == nil)
    }

    /// A `.gguf` file, or a folder with one and no config.json, is a model folder for every loader.
    @Test func aGGUFFileOrItsFolderIsAModelFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-gguf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = root.appendingPathComponent("Models/tiny-llama")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("tiny-llama.gguf")
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent("tiny-llama.gguf"), to: file)
        let locator = ModelLocator.standard(environment: ["HOME": root.path], workingDirectory: root, executable: nil)
        #expect(try locator.resolve("tiny-llama").url.lastPathComponent == "tiny-llama")
        #expect(try locator.resolve(file.path).url.lastPathComponent == "tiny-llama.gguf")
        #expect(locator.list().map(\.id) == ["tiny-llama"])
        for url in [folder, file] {
            let config = try ModelConfig(folder: url)
            #expect(config.modelType == "llama" && config.path == file.path)
            let weights = try WeightStore(folder: url)
            #expect(weights.shape(of: "model.layers.1.self_attn.k_proj.weight") == [32, 64])
            #expect(weights.contains("lm_head.weight"))
        }
        // A second .gguf makes the folder ambiguous.
        try FileManager.default.copyItem(at: file, to: folder.appendingPathComponent("other.gguf"))
        #expect { try ModelConfig(folder: folder) } throws: { "\($0)".contains("holds 2 .gguf files") }
    }
}

extension Fixtures {
    /// SmolLM2-135M-Instruct's Q4_1 GGUF, fetched by `make setup`.
    static func realGGUF() throws -> URL {
        let url = models.appendingPathComponent("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError("the real model is not in Models/", location: url.path, hint: "run `make setup` (or `make test`) first")
        }
        return url
    }
}
