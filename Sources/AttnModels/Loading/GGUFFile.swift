import AttnCore
import Foundation

/// The value types of GGUF metadata, by their number in the file.
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// Bytes of one value of a fixed-size type; nil for strings and arrays.
    var size: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    var name: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }
}

/// One metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array: its element type and its elements (never arrays: GGUF readers refuse nested arrays).
    case array(GGUFValueType, [GGUFValue])

    /// The value of an integer type, when it fits in `Int`.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value of a floating-point or integer type.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let text) = self { text } else { nil } }
    public var bool: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    /// The elements of an array.
    public var array: [GGUFValue]? { if case .array(_, let items) = self { items } else { nil } }

    /// The type's name as GGUF writes it (`UINT32`, `[STRING]` for an array of strings).
    public var typeName: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float32: "FLOAT32"
        case .float64: "FLOAT64"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array(let type, _): "[\(type.name)]"
        }
    }
}

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    /// Dimensions as GGUF stores them: the contiguous one (`ne[0]`) first.
    public var dimensions: [Int]
    public var type: GGMLType
    /// Offset of the data from the start of the data section.
    public var offset: Int
    public var elementCount: Int
    public var byteCount: Int

    /// The shape in PyTorch's order (outermost first): the dimensions reversed.
    public var shape: [Int] { dimensions.reversed() }
}

/// A GGUF file (llama.cpp's format: metadata and tensors, often quantised), memory-mapped, whose
/// header is checked before anything in it is trusted, as ggml's `gguf.cpp` checks it: the magic,
/// the version (2 or 3), the counts, every string and array length against the bytes left, the
/// metadata value types (no nested arrays), unique keys and tensor names, the dimensions, element
/// counts and byte sizes without overflow, rows divisible by the block size, `general.alignment`,
/// and each tensor's offset (aligned, in order, packed as ggml packs them) and extent inside the file.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    /// 2 or 3.
    public let version: Int
    /// The alignment of the data section and of each tensor (`general.alignment`, 32 by default).
    public let alignment: Int
    /// Metadata keys in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// The file's size in bytes.
    public let fileSize: Int
    /// Where the data section starts in the file.
    public let dataOffset: Int

    private let tensorIndex: [String: Int]
    private let base: UnsafeRawPointer?
    private let mappedLength: Int

    /// The largest string and array ggml reads.
    static let maximumStringLength = 1 << 30
    static let maximumArrayCount = 1 << 30
    /// ggml's `GGML_MAX_NAME` and `GGML_MAX_DIMS`.
    static let maximumNameLength = 64
    static let maximumDimensions = 4
    static let defaultAlignment = 32

    /// Maps and validates the file at `path`. Anything but a regular file (a folder, a pipe, a
    /// device) is refused without blocking (`RegularFile`).
    public init(path: String) throws {
        self.path = path
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        fileSize = size
        if size > 0 {
            guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
                throw ModelError("cannot map the file into memory", location: path)
            }
            base = UnsafeRawPointer(mapped)
        } else {
            base = nil
        }
        mappedLength = size
        do {
            let header = try Self.parse(UnsafeRawBufferPointer(start: base, count: size), path: path)
            version = header.version
            alignment = header.alignment
            keys = header.keys
            metadata = header.metadata
            tensors = header.tensors
            dataOffset = header.dataOffset
        } catch {
            if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
            throw error
        }
        var index: [String: Int] = [:]
        for (position, tensor) in tensors.enumerated() { index[tensor.name] = position }
        tensorIndex = index
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), mappedLength) }
    }

    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor (its blocks, as the file stores them).
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard let base, tensor.byteCount > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount)
    }

    /// A tensor dequantised to Float32 as ggml's reference code does, in PyTorch's shape
    /// (the GGUF dimensions reversed; the element order is the same).
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensorInfo(name) else {
            throw ModelError("no tensor named \(name) in the GGUF file", location: path)
        }
        let raw = bytes(of: info)
        let scalars = try GGUFDequantize.floats(raw, type: info.type, count: info.elementCount, tensor: name, path: path)
        release(raw)
        return Tensor(shape: info.shape, scalars: scalars)
    }

    /// Gives the mapped pages of a tensor that was copied out back to the kernel, so that a loaded
    /// model holds its weights once.
    private func release(_ bytes: UnsafeRawBufferPointer) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let start = bytes.baseAddress, page > 0 else { return }
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let last = (Int(bitPattern: start) + bytes.count) / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(pointer, last - first, MADV_DONTNEED)
    }

    // MARK: - Typed metadata

    /// An integer value (of any integer type).
    public func int(_ key: String) throws -> Int? {
        guard let value = metadata[key] else { return nil }
        guard let int = value.int else { throw typeError(key, value, expected: "an integer") }
        return int
    }

    /// A number (integer or floating point).
    public func double(_ key: String) throws -> Double? {
        guard let value = metadata[key] else { return nil }
        guard let double = value.double else { throw typeError(key, value, expected: "a number") }
        return double
    }

    public func string(_ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard let string = value.string else { throw typeError(key, value, expected: "a string") }
        return string
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let flag = value.bool else { throw typeError(key, value, expected: "a boolean") }
        return flag
    }

    /// An array of strings.
    public func strings(_ key: String) throws -> [String]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(.string, let items) = value else { throw typeError(key, value, expected: "an array of strings") }
        return items.map { $0.string ?? "" }
    }

    /// An array of numbers.
    public func doubles(_ key: String) throws -> [Double]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(_, let items) = value, items.allSatisfy({ $0.double != nil }) else {
            throw typeError(key, value, expected: "an array of numbers")
        }
        return items.map { $0.double! }
    }

    /// An array of integers.
    public func ints(_ key: String) throws -> [Int]? {
        guard let value = metadata[key] else { return nil }
        guard case .array(_, let items) = value, items.allSatisfy({ $0.int != nil }) else {
            throw typeError(key, value, expected: "an array of integers")
        }
        return items.map { $0.int! }
    }

    private func typeError(_ key: String, _ value: GGUFValue, expected: String) -> ModelError {
        ModelError("metadata \(key) is \(value.typeName), expected \(expected)", location: path,
                   hint: "the file was not written by a llama.cpp-compatible converter, or is corrupt")
    }

    // MARK: - Parsing

    private struct Header {
        var version: Int
        var alignment: Int
        var keys: [String]
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
        var dataOffset: Int
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        var cursor = ByteCursor(bytes: bytes, path: path)
        guard bytes.count >= 4 else {
            throw cursor.corrupt("the file has \(bytes.count) bytes, too few for the GGUF magic", hint: "the file is truncated or not GGUF; download it again")
        }
        guard Array(bytes[0..<4]) == Array("GGUF".utf8) else {
            let shown = bytes[0..<4].map { (0x20...0x7E).contains($0) ? String(UnicodeScalar($0)) : "?" }.joined()
            throw ModelError("not a GGUF file: it starts with \"\(shown)\", not \"GGUF\"", location: path,
                             hint: "give a .gguf file written by llama.cpp or gguf-py")
        }
        cursor.position = 4
        let version = try cursor.read(UInt32.self, "the version")
        if version & 0xFFFF == 0 && version != 0 {
            throw ModelError("GGUF version \(version) reads as a big-endian file", location: path,
                             hint: "AttnLab reads little-endian GGUF files; convert it with gguf-convert-endian")
        }
        guard version == 2 || version == 3 else {
            throw ModelError("GGUF version \(version) is not supported (AttnLab reads versions 2 and 3)", location: path,
                             hint: version < 2 ? "re-convert the model with a current llama.cpp" : "the file is newer than this AttnLab or corrupt")
        }
        let tensorCount = try cursor.read(Int64.self, "the tensor count")
        let keyCount = try cursor.read(Int64.self, "the metadata count")
        // Each tensor entry takes at least 24 bytes and each metadata pair 12: a count the file
        // cannot hold is refused before any loop runs.
        guard tensorCount >= 0, tensorCount <= cursor.remaining / 24 else {
            throw cursor.corrupt("a tensor count of \(tensorCount) does not fit the \(cursor.remaining) bytes left", at: 8)
        }
        guard keyCount >= 0, keyCount <= cursor.remaining / 12 else {
            throw cursor.corrupt("a metadata count of \(keyCount) does not fit the \(cursor.remaining) bytes left", at: 16)
        }

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<Int(keyCount) {
            let start = cursor.position
            let key = try cursor.readString("the name of metadata pair \(index)")
            guard !key.isEmpty else { throw cursor.corrupt("metadata pair \(index) has an empty key", at: start) }
            guard metadata[key] == nil else { throw cursor.corrupt("metadata key \"\(key)\" appears twice", at: start) }
            let typeNumber = try cursor.read(UInt32.self, "the type of metadata \(key)")
            guard let type = GGUFValueType(rawValue: typeNumber) else {
                throw cursor.corrupt("metadata \(key) has the unknown value type \(typeNumber)", at: cursor.position - 4)
            }
            metadata[key] = try readValue(type, key: key, cursor: &cursor)
            keys.append(key)
        }

        var alignment = defaultAlignment
        if let value = metadata["general.alignment"] {
            guard case .uint32(let declared) = value else {
                throw ModelError("general.alignment is \(value.typeName), not UINT32", location: path, hint: "the file is corrupt")
            }
            guard declared > 0, declared & (declared - 1) == 0 else {
                throw ModelError("general.alignment \(declared) is not a power of 2", location: path, hint: "the file is corrupt")
            }
            alignment = Int(declared)
        }

        var tensors: [GGUFTensorInfo] = []
        var names = Set<String>()
        for index in 0..<Int(tensorCount) {
            let start = cursor.position
            let name = try cursor.readString("the name of tensor \(index)")
            guard name.utf8.count < maximumNameLength else {
                throw cursor.corrupt("tensor \(index)'s name is \(name.utf8.count) bytes long; ggml allows at most \(maximumNameLength - 1)", at: start)
            }
            guard names.insert(name).inserted else { throw cursor.corrupt("tensor name \"\(name)\" appears twice", at: start) }
            let dimensionCount = try cursor.read(UInt32.self, "the dimension count of tensor \(name)")
            guard dimensionCount <= UInt32(maximumDimensions) else {
                throw cursor.corrupt("tensor \(name) has \(dimensionCount) dimensions; GGUF allows at most \(maximumDimensions)", at: cursor.position - 4)
            }
            var dimensions: [Int] = []
            var elements = 1
            for axis in 0..<Int(dimensionCount) {
                let size = try cursor.read(Int64.self, "dimension \(axis) of tensor \(name)")
                guard size >= 0 else { throw cursor.corrupt("tensor \(name) has a negative dimension \(size)", at: cursor.position - 8) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(size))
                guard !overflow else {
                    throw cursor.corrupt("tensor \(name)'s element count overflows 64 bits", at: cursor.position - 8)
                }
                elements = product
                dimensions.append(Int(size))
            }
            let typeNumber = try cursor.read(UInt32.self, "the type of tensor \(name)")
            guard let type = GGMLType(rawValue: typeNumber) else {
                throw ModelError("tensor \(name) has the unknown ggml type \(typeNumber)", location: path,
                                 hint: "the file is corrupt, or uses a quantisation newer than AttnLab knows; AttnLab reads "
                                     + GGMLType.readable.map(\.name).joined(separator: ", "))
            }
            let rowLength = dimensions.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw cursor.corrupt("tensor \(name) (\(type.name)) has rows of \(rowLength) elements, not a multiple of its block size \(type.blockSize)",
                                     at: cursor.position - 4)
            }
            let (byteCount, byteOverflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.typeSize)
            guard !byteOverflow else { throw cursor.corrupt("tensor \(name)'s size in bytes overflows 64 bits", at: cursor.position - 4) }
            let offset = try cursor.read(UInt64.self, "the data offset of tensor \(name)")
            guard let offset = Int(exactly: offset) else {
                throw cursor.corrupt("tensor \(name)'s data offset \(offset) is too large", at: cursor.position - 8)
            }
            tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset,
                                          elementCount: elements, byteCount: byteCount))
        }

        // The data section starts at the next multiple of the alignment; ggml packs the tensors in
        // order, each padded to the alignment, and accepts no other layout.
        var dataOffset = cursor.position
        if !tensors.isEmpty {
            dataOffset = (cursor.position + alignment - 1) / alignment * alignment
            guard dataOffset <= bytes.count else {
                throw cursor.corrupt("the data section would start at byte \(dataOffset), past the end of the \(bytes.count)-byte file")
            }
        }
        var expected = 0
        for tensor in tensors {
            guard tensor.offset == expected else {
                throw ModelError("tensor \(tensor.name)'s data offset is \(tensor.offset), expected \(expected) "
                                 + "(tensors follow each other, each padded to \(alignment) bytes)",
                                 location: path, hint: "the file is corrupt; download it again")
            }
            let end = dataOffset.addingReportingOverflow(tensor.offset)
            let stop = end.partialValue.addingReportingOverflow(tensor.byteCount)
            guard !end.overflow, !stop.overflow, stop.partialValue <= bytes.count else {
                throw ModelError("tensor \(tensor.name)'s \(tensor.byteCount) bytes run past the end of the \(bytes.count)-byte file",
                                 location: path, hint: "the file is truncated; download it again")
            }
            let padded = (tensor.byteCount + alignment - 1) / alignment * alignment
            let (next, overflow) = expected.addingReportingOverflow(padded)
            guard !overflow, padded >= tensor.byteCount else {
                throw ModelError("the data section's size overflows 64 bits at tensor \(tensor.name)", location: path, hint: "the file is corrupt")
            }
            expected = next
        }
        return Header(version: Int(version), alignment: alignment, keys: keys, metadata: metadata,
                      tensors: tensors, dataOffset: dataOffset)
    }

    private static func readValue(_ type: GGUFValueType, key: String, cursor: inout ByteCursor) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try cursor.read(UInt8.self, "metadata \(key)"))
        case .int8: return .int8(try cursor.read(Int8.self, "metadata \(key)"))
        case .uint16: return .uint16(try cursor.read(UInt16.self, "metadata \(key)"))
        case .int16: return .int16(try cursor.read(Int16.self, "metadata \(key)"))
        case .uint32: return .uint32(try cursor.read(UInt32.self, "metadata \(key)"))
        case .int32: return .int32(try cursor.read(Int32.self, "metadata \(key)"))
        case .uint64: return .uint64(try cursor.read(UInt64.self, "metadata \(key)"))
        case .int64: return .int64(try cursor.read(Int64.self, "metadata \(key)"))
        case .float32: return .float32(Float(bitPattern: try cursor.read(UInt32.self, "metadata \(key)")))
        case .float64: return .float64(Double(bitPattern: try cursor.read(UInt64.self, "metadata \(key)")))
        case .bool: return .bool(try cursor.read(UInt8.self, "metadata \(key)") != 0)
        case .string: return .string(try cursor.readString("metadata \(key)"))
        case .array:
            let start = cursor.position
            let elementNumber = try cursor.read(UInt32.self, "the element type of metadata \(key)")
            guard let element = GGUFValueType(rawValue: elementNumber) else {
                throw cursor.corrupt("metadata \(key) is an array of the unknown value type \(elementNumber)", at: start)
            }
            guard element != .array else {
                throw cursor.corrupt("metadata \(key) is an array of arrays, which GGUF readers do not accept", at: start)
            }
            let count = try cursor.read(UInt64.self, "the length of metadata \(key)")
            // Every element takes at least its fixed size (8 bytes of length for a string).
            let least = element.size ?? 8
            guard count <= UInt64(maximumArrayCount), count <= UInt64(cursor.remaining / least) else {
                throw cursor.corrupt("metadata \(key) claims \(count) elements, more than the \(cursor.remaining) bytes left can hold",
                                     at: cursor.position - 8)
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) { items.append(try readValue(element, key: key, cursor: &cursor)) }
            return .array(element, items)
        }
    }
}

/// Reads little-endian values from the mapped file, never past its end.
private struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    var position = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw corrupt("the file ends in \(what()) (\(remaining) of \(size) bytes left)",
                          hint: "the file is truncated; download it again")
        }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += size
        return value
    }

    /// A length-prefixed UTF-8 string (invalid UTF-8 is replaced, as by a lenient decoder).
    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let start = position
        let length = try read(UInt64.self, what())
        guard length <= UInt64(GGUFFile.maximumStringLength) else {
            throw corrupt("\(what()) is a string of \(length) bytes, longer than the \(GGUFFile.maximumStringLength) GGUF allows", at: start)
        }
        guard length <= UInt64(remaining) else {
            throw corrupt("\(what()) is a string of \(length) bytes, but only \(remaining) bytes are left", at: start,
                          hint: "the file is truncated or corrupt; download it again")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(length)]), as: UTF8.self)
        position += Int(length)
        return text
    }

    func corrupt(_ message: String, at offset: Int? = nil, hint: String = "the file is corrupt or truncated; download it again") -> ModelError {
        ModelError("the GGUF header is corrupt: \(message) (at byte \(offset ?? position))", location: path, hint: hint)
    }
}
