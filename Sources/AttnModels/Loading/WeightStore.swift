import AttnCore
import Foundation

/// A file of named tensors: safetensors, PyTorch's `pytorch_model.bin` (`PyTorchCheckpoint`), or
/// GGUF (`GGUFModel`).
public protocol TensorSource: AnyObject, Sendable {
    var path: String { get }
    /// Tensor names in the file.
    var tensorNames: [String] { get }
    func shape(of name: String) -> [Int]?
    /// The tensor converted to Float32.
    func tensor(_ name: String) throws -> Tensor
    /// Calls `body` with the tensor's values as Float32, without a copy where the file allows it.
    func withFloat32<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R
}

extension TensorSource {
    public func withFloat32<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        try tensor(name).withUnsafeBufferPointer(body)
    }
}

extension SafeTensorsFile: TensorSource {
    public var tensorNames: [String] { names }
    public func shape(of name: String) -> [Int]? { entries[name]?.shape }
}

/// All the weights of a model folder, by canonical name: legacy LayerNorm names `gamma` / `beta`
/// read as `weight` / `bias`, and sharded checkpoints are joined through their index file.
/// Safetensors are preferred; `pytorch_model.bin` (or its shards) is read when there are none.
/// A GGUF model (a `.gguf` file, or a folder holding one and no config.json) is read through
/// `GGUFModel`, under Hugging Face names.
public final class WeightStore: @unchecked Sendable {
    public let folder: URL
    public let sources: [TensorSource]
    /// Canonical name → (source, name in that source).
    private let locations: [String: (TensorSource, String)]

    public init(folder: URL) throws {
        self.folder = folder
        let fm = FileManager.default
        let single = folder.appendingPathComponent("model.safetensors")
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var sources: [TensorSource] = []
        if let gguf = try GGUFModel.locate(folder) {
            sources = [try GGUFModel(path: gguf.path)]
        } else if fm.fileExists(atPath: single.path) {
            sources = [try SafeTensorsFile(path: single.path)]
        } else if fm.fileExists(atPath: index.path) {
            sources = try Self.shards(index: index).map { try SafeTensorsFile(path: folder.appendingPathComponent($0).path) }
        } else if fm.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin").path) {
            sources = [try PyTorchCheckpoint(path: folder.appendingPathComponent("pytorch_model.bin").path)]
        } else if fm.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin.index.json").path) {
            sources = try Self.shards(index: folder.appendingPathComponent("pytorch_model.bin.index.json"))
                .map { try PyTorchCheckpoint(path: folder.appendingPathComponent($0).path) }
        } else {
            throw ModelError("no weights in the model folder (looked for model.safetensors, pytorch_model.bin and their .index.json)",
                             location: folder.path, hint: "copy the model's weight files into the folder")
        }
        self.sources = sources
        var locations: [String: (TensorSource, String)] = [:]
        for source in sources {
            for name in source.tensorNames { locations[Self.canonical(name)] = (source, name) }
        }
        self.locations = locations
    }

    /// The shard files an index names, in order.
    static func shards(index: URL) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: index.path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = object["weight_map"] as? [String: String]
        else {
            throw ModelError("the shard index has no \"weight_map\" object", location: index.path, hint: "the file is corrupt")
        }
        return Array(Set(map.values)).sorted()
    }

    /// `…LayerNorm.gamma` → `…LayerNorm.weight`, `…LayerNorm.beta` → `…LayerNorm.bias`, as transformers does.
    static func canonical(_ name: String) -> String {
        if name.hasSuffix(".gamma") { return String(name.dropLast(".gamma".count)) + ".weight" }
        if name.hasSuffix(".beta") { return String(name.dropLast(".beta".count)) + ".bias" }
        return name
    }

    public var names: [String] { locations.keys.sorted() }

    public func contains(_ name: String) -> Bool { locations[name] != nil }

    public func shape(of name: String) -> [Int]? {
        guard let (source, original) = locations[name] else { return nil }
        return source.shape(of: original)
    }

    public func tensor(_ name: String) throws -> Tensor {
        guard let (source, original) = locations[name] else {
            throw ModelError("missing tensor \(name)", location: folder.path)
        }
        return try source.tensor(original)
    }

    /// Calls `body` with a tensor's values as Float32, straight from a mapped safetensors file when
    /// it holds them as such (see `SafeTensorsFile.withFloat32`).
    public func withFloat32<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let (source, original) = locations[name] else {
            throw ModelError("missing tensor \(name)", location: folder.path)
        }
        return try source.withFloat32(original, body)
    }

    /// SHA-256 over the weight files' hashes, in name order; each file's hash comes from `cache`
    /// while the file is unchanged.
    public func contentHash(cache: FileHashCache = .shared) throws -> String {
        var combined = SHA256()
        for path in sources.map(\.path).sorted() {
            combined.update(Data(try cache.sha256(ofFileAt: path).utf8))
        }
        return combined.finalize()
    }
}

/// Takes an architecture's tensors out of a `WeightStore` with the shapes it expects, and collects
/// every missing tensor and shape mismatch into one error instead of stopping at the first.
///
/// A missing or mismatched tensor is not read; a zero placeholder of the expected shape stands in
/// until `finish` throws, so an architecture's initialiser reads straight through. Placeholders
/// are bounded by the size of the weight files: a config.json whose sizes the files cannot hold
/// fails at once instead of allocating what it asks for.
public final class WeightLoader {
    public let store: WeightStore
    /// Prefix in front of the base model's names (`bert.` in task checkpoints, nothing in base ones).
    public let prefix: String
    private var missing: [String] = []
    private var mismatched: [String] = []
    private var used: Set<String> = []
    /// Bytes of zero placeholders still allowed: twice the weight files' size, and 64 MB at least.
    private var placeholderBudget: Int
    /// The architecture's name in messages (`GPT-2`).
    public let architecture: String

    /// `probe` is a name every checkpoint of the architecture has (`embeddings.word_embeddings.weight`);
    /// the first of `prefixes` under which it exists is used for `base(_:)`.
    public init(store: WeightStore, probe: String, prefixes: [String], architecture: String) {
        self.store = store
        self.architecture = architecture
        self.prefix = prefixes.first { store.contains($0 + probe) } ?? prefixes.first ?? ""
        placeholderBudget = store.sources.reduce(0) { total, source in
            let attributes = try? FileManager.default.attributesOfItem(atPath: source.path)
            return total + ((attributes?[.size] as? NSNumber)?.intValue ?? 0)
        }
        placeholderBudget = max(2 * placeholderBudget, 64 << 20)
    }

    /// A tensor of the base model (the prefix is added).
    public func base(_ name: String, _ shape: [Int]) throws -> Tensor { try take(prefix + name, shape) }

    /// A tensor by its full name.
    public func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard check(name, shape) else { return try placeholder(shape, for: name) }
        do {
            return try store.tensor(name)
        } catch {
            mismatched.append("\(name): \(error)")
            return try placeholder(shape, for: name)
        }
    }

    /// Whether the file has `name` with `shape`; records it as used, missing or mismatched.
    private func check(_ name: String, _ shape: [Int]) -> Bool {
        guard let actual = store.shape(of: name) else {
            missing.append(name)
            return false
        }
        used.insert(name)
        guard actual == shape else {
            mismatched.append("\(name) is \(actual), expected \(shape)")
            return false
        }
        return true
    }

    /// One linear layer from weights stored `[rows, in]` (PyTorch's layout; `[in, rows]` when
    /// `conv1D`, GPT-2's), joined along their rows in order (fused projections: q, k, v), each read
    /// from the files straight into its packed place: no copy of each tensor, of the join, or of a
    /// transpose.
    private func packedLinear(_ names: [String], rows: [Int], in inputs: Int, bias: Tensor?, conv1D: Bool = false) throws -> Linear {
        let width = rows.reduce(0, +)
        let found = zip(names, rows).map { check($0, conv1D ? [inputs, $1] : [$1, inputs]) }   // every name checked, for `finish`'s list
        if let bad = found.firstIndex(of: false) { return Linear(weight: try placeholder([width, inputs], for: names[bad]), bias: bias) }
        var failed = false
        let linear = Linear(inFeatures: inputs, outFeatures: width, bias: bias) { packed in
            var column = 0
            for (name, count) in zip(names, rows) where !failed {
                do {
                    try store.withFloat32(name) { w in
                        if conv1D {
                            Linear.packColumns(w.baseAddress!, count: count, inFeatures: inputs, first: column, into: packed)
                        } else {
                            Linear.packRows(w.baseAddress!, count: count, inFeatures: inputs, first: column, into: packed)
                        }
                    }
                } catch {
                    mismatched.append("\(name): \(error)")
                    failed = true
                }
                column += count
            }
        }
        return failed ? Linear(weight: Tensor(zeros: [width, inputs]), bias: bias) : linear
    }

    /// A tensor that may be absent (an optional head); nil when it is.
    public func optional(_ name: String, _ shape: [Int]) throws -> Tensor? {
        store.contains(name) ? try take(name, shape) : nil
    }

    /// A linear layer `name.weight` `[out, in]` (PyTorch's layout) with `name.bias` `[out]` when `bias`;
    /// `base` adds the base-model prefix.
    func linear(_ name: String, in inputs: Int, out outputs: Int, bias: Bool = true, base: Bool = false) throws -> Linear {
        try fusedLinear([name], out: [outputs], in: inputs, bias: bias, base: base)
    }

    /// One linear layer from several stored `[out_i, in]` (with biases `[out_i]` when `bias`),
    /// joined along their outputs in order: q, k and v as one product.
    func fusedLinear(_ names: [String], out outputs: [Int], in inputs: Int, bias: Bool = true, base: Bool = false) throws -> Linear {
        let full = names.map { base ? prefix + $0 : $0 }
        let biases = bias ? try Tensor.concatenating(zip(full, outputs).map { try take("\($0).bias", [$1]) }) : nil
        return try packedLinear(full.map { "\($0).weight" }, rows: outputs, in: inputs, bias: biases)
    }

    /// A linear layer stored in GPT-2's Conv1D layout, `name.weight` `[in, out]`.
    func conv1D(_ name: String, in inputs: Int, out outputs: Int) throws -> Linear {
        try packedLinear([prefix + "\(name).weight"], rows: [outputs], in: inputs, bias: try base("\(name).bias", [outputs]), conv1D: true)
    }

    /// Throws one error naming every missing tensor and shape mismatch, and the unexpected names.
    public func finish() throws {
        guard !missing.isEmpty || !mismatched.isEmpty else { return }
        throw problem()
    }

    /// Zeros of `shape` in place of a tensor the file lacks, while the budget lasts.
    private func placeholder(_ shape: [Int], for name: String) throws -> Tensor {
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: max(dimension, 0))
            guard dimension >= 0, !overflow else { throw problem(stoppedAt: name) }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow, bytes <= placeholderBudget else { throw problem(stoppedAt: name) }
        placeholderBudget -= bytes
        return Tensor(zeros: shape)
    }

    private func problem(stoppedAt: String? = nil) -> ModelError {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing tensors: " + Self.summarise(missing)) }
        if !mismatched.isEmpty { parts.append("shape mismatches: " + Self.summarise(mismatched)) }
        let unexpected = store.names.filter { !used.contains($0) }
        if stoppedAt == nil, !unexpected.isEmpty { parts.append("tensors in the file that were not used: " + Self.summarise(unexpected)) }
        if let stoppedAt { parts.append("stopped at \(stoppedAt): config.json asks for more than the weight files hold") }
        return ModelError("the weights do not fit a \(architecture) model with this config.json; " + parts.joined(separator: "; "),
                          location: store.folder.path,
                          hint: "check that config.json belongs to these weights and that the weight file is complete")
    }

    private static func summarise(_ names: [String]) -> String {
        let shown = names.prefix(6)
        return names.count <= 6 ? shown.joined(separator: ", ") : shown.joined(separator: ", ") + " and \(names.count - 6) more"
    }
}
