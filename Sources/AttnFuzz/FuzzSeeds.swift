import AttnCore
import Foundation

/// Where the seeds come from: inputs built here (so that they follow the formats as they are), and
/// the small files the repository's tests keep (real tokenizers, checkpoints, snapshots).
public enum FuzzSeeds {
    /// The repository this library was built from (its files are read as seeds when present).
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The files at `paths` (relative to the repository) that exist.
    static func files(_ paths: [String]) -> [Data] {
        paths.compactMap { try? Data(contentsOf: repository.appendingPathComponent($0)) }
    }

    /// The files under `folder` (relative to the repository) named `name`, sorted.
    static func files(under folder: String, named name: String) -> [Data] {
        let root = repository.appendingPathComponent(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        let urls = walker.compactMap { $0 as? URL }.filter { $0.lastPathComponent == name }.sorted { $0.path < $1.path }
        return urls.compactMap { try? Data(contentsOf: $0) }
    }

    // MARK: Traces

    /// A small trace: a sentence pair of 8 tokens, 2 layers × 2 heads, with queries, keys, values,
    /// hidden states and outputs.
    static func trace() -> Trace {
        let words = ["[CLS]", "the", "song", "was", "sick", "[SEP]", "great", "[SEP]"]
        let tokens = words.enumerated().map { index, word in
            TraceToken(text: word, id: 100 + index, start: word.hasPrefix("[") ? nil : index, end: word.hasPrefix("[") ? nil : index + 1,
                       word: word.hasPrefix("[") ? nil : index, segment: index > 5 ? 1 : 0, special: word.hasPrefix("["))
        }
        let n = tokens.count
        func tensor(_ shape: [Int], _ value: (Int) -> Float) -> Tensor {
            Tensor(shape: shape, scalars: (0 ..< shape.reduce(1, *)).map(value))
        }
        let attention = tensor([2, 2, n, n]) { index in
            let (row, column) = ((index / n) % n, index % n)
            return column == row ? 0.5 : 0.5 / Float(n - 1)
        }
        let stack = AttentionStack(attention: attention, query: tensor([2, 2, n, 4]) { Float($0 % 7) - 3 },
                                   key: tensor([2, 2, n, 4]) { Float($0 % 5) - 2 }, value: tensor([2, 2, n, 4]) { Float($0 % 3) },
                                   hidden: tensor([3, n, 8]) { Float($0 % 11) / 10 })
        return Trace(inputs: TraceInputs(a: "the song was sick", b: "great"), tokens: tokens, tokenTypeIds: tokens.map(\.segment),
                     stacks: [.encoder: stack],
                     outputs: TraceOutputs(similarity: 0.5, labels: ["no", "yes"], probabilities: [0.25, 0.75],
                                           topk: [TopKPrediction(position: 4, candidates: [Candidate(token: "good", id: 7, probability: 0.5)])]),
                     provenance: Provenance(model: "fuzz", architecture: "bert", task: "similarity", capture: ["qkv", "hidden"]))
    }

    // MARK: Zip archives and pickles

    /// A zip archive of stored entries, as torch.save writes them.
    public static func zip(_ entries: [(String, [UInt8])]) -> Data {
        var file: [UInt8] = [], directory: [UInt8] = []
        func u16(_ value: Int, _ out: inout [UInt8]) { out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func u32(_ value: Int, _ out: inout [UInt8]) { for i in 0 ..< 4 { out.append(UInt8(value >> (8 * i) & 0xFF)) } }
        for (name, data) in entries {
            let nameBytes = Array(name.utf8), offset = file.count
            u32(0x0403_4B50, &file); u16(20, &file); u16(0, &file); u16(0, &file); u16(0, &file); u16(0, &file); u32(0, &file)
            u32(data.count, &file); u32(data.count, &file); u16(nameBytes.count, &file); u16(0, &file)
            file += nameBytes + data
            u32(0x0201_4B50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(0, &directory); u32(data.count, &directory); u32(data.count, &directory)
            u16(nameBytes.count, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory)
            u32(0, &directory); u32(offset, &directory)
            directory += nameBytes
        }
        let directoryOffset = file.count
        file += directory
        u32(0x0605_4B50, &file); u16(0, &file); u16(0, &file); u16(entries.count, &file); u16(entries.count, &file)
        u32(directory.count, &file); u32(directoryOffset, &file); u16(0, &file)
        return Data(file)
    }

    /// The stored entries of a zip archive, read from its local headers (for seeds only).
    static func storedEntries(_ data: Data) -> [(String, [UInt8])] {
        let bytes = [UInt8](data)
        var entries: [(String, [UInt8])] = [], at = 0
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        while at + 30 <= bytes.count, u32(at) == 0x0403_4B50 {
            let (size, nameLength, extraLength) = (u32(at + 18), u16(at + 26), u16(at + 28))
            let dataStart = at + 30 + nameLength + extraLength
            guard u16(at + 8) == 0, dataStart + size <= bytes.count else { break }
            entries.append((String(decoding: bytes[at + 30 ..< at + 30 + nameLength], as: UTF8.self), Array(bytes[dataStart ..< dataStart + size])))
            at = dataStart + size
        }
        return entries
    }

    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func unicode(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
    }

    /// A state dict pickle (protocol 2) of float32 tensors on storages "0", "1", …, each contiguous,
    /// as `(name, shape)`; a second view of the first storage when `shared`.
    static func statePickle(_ tensors: [(String, [Int])], shared: Bool = false, ordered: Bool = false) -> [UInt8] {
        func int(_ value: Int) -> [UInt8] { value < 256 ? [0x4B, UInt8(value)] : [0x4A] + withUnsafeBytes(of: Int32(value).littleEndian, Array.init) }
        func rebuild(_ key: String, _ shape: [Int], count: Int, offset: Int) -> [UInt8] {
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * max(shape[d + 1], 1) }
            var out = global("torch._utils", "_rebuild_tensor_v2") + [0x28]
            out += [0x28] + unicode("storage") + global("torch", "FloatStorage") + unicode(key) + unicode("cpu") + int(count) + [0x74, 0x51]
            out += int(offset) + [0x28] + shape.flatMap(int) + [0x74, 0x28] + strides.flatMap(int) + [0x74]
            out += [0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52]
            return out
        }
        var pickle: [UInt8] = [0x80, 0x02]
        pickle += ordered ? global("collections", "OrderedDict") + [0x29, 0x52, 0x71, 0x00, 0x28] : [0x7D, 0x28]
        for (index, (name, shape)) in tensors.enumerated() {
            pickle += unicode(name) + rebuild("\(index)", shape, count: shape.reduce(1, *), offset: 0)
        }
        if shared, let (_, shape) = tensors.first {
            pickle += unicode("shared") + rebuild("0", [max(shape.reduce(1, *) - 1, 0)], count: shape.reduce(1, *), offset: 1)
        }
        return pickle + [0x75, 0x2E]
    }

    /// A checkpoint holding `pickle` and float32 storages for the tensors it names.
    static func checkpoint(pickle: [UInt8], storages: [[Int]]) -> Data {
        var entries: [(String, [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        for (index, shape) in storages.enumerated() {
            let floats = (0 ..< shape.reduce(1, *)).flatMap { withUnsafeBytes(of: (Float($0) / 8).bitPattern.littleEndian, Array.init) }
            entries.append(("archive/data/\(index)", floats))
        }
        entries.append(("archive/version", Array("3\n".utf8)))
        return zip(entries)
    }

    static let pickleTensors: [(String, [Int])] = [("embeddings.weight", [4, 3]), ("layer.0.bias", [3]), ("scalar", [])]

    // MARK: .npy

    static func npy(_ descr: String, _ shape: [Int], version: UInt8 = 1, elementSize: Int) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let prefix = version == 1 ? 10 : 12
        while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
        let length = header.utf8.count
        data.append(contentsOf: version == 1 ? [UInt8(length & 0xFF), UInt8(length >> 8)]
                                             : [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), 0, 0])
        data.append(Data(header.utf8))
        data.append(Data((0 ..< shape.reduce(1, *) * elementSize).map { UInt8(truncatingIfNeeded: $0 * 37) }))
        return data
    }
}
