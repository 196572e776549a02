import AttnCore
import Foundation

/// A GGUF file read as a Hugging Face checkpoint: its tensors under transformers' Llama names and in
/// PyTorch's shapes, with the row permutation llama.cpp's converter applies to the query and key
/// projections undone (so each tensor equals the original checkpoint's, up to quantisation), and
/// the equivalent of config.json synthesised from the metadata.
///
/// A model folder is a GGUF model when it is a `.gguf` file, or a folder holding exactly one
/// `.gguf` and no config.json (`locate(_:)`); `ModelConfig`, `WeightStore` and `TokenizerLoader`
/// then read it through this type.
public final class GGUFModel: TensorSource, @unchecked Sendable {
    public let file: GGUFFile
    /// `general.architecture`.
    public let architecture: String
    public var path: String { file.path }

    /// The `general.architecture` values AttnLab runs from GGUF, and the `model_type` each becomes.
    public static let supportedArchitectures: [String: String] = ["llama": "llama"]

    /// Hugging Face name → GGUF name.
    private let ggufNames: [String: String]
    public let tensorNames: [String]
    private let headCount: Int
    private let keyValueHeadCount: Int

    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Checks that the file holds a model AttnLab runs: a supported architecture, tensors of types
    /// it dequantises, the sizes the configuration needs.
    public init(file: GGUFFile) throws {
        self.file = file
        guard let architecture = try file.string("general.architecture") else {
            throw ModelError("the GGUF file has no general.architecture", location: file.path,
                             hint: "the file was not written by llama.cpp's converter or gguf-py's writer for a model")
        }
        self.architecture = architecture
        guard Self.supportedArchitectures[architecture] != nil else {
            throw ModelError("the GGUF file's architecture is \"\(architecture)\", which AttnLab does not run from GGUF",
                             location: file.path,
                             hint: "AttnLab runs these GGUF architectures: " + Self.supportedArchitectures.keys.sorted().joined(separator: ", ")
                                 + "; use the model's safetensors checkpoint (a folder with config.json) if its model_type is supported")
        }
        let unreadable = file.tensors.filter { !$0.type.isReadable }
        if !unreadable.isEmpty {
            let types = Set(unreadable.map(\.type.name)).sorted().joined(separator: ", ")
            throw ModelError("\(unreadable.count) tensors are of types AttnLab does not dequantise (\(types); first: \(unreadable[0].name))",
                             location: file.path,
                             hint: "AttnLab reads " + GGMLType.readable.map(\.name).joined(separator: ", ")
                                 + "; use a file quantised to one of them (Q8_0, Q4_K_M, Q6_K, …) or the safetensors checkpoint")
        }
        if let experts = try file.int("\(architecture).expert_count"), experts > 0 {
            throw ModelError("the model is a mixture of \(experts) experts, which AttnLab does not run", location: file.path,
                             hint: "use a dense model")
        }
        if file.tensorInfo("rope_freqs.weight") != nil {
            throw ModelError("the file carries rope_freqs (Llama 3.1-style rope scaling), which AttnLab does not read from GGUF yet",
                             location: file.path, hint: "use the model's safetensors checkpoint")
        }
        let heads = try Self.required(file, "\(architecture).attention.head_count")
        headCount = heads
        keyValueHeadCount = try file.int("\(architecture).attention.head_count_kv") ?? heads
        guard heads > 0, keyValueHeadCount > 0, heads % keyValueHeadCount == 0 else {
            throw ModelError("\(heads) attention heads cannot share \(keyValueHeadCount) key/value heads", location: file.path,
                             hint: "the metadata is corrupt")
        }
        var names: [String: String] = [:]
        for tensor in file.tensors { names[Self.huggingFaceName(tensor.name)] = tensor.name }
        ggufNames = names
        tensorNames = names.keys.sorted()
    }

    /// The GGUF model a path names: the path itself when it is a file ending in `.gguf`, or the one
    /// `.gguf` in a folder that has no config.json. Nil for anything else (a Hugging Face folder).
    public static func locate(_ url: URL) throws -> URL? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return nil }
        guard isDirectory.boolValue else { return url.pathExtension.lowercased() == "gguf" ? url : nil }
        let fm = FileManager.default
        guard !fm.fileExists(atPath: url.appendingPathComponent("config.json").path),
              let entries = try? fm.contentsOfDirectory(atPath: url.path) else { return nil }
        let ggufs = entries.filter { $0.lowercased().hasSuffix(".gguf") && !$0.hasPrefix(".") }.sorted()
        if ggufs.count > 1 {
            throw ModelError("the folder holds \(ggufs.count) .gguf files (\(ggufs.joined(separator: ", "))) and no config.json",
                             location: url.path, hint: "give one of the .gguf files as the model")
        }
        return ggufs.first.map { url.appendingPathComponent($0) }
    }

    // MARK: - Names

    /// transformers' Llama name of a GGUF tensor name; names it does not know are kept as they are.
    static func huggingFaceName(_ name: String) -> String {
        let whole: [String: String] = [
            "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
        ]
        let perLayer: [String: String] = [
            "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
            "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
        ]
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { return name }
        if parts.count == 2, let mapped = whole[parts[0]] { return "\(mapped).\(suffix)" }
        if parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
           let mapped = perLayer[parts[2]] {
            return "model.layers.\(layer).\(mapped).\(suffix)"
        }
        return name
    }

    // MARK: - TensorSource

    public func shape(of name: String) -> [Int]? {
        ggufNames[name].flatMap { file.tensorInfo($0)?.shape }
    }

    /// A tensor by its Hugging Face name, dequantised to Float32, in PyTorch's shape, the query and
    /// key projections un-permuted.
    public func tensor(_ name: String) throws -> Tensor {
        guard let original = ggufNames[name] else {
            throw ModelError("no tensor named \(name) in the GGUF file", location: file.path)
        }
        let tensor = try file.tensor(original)
        if name.hasSuffix(".self_attn.q_proj.weight") || name.hasSuffix(".self_attn.q_proj.bias") {
            return try unpermute(tensor, heads: headCount, name: original)
        }
        if name.hasSuffix(".self_attn.k_proj.weight") || name.hasSuffix(".self_attn.k_proj.bias") {
            return try unpermute(tensor, heads: keyValueHeadCount, name: original)
        }
        return tensor
    }

    /// Undoes llama.cpp's `permute(w, n_head)`: the converter reorders each head's rows from
    /// [first halves of the rotary pairs, second halves] to interleaved pairs; row `h·2d + 2j + i`
    /// of the file is row `h·2d + i·d + j` of the checkpoint.
    func unpermute(_ tensor: Tensor, heads: Int, name: String) throws -> Tensor {
        let rows = tensor.shape.first ?? 0
        guard heads > 0, heads <= rows / 2 || rows == 0, rows % (2 * heads) == 0 else {
            throw ModelError("tensor \(name) has \(rows) rows, which \(heads) heads of rotary pairs cannot split",
                             location: file.path, hint: "the head counts in the metadata do not fit the weights")
        }
        let columns = rows == 0 ? 0 : tensor.count / rows
        let half = rows / heads / 2
        var out = [Float](repeating: 0, count: tensor.count)
        tensor.scalars.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for head in 0..<heads {
                    for i in 0..<2 {
                        for j in 0..<half {
                            let to = (head * 2 * half + i * half + j) * columns
                            let from = (head * 2 * half + 2 * j + i) * columns
                            for c in 0..<columns { target[to + c] = source[from + c] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: tensor.shape, scalars: out)
    }

    // MARK: - Configuration

    /// The bytes of a config.json equivalent to the metadata, with transformers' LlamaConfig keys.
    public func configJSON() throws -> Data {
        let data = try JSONSerialization.data(withJSONObject: try configuration(), options: [.sortedKeys, .prettyPrinted])
        return data
    }

    /// The configuration as a JSON object.
    func configuration() throws -> [String: Any] {
        let a = architecture
        let hidden = try Self.required(file, "\(a).embedding_length")
        let layers = try Self.required(file, "\(a).block_count")
        let intermediate = try Self.required(file, "\(a).feed_forward_length")
        guard hidden > 0, layers > 0, intermediate > 0 else {
            throw ModelError("the sizes in the metadata are inconsistent (embedding_length \(hidden), \(headCount) heads, block_count \(layers))",
                             location: file.path, hint: "the metadata is corrupt")
        }
        let headDimension = try file.int("\(a).attention.key_length") ?? file.int("\(a).rope.dimension_count") ?? hidden / headCount
        let tokens = file.metadata["tokenizer.ggml.tokens"]?.array?.count
        let vocabulary = try file.int("\(a).vocab_size") ?? tokens ?? file.tensorInfo("token_embd.weight")?.shape.first
        guard let vocabulary else {
            throw ModelError("the metadata gives no vocabulary size (\(a).vocab_size or tokenizer.ggml.tokens)", location: file.path,
                             hint: "the file is incomplete")
        }
        var config: [String: Any] = [
            "model_type": Self.supportedArchitectures[a]!,
            "architectures": ["LlamaForCausalLM"],
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": headCount,
            "num_key_value_heads": keyValueHeadCount,
            "head_dim": headDimension,
            "rms_norm_eps": try file.double("\(a).attention.layer_norm_rms_epsilon") ?? 1e-6,
            "rope_theta": try file.double("\(a).rope.freq_base") ?? 10000.0,
            "max_position_embeddings": try file.int("\(a).context_length") ?? 2048,
            "vocab_size": vocabulary,
            "tie_word_embeddings": file.tensorInfo("output.weight") == nil,
            "hidden_act": "silu",
            "attention_bias": file.tensorInfo("blk.0.attn_q.bias") != nil,
            "mlp_bias": file.tensorInfo("blk.0.ffn_up.bias") != nil,
            "torch_dtype": "float32",
        ]
        for (key, name) in [("tokenizer.ggml.bos_token_id", "bos_token_id"), ("tokenizer.ggml.eos_token_id", "eos_token_id"),
                            ("tokenizer.ggml.padding_token_id", "pad_token_id")] {
            if let id = try file.int(key) { config[name] = id }
        }
        if let scaling = try ropeScaling() { config["rope_scaling"] = scaling }
        return config
    }

    /// `rope_scaling` from `ARCH.rope.scaling.*` (llama.cpp writes `linear` and `yarn` there).
    private func ropeScaling() throws -> [String: Any]? {
        let prefix = "\(architecture).rope.scaling."
        guard let type = try file.string(prefix + "type"), type != "none" else { return nil }
        guard let factor = try file.double(prefix + "factor") else {
            throw ModelError("\(prefix)type is \"\(type)\" but \(prefix)factor is missing", location: file.path, hint: "the metadata is incomplete")
        }
        switch type {
        case "linear":
            return ["rope_type": "linear", "factor": factor]
        case "yarn":
            var scaling: [String: Any] = ["rope_type": "yarn", "factor": factor]
            if let original = try file.int(prefix + "original_context_length") { scaling["original_max_position_embeddings"] = original }
            return scaling
        default:
            throw ModelError("rope scaling \"\(type)\" is not supported", location: file.path,
                             hint: "AttnLab reads linear and yarn rope scaling from GGUF")
        }
    }

    private static func required(_ file: GGUFFile, _ key: String) throws -> Int {
        guard let value = try file.int(key) else {
            throw ModelError("the GGUF metadata has no \(key)", location: file.path,
                             hint: "the file is incomplete or not a \(key.split(separator: ".").first ?? "") model")
        }
        return value
    }
}
