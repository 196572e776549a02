import Foundation

/// The element types a safetensors header may name.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case u16 = "U16", u32 = "U32", u64 = "U64", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }
}

/// A safetensors file, memory-mapped, whose header has been checked before anything is trusted:
/// the declared header length lies within the file, the header is a JSON object, every dtype is
/// known, every shape agrees with its byte range, and the ranges cover the data after the header
/// exactly, one after the other with no gap, overlap or byte left over (as Hugging Face's reader
/// checks: a header one byte short, or bytes appended, mean the file is not what it says).
public final class SafeTensorsFile: @unchecked Sendable {
    /// One tensor's entry in the header.
    public struct Entry: Sendable {
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        /// Byte range relative to the start of the data section.
        public var range: Range<Int>
    }

    public let path: String
    /// Tensors by name, as the header declares them.
    public let entries: [String: Entry]
    /// The header's `__metadata__` map (string to string).
    public let metadata: [String: String]

    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataStart: Int

    /// Maps and validates the file at `path`.
    public init(path: String) throws {
        self.path = path
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        guard size >= 8 else {
            throw CoreError("not a safetensors file: \(size) bytes, shorter than the 8-byte header length",
                            location: path, hint: "the file is truncated; download it again")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw CoreError("cannot map the file into memory", location: path)
        }
        self.base = UnsafeRawPointer(mapped)
        self.mappedLength = size
        do {
            let headerLength = Int(clamping: base.loadUnaligned(as: UInt64.self).littleEndian)
            guard headerLength <= size - 8, headerLength <= 100_000_000 else {
                throw CoreError("header length \(headerLength) runs past the end of the \(size)-byte file",
                                location: path, hint: "the file is truncated or not safetensors; download it again")
            }
            dataStart = 8 + headerLength
            let header = Data(bytes: base + 8, count: headerLength)
            let (entries, metadata) = try Self.parseHeader(header, dataLength: size - dataStart, path: path)
            self.entries = entries
            self.metadata = metadata
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }

    private static func parseHeader(_ header: Data, dataLength: Int, path: String) throws
        -> ([String: Entry], [String: String])
    {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: header)
        } catch {
            throw CoreError("the header is not valid JSON", location: path,
                            hint: "the file is corrupt or not safetensors; download it again")
        }
        guard let object = json as? [String: Any] else {
            throw CoreError("the header is not a JSON object", location: path, hint: "the file is corrupt")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw CoreError("__metadata__ is not an object", location: path)
                }
                for (key, item) in map {
                    guard let text = item as? String else {
                        throw CoreError("__metadata__[\(key)] is not a string", location: path)
                    }
                    metadata[key] = text
                }
                continue
            }
            let at = "\(path) [\(name)]"
            guard let fields = value as? [String: Any] else {
                throw CoreError("the header entry is not an object", location: at)
            }
            guard let dtypeName = fields["dtype"] as? String else {
                throw CoreError("the header entry has no dtype", location: at)
            }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw CoreError("unknown dtype \"\(dtypeName)\"", location: at,
                                hint: "known: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let shapeValues = fields["shape"] as? [Any],
                  let shape = Self.integers(shapeValues), shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 })
            else { throw CoreError("the shape is not a list of non-negative integers", location: at) }
            guard let offsetValues = fields["data_offsets"] as? [Any],
                  let offsets = Self.integers(offsetValues), offsets.count == 2
            else { throw CoreError("data_offsets is not a pair of integers", location: at) }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw CoreError("data_offsets [\(begin), \(end)] lie outside the \(dataLength) bytes of data",
                                location: at, hint: "the file is truncated or corrupt; download it again")
            }
            guard let bytes = CheckedSize.bytes(shape, elementSize: dtype.size) else {
                throw CoreError("shape \(shape) has more elements than can be counted", location: at, hint: "the file is corrupt")
            }
            guard bytes == end - begin else {
                throw CoreError("shape \(shape) of \(dtype.rawValue) needs \(bytes) bytes but data_offsets give \(end - begin)",
                                location: at, hint: "the file is corrupt")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: begin ..< end)
        }
        // The tensors must tile the data exactly: each starts where the one before ends, and the
        // last ends at the end of the file.
        let ranges = entries.sorted { ($0.value.range.lowerBound, $0.value.range.upperBound) < ($1.value.range.lowerBound, $1.value.range.upperBound) }
        var covered = 0
        for (name, entry) in ranges {
            guard entry.range.lowerBound == covered else {
                let what = entry.range.lowerBound < covered ? "overlaps the tensor before it" : "leaves \(entry.range.lowerBound - covered) bytes unused before it"
                throw CoreError("tensor \(name) starts at byte \(entry.range.lowerBound) of the data, where the tensor before it ends at \(covered): it \(what)",
                                location: path, hint: "the header does not describe the data; the file is damaged, download it again")
            }
            covered = entry.range.upperBound
        }
        guard covered == dataLength else {
            throw CoreError("the header describes \(covered) bytes of tensor data but the file holds \(dataLength) after the header",
                            location: path, hint: "the file is truncated, damaged or has bytes appended; download it again")
        }
        return (entries, metadata)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), let int = Int(exactly: double) else { return nil }
            result.append(int)
        }
        return result
    }

    /// The names of the tensors, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// Gives the pages of bytes already copied out back to the kernel, so that loading a model holds
    /// its weights once (the copies), not twice (the copies and the mapped file).
    private func release(_ bytes: UnsafeRawBufferPointer) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let start = bytes.baseAddress, page > 0 else { return }
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let last = (Int(bitPattern: start) + bytes.count) / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(pointer, last - first, MADV_DONTNEED)
    }

    /// The raw bytes of a tensor.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let entry = entries[name] else {
            throw CoreError("no tensor named \(name)", location: path)
        }
        return UnsafeRawBufferPointer(start: base + dataStart + entry.range.lowerBound, count: entry.range.count)
    }

    /// Little-endian float32 bytes into floats: one copy on a little-endian machine.
    private static func copyFloat32(_ raw: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<Float>, count: Int) {
        #if _endian(little)
        UnsafeMutableRawPointer(out).copyMemory(from: raw.baseAddress!, byteCount: count * 4)
        #else
        for i in 0 ..< count { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
        #endif
    }

    /// Calls `body` with a tensor's values as Float32: straight from the mapped file when it is
    /// stored as aligned little-endian F32 (no copy; the pages are given back to the kernel after),
    /// otherwise converted as `tensor(_:)` does. The pointer is valid only inside `body`.
    public func withFloat32<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard let entry = entries[name] else {
            throw CoreError("no tensor named \(name)", location: path)
        }
        let raw = try bytes(name)
        #if _endian(little)
        if entry.dtype == .f32, let start = raw.baseAddress, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
            defer { release(raw) }
            return try body(UnsafeBufferPointer(start: start.assumingMemoryBound(to: Float.self), count: raw.count / 4))
        }
        #endif
        return try tensor(name).withUnsafeBufferPointer(body)
    }

    /// A tensor read as Float32 (from F32, F16, BF16 or F64).
    public func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else {
            throw CoreError("no tensor named \(name)", location: path)
        }
        guard [.f32, .f16, .bf16, .f64].contains(entry.dtype) else {
            throw CoreError("tensor \(name) is \(entry.dtype.rawValue), not a floating-point type", location: path)
        }
        let raw = try bytes(name)
        let count = entry.shape.reduce(1, *)
        let scalars = [Float](unsafeUninitializedCapacity: count) { out, initialized in
            switch entry.dtype {
            case .f16:
                for i in 0 ..< count { out[i] = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)) }
            case .bf16:
                for i in 0 ..< count { out[i] = Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian) << 16) }
            case .f64:
                for i in 0 ..< count { out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
            default:
                Self.copyFloat32(raw, into: out.baseAddress!, count: count)
            }
            initialized = count
        }
        release(raw)
        return Tensor(shape: entry.shape, scalars: scalars)
    }
}

/// Builds a safetensors file: tensors are written in name order with a sorted header, so the same
/// tensors and metadata always give the same bytes.
public struct SafeTensorsWriter {
    /// How a tensor is stored.
    public enum StoredType: Sendable {
        case f32, f16
        /// U8, b = round(255·√a) for a in [0, 1]: weights stored as the views draw them (√ keeps
        /// small weights visible: 1/512 is 11, not 0). Read back as (b/255)².
        case sqrtU8

        /// Bytes per element.
        var bytes: Int { switch self { case .f32: 4; case .f16: 2; case .sqrtU8: 1 } }
    }

    private var tensors: [String: (Tensor, StoredType)] = [:]
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public mutating func add(_ name: String, _ tensor: Tensor, as type: StoredType = .f32) {
        tensors[name] = (tensor, type)
    }

    /// The header (with its 8-byte length in front) and, in order, each tensor with how it is stored.
    private func layout() -> (header: Data, parts: [(Tensor, StoredType)]) {
        var header = "{"
        var first = true
        func appendKey(_ key: String) {
            if !first { header += "," }
            first = false
            header += JSONText.quote(key) + ":"
        }
        if !metadata.isEmpty {
            appendKey("__metadata__")
            header += "{" + metadata.keys.sorted().map { JSONText.quote($0) + ":" + JSONText.quote(metadata[$0]!) }
                .joined(separator: ",") + "}"
        }
        var offset = 0
        var parts: [(Tensor, StoredType)] = []
        for name in tensors.keys.sorted() {
            let (tensor, type) = tensors[name]!
            let size = tensor.count * type.bytes
            appendKey(name)
            let dtype = switch type { case .f32: "F32"; case .f16: "F16"; case .sqrtU8: "U8" }
            header += "{\"dtype\":\"\(dtype)\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
            parts.append((tensor, type))
        }
        header += "}"
        // Pad the header with spaces so that the data starts 8-byte aligned, as the reference writer does.
        while (header.utf8.count % 8) != 0 { header += " " }
        var length = UInt64(header.utf8.count).littleEndian
        var data = Data(bytes: &length, count: 8)
        data.append(header.data(using: .utf8)!)
        return (data, parts)
    }

    /// Hands the stored bytes of one tensor to `sink`, in pieces of at most 4 MB.
    private static func stream(_ tensor: Tensor, as type: StoredType, _ sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let chunk = 1 << 20   // elements
        try tensor.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let end = min(buffer.count, start + chunk)
                switch type {
                case .f32:
                    #if _endian(little)
                    try sink(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[(start * 4) ..< (end * 4)]))
                    #else
                    let littleEndian = buffer[start ..< end].map { $0.bitPattern.littleEndian }
                    try littleEndian.withUnsafeBytes(sink)
                    #endif
                case .f16:
                    let halves = buffer[start ..< end].map { Float16($0).bitPattern.littleEndian }
                    try halves.withUnsafeBytes(sink)
                case .sqrtU8:
                    let bytes = buffer[start ..< end].map { UInt8((255 * max(0, min(1, $0)).squareRoot()).rounded()) }
                    try bytes.withUnsafeBytes(sink)
                }
                start = end
            }
        }
    }

    /// The file's bytes.
    public func encoded() -> Data {
        let (header, parts) = layout()
        var data = header
        data.reserveCapacity(header.count + parts.reduce(0) { $0 + $1.0.count * $1.1.bytes })
        for (tensor, type) in parts { Self.stream(tensor, as: type) { data.append(contentsOf: $0) } }
        return data
    }

    /// Writes the file atomically, tensor by tensor: no copy of the whole file is made in memory.
    public func write(to url: URL) throws {
        let (header, parts) = layout()
        try AtomicFile.write(to: url) { sink in
            try header.withUnsafeBytes { try sink($0) }
            for (tensor, type) in parts { try Self.stream(tensor, as: type, sink) }
        }
    }
}
