import AttnCore
import Foundation

/// A `pytorch_model.bin` written by `torch.save` (the zip format of PyTorch 1.6 and later): a pickle
/// of the state dict at `<prefix>/data.pkl` and one raw little-endian storage per entry at
/// `<prefix>/data/<key>`. The pickle is read by `PickleReader`, which runs nothing; storages are
/// read when a tensor is asked for, through its offset and strides, so views, transposed tensors
/// and storages shared by tied weights all read as PyTorch sees them.
public final class PyTorchCheckpoint: TensorSource, @unchecked Sendable {
    public let path: String
    /// Tensors by name, as the state dict holds them.
    public let views: [String: TorchTensorView]

    private let archive: ZipArchive
    /// The folder inside the zip (`archive/`, `pytorch_model/`, …), with its slash.
    private let prefix: String

    /// The largest data.pkl read: a state dict's pickle takes about a hundred bytes a tensor.
    static let maximumPickleSize = 64 << 20

    public init(path: String) throws {
        self.path = path
        let (descriptor, _) = try RegularFile.open(path)
        var head = [UInt8](repeating: 0, count: 4)
        let headCount = head.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, 4) }
        close(descriptor)
        guard headCount == 4, head == [0x50, 0x4B, 0x03, 0x04] else {
            if headCount > 0, head[0] == 0x80 {
                // A bare pickle: torch.save's legacy format (before PyTorch 1.6) starts so.
                throw ModelError("this is PyTorch's legacy checkpoint format (a bare pickle, before PyTorch 1.6), which AttnLab does not read",
                                 location: path,
                                 hint: "re-save it with torch.save in a current PyTorch, or convert it to safetensors")
            }
            throw ModelError("not a PyTorch checkpoint: the file is not a zip archive (\(headCount < 4 ? "it is nearly empty" : "wrong magic bytes"))",
                             location: path, hint: "the file is damaged or truncated; download it again")
        }
        archive = try ZipArchive(path: path)
        let entries = archive.entries
        guard let pickle = entries.keys.filter({ $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }).min(by: { ($0.count, $0) < ($1.count, $1) }) else {
            throw ModelError("the zip archive has no data.pkl, so it is not a checkpoint written by torch.save",
                             location: path, hint: "the file is damaged, or is some other zip; get the weights as safetensors")
        }
        prefix = String(pickle.dropLast("data.pkl".count))
        if let order = entries[prefix + "byteorder"] {
            let text = try archive.withBytes(order, limit: 16) { bytes, _ in String(decoding: bytes, as: UTF8.self) }
            guard text.trimmingCharacters(in: .whitespacesAndNewlines) == "little" else {
                throw ModelError("the checkpoint was saved on a big-endian machine (byteorder \"\(text)\")", location: path,
                                 hint: "convert it to safetensors on the machine that wrote it")
            }
        }
        let pickleBytes = try archive.withBytes(entries[pickle]!, limit: Self.maximumPickleSize) { bytes, complete in
            guard complete else {
                throw ModelError("\(pickle) holds more than \(Self.maximumPickleSize >> 20) MB, far more than a state dict's pickle",
                                 location: path, hint: "the file is damaged or not a checkpoint; get the weights as safetensors")
            }
            return [UInt8](bytes)
        }
        var reader = PickleReader(bytes: pickleBytes, file: path)
        let root = try reader.read()
        views = try Self.stateDict(root, reader: reader, path: path)
        for view in views.values {
            guard let entry = entries[prefix + "data/" + view.storage.key] else {
                throw ModelError("storage \(view.storage.key) is missing from the archive", location: path,
                                 hint: "the file is damaged or truncated; download it again")
            }
            // The declared size is only a first check; reading checks the bytes really there.
            let needed = view.storage.count * view.dtype.size   // checked not to overflow by the reader
            guard entry.declaredSize >= UInt64(needed) else {
                throw ModelError("storage \(view.storage.key) has \(entry.declaredSize) bytes, \(needed) expected", location: path,
                                 hint: "the file is damaged or truncated; download it again")
            }
        }
    }

    /// The tensors of the pickled value: a dict of name → tensor (other values, such as the
    /// `_metadata` some writers add, are skipped). A dict holding only a `state_dict` or `model`
    /// dict is opened (a few levels at most).
    static func stateDict(_ value: PickleValue, reader: PickleReader, path: String) throws -> [String: TorchTensorView] {
        var value = value
        for _ in 0 ..< 4 {
            guard let entries = reader.entries(ofDict: value) else {
                throw ModelError("the checkpoint holds a \(value.kind), not a state dict", location: path,
                                 hint: "save the model's state_dict() (transformers' save_pretrained does)")
            }
            var views: [String: TorchTensorView] = [:]
            for (key, item) in entries {
                guard case let .string(name) = key, case let .tensor(view) = item else { continue }
                views[name] = view
            }
            if !views.isEmpty { return views }
            guard let inner = entries.first(where: { entry in
                if case let .string(name) = entry.key, ["state_dict", "model"].contains(name), case .dict = entry.value { return true }
                return false
            }) else { break }
            value = inner.value
        }
        throw ModelError("the checkpoint's dict holds no tensors", location: path,
                         hint: "save the model's state_dict() (transformers' save_pretrained does)")
    }

    public var tensorNames: [String] { views.keys.sorted() }

    public func shape(of name: String) -> [Int]? { views[name]?.shape }

    /// The tensor converted to Float32, made contiguous. Only the bytes up to the tensor's last
    /// element are read (inflated, for a compressed archive).
    public func tensor(_ name: String) throws -> Tensor {
        guard let view = views[name] else { throw ModelError("no tensor named \(name)", location: path) }
        guard view.dtype.isFloatingPoint else {
            throw ModelError("tensor \(name) is \(view.dtype.rawValue), not a floating-point type", location: path)
        }
        guard let entry = archive.entries[prefix + "data/" + view.storage.key] else {
            throw ModelError("storage \(view.storage.key) is missing from the archive", location: path)
        }
        let needed = view.byteCount
        return try archive.withBytes(entry, limit: needed) { raw, _ in
            guard raw.count >= needed else {
                throw ModelError("storage \(view.storage.key) holds \(raw.count) bytes, but tensor \(name) reaches byte \(needed)",
                                 location: path, hint: "the file is damaged or truncated; download it again")
            }
            let tensor = Self.gather(view, from: raw)
            archive.release(raw)
            return tensor
        }
    }

    /// Reads a strided view of raw storage bytes into a row-major Float32 tensor.
    static func gather(_ view: TorchTensorView, from raw: UnsafeRawBufferPointer) -> Tensor {
        let count = view.count
        var scalars = [Float](repeating: 0, count: count)
        scalars.withUnsafeMutableBufferPointer { out in
            if view.isContiguous {
                convert(raw, dtype: view.dtype, from: view.offset, count: count, into: out.baseAddress!)
                return
            }
            // Walk the index in row-major order, keeping the storage position in step; each
            // innermost row is converted as a run.
            let rank = view.shape.count
            let (rowLength, rowStride) = (view.shape[rank - 1], view.strides[rank - 1])
            var index = [Int](repeating: 0, count: rank)
            var source = view.offset
            for row in 0 ..< count / max(rowLength, 1) {
                let target = out.baseAddress! + row * rowLength
                if rowStride == 1 {
                    convert(raw, dtype: view.dtype, from: source, count: rowLength, into: target)
                } else {
                    for j in 0 ..< rowLength { convert(raw, dtype: view.dtype, from: source + j * rowStride, count: 1, into: target + j) }
                }
                var d = rank - 2
                while d >= 0 {
                    index[d] += 1
                    source += view.strides[d]
                    if index[d] < view.shape[d] { break }
                    source -= view.strides[d] * view.shape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return Tensor(shape: view.shape, scalars: scalars)
    }

    /// Converts `count` little-endian elements starting at element `first` to Float32.
    private static func convert(_ raw: UnsafeRawBufferPointer, dtype: TorchDType, from first: Int, count: Int,
                                into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0 ..< count { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: (first + i) * 4, as: UInt32.self).littleEndian) }
        case .f16:
            for i in 0 ..< count { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: (first + i) * 2, as: UInt16.self).littleEndian)) }
        case .bf16:
            for i in 0 ..< count { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: (first + i) * 2, as: UInt16.self).littleEndian) << 16) }
        case .f64:
            for i in 0 ..< count { out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: (first + i) * 8, as: UInt64.self).littleEndian)) }
        default:
            break
        }
    }
}
