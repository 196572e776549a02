import AttnCore
import Foundation

/// The element types of PyTorch storages (`torch.FloatStorage`, …), with their sizes.
public enum TorchDType: String, Sendable, CaseIterable {
    case f32 = "float32", f16 = "float16", bf16 = "bfloat16", f64 = "float64"
    case i64 = "int64", i32 = "int32", i16 = "int16", i8 = "int8", u8 = "uint8", bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloatingPoint: Bool { [.f32, .f16, .bf16, .f64].contains(self) }

    /// The storage classes a state dict names, as `torch.save` writes them.
    static let storageClasses: [String: TorchDType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "DoubleStorage": .f64,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool, "UntypedStorage": .u8,
    ]

    /// The dtype objects (`torch.float32`, …) that `_rebuild_tensor_v3` passes.
    static let dtypeObjects: [String: TorchDType] = [
        "float32": .f32, "float": .f32, "float16": .f16, "half": .f16, "bfloat16": .bf16, "float64": .f64,
        "double": .f64, "int64": .i64, "long": .i64, "int32": .i32, "int": .i32, "int16": .i16, "short": .i16,
        "int8": .i8, "uint8": .u8, "bool": .bool,
    ]
}

/// One storage of a checkpoint: raw little-endian elements in the archive at `data/<key>`.
public struct TorchStorage: Sendable, Equatable {
    public var key: String
    public var dtype: TorchDType
    /// Elements in the storage.
    public var count: Int
}

/// A tensor of a checkpoint: a strided view of a storage, as `torch._utils._rebuild_tensor_v2`
/// describes it (offset and strides in elements).
public struct TorchTensorView: Sendable, Equatable {
    public var storage: TorchStorage
    public var offset: Int
    public var shape: [Int]
    public var strides: [Int]

    public var dtype: TorchDType { storage.dtype }
    public var count: Int { shape.reduce(1, *) }

    /// The bytes of the storage up to and including the view's last element (0 for an empty view).
    /// The reader checked that the view lies inside its storage, so this cannot overflow.
    public var byteCount: Int {
        guard !shape.contains(0) else { return 0 }
        let last = zip(shape, strides).reduce(offset) { $0 + ($1.0 - 1) * $1.1 }
        return (last + 1) * dtype.size
    }

    /// True when the elements lie in the storage in row-major order without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }
}

/// The values of the pickle subset that a PyTorch state dict uses. Tuples, lists and dicts live in
/// the reader's table of containers and are named here by their index, so that the memo and the
/// stack share them, as Python does, and so that no value holds another: however deeply a file
/// nests its containers, building, reading and freeing them never recurses.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(Int)
    case list(Int)
    case dict(Int)
    /// A name from the allow-list (`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`, …).
    case global(module: String, name: String)
    case storage(TorchStorage)
    case tensor(TorchTensorView)

    var kind: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict: "dict"
        case let .global(module, name): "\(module).\(name)"
        case .storage: "storage"
        case .tensor: "tensor"
        }
    }

    /// The index of the container, for tuples, lists and dicts.
    var container: Int? {
        switch self {
        case let .tuple(index), let .list(index), let .dict(index): index
        default: nil
        }
    }
}

/// A tuple, list or dict of a pickle: its items (a dict's keys and values alternate) and how deeply
/// it nests other containers, as far as the reader has seen.
struct PickleContainer {
    var items: [PickleValue] = []
    var depth = 1
}

/// A small interpreter for the pickles `torch.save` writes: it knows the opcodes of protocols 2 to 5
/// that a state dict uses and only the globals a state dict needs (tensor rebuilders, storage types,
/// `collections.OrderedDict`). It never imports or calls anything: a reference to any other global
/// (`os.system`, `builtins.eval`, `subprocess.*`, …) stops the reading with an error naming it.
///
/// Its work is bounded by the pickle's size: every opcode does a fixed amount of work or consumes
/// what earlier opcodes pushed, containers nest at most `maximumDepth` deep, and every count of
/// bytes is computed with overflow checks.
struct PickleReader {
    /// The globals a state dict may name. Storage and dtype names are values; the rest are the only
    /// things REDUCE may "call", each interpreted here.
    static let callables: Set<String> = [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
    ]
    static let typeNames: Set<String> = ["torch.Tensor", "torch.nn.parameter.Parameter"]

    /// How deeply containers may nest. A state dict nests four or five levels (the dict, a tensor's
    /// arguments, its size tuple); a file nesting hundreds is not a state dict.
    static let maximumDepth = 100

    static func isAllowed(module: String, name: String) -> Bool {
        let full = "\(module).\(name)"
        if callables.contains(full) || typeNames.contains(full) { return true }
        if module == "torch" {
            return TorchDType.storageClasses[name] != nil || TorchDType.dtypeObjects[name] != nil
        }
        return false
    }

    let bytes: [UInt8]
    /// Named in errors.
    let file: String
    private var position = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var storages: [String: TorchStorage] = [:]
    /// Every tuple, list and dict, by the index their values carry.
    private(set) var containers: [PickleContainer] = []

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    /// Runs the pickle to its STOP and returns the value it built.
    mutating func read() throws -> PickleValue {
        while true {
            let at = position
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()                                       // PROTO
            case 0x95: _ = try take(8)                                      // FRAME
            case 0x2E:                                                      // STOP
                guard let result = stack.popLast(), stack.isEmpty else {
                    throw error("the pickle stops with \(stack.count) values on its stack instead of one", at: at)
                }
                return result
            case 0x28: marks.append(stack.count)                             // MARK
            case 0x29: stack.append(try make(.tuple, [], at))                // EMPTY_TUPLE
            case 0x74:                                                      // TUPLE
                let items = try popToMark(at)
                stack.append(try make(.tuple, items, at))
            case 0x85, 0x86, 0x87:                                          // TUPLE1, TUPLE2, TUPLE3
                let items = try pop(Int(opcode) - 0x84, at)
                stack.append(try make(.tuple, items, at))
            case 0x5D: stack.append(try make(.list, [], at))                 // EMPTY_LIST
            case 0x6C:                                                      // LIST
                let items = try popToMark(at)
                stack.append(try make(.list, items, at))
            case 0x61:                                                      // APPEND
                let items = try pop(1, at)
                try append(items, toListAt: at)
            case 0x65:                                                      // APPENDS
                let items = try popToMark(at)
                try append(items, toListAt: at)
            case 0x7D: stack.append(try make(.dict, [], at))                 // EMPTY_DICT
            case 0x64:                                                      // DICT
                let items = try popToMark(at)
                guard items.count % 2 == 0 else { throw error("an odd number of items for a dict", at: at) }
                stack.append(try make(.dict, items, at))
            case 0x73:                                                      // SETITEM
                let items = try pop(2, at)
                try setItems(items, at)
            case 0x75:                                                      // SETITEMS
                let items = try popToMark(at)
                try setItems(items, at)
            case 0x4E: stack.append(.none)                                   // NONE
            case 0x88: stack.append(.bool(true))                             // NEWTRUE
            case 0x89: stack.append(.bool(false))                            // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: try littleEndian(4)))))   // BININT
            case 0x4B: stack.append(.int(Int(try byte())))                   // BININT1
            case 0x4D: stack.append(.int(Int(try littleEndian(2))))          // BININT2
            case 0x8A: stack.append(.int(try long(count: Int(try byte()), at)))          // LONG1
            case 0x8B: stack.append(.int(try long(count: Int(try littleEndian(4)), at))) // LONG4
            case 0x47:                                                      // BINFLOAT (big-endian)
                let raw = try take(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                stack.append(.float(Double(bitPattern: raw)))
            case 0x58: stack.append(.string(try text(count: Int(try littleEndian(4)), at)))   // BINUNICODE
            case 0x8C: stack.append(.string(try text(count: Int(try byte()), at)))            // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(count: try length64(at), at)))           // BINUNICODE8
            case 0x54: stack.append(.string(try text(count: Int(try littleEndian(4)), at)))   // BINSTRING
            case 0x55: stack.append(.string(try text(count: Int(try byte()), at)))            // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(try take(Int(try littleEndian(4)))))               // BINBYTES
            case 0x43: stack.append(.bytes(try take(Int(try byte()))))                        // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(try take(try length64(at))))                       // BINBYTES8
            case 0x63:                                                      // GLOBAL "module\nname\n"
                let module = try line(at), name = try line(at)
                stack.append(try global(module: module, name: name, at))
            case 0x93:                                                      // STACK_GLOBAL
                let parts = try pop(2, at)
                guard case let .string(module) = parts[0], case let .string(name) = parts[1] else {
                    throw error("STACK_GLOBAL needs two strings, got \(parts[0].kind) and \(parts[1].kind)", at: at)
                }
                stack.append(try global(module: module, name: name, at))
            case 0x51:                                                      // BINPERSID
                let id = try pop(1, at)[0]
                stack.append(try persistentLoad(id, at))
            case 0x52, 0x81:                                                // REDUCE, NEWOBJ
                let parts = try pop(2, at)
                guard case let .tuple(arguments) = parts[1] else {
                    throw error("the arguments of a call are a \(parts[1].kind), not a tuple", at: at)
                }
                let value = try call(parts[0], containers[arguments].items, at)
                stack.append(value)
            case 0x62:                                                      // BUILD
                // A state dict's OrderedDict carries `_metadata` (module versions) and a tensor
                // may carry Python attributes; neither changes the weights, so the state is dropped.
                let state = try pop(1, at)[0]
                guard let target = stack.last else { throw error("BUILD on an empty stack", at: at) }
                switch target {
                case .dict, .tensor: break
                default: throw error("BUILD on a \(target.kind) (with a \(state.kind)), which a state dict never does", at: at)
                }
            case 0x71: memo[Int(try byte())] = try top(at)                  // BINPUT
            case 0x72: memo[Int(try littleEndian(4))] = try top(at)         // LONG_BINPUT
            case 0x94: memo[memo.count] = try top(at)                       // MEMOIZE
            case 0x70:                                                      // PUT (text)
                guard let index = Int(try line(at)) else { throw error("PUT with a bad index", at: at) }
                memo[index] = try top(at)
            case 0x68: stack.append(try recall(Int(try byte()), at))        // BINGET
            case 0x6A: stack.append(try recall(Int(try littleEndian(4)), at)) // LONG_BINGET
            case 0x67:                                                      // GET (text)
                guard let index = Int(try line(at)) else { throw error("GET with a bad index", at: at) }
                stack.append(try recall(index, at))
            case 0x30: _ = try pop(1, at)                                    // POP
            case 0x31: _ = try popToMark(at)                                 // POP_MARK
            case 0x32: stack.append(try top(at))                             // DUP
            default:
                throw error(String(format: "opcode 0x%02X", opcode) + Self.opcodeName(opcode).map { " (\($0))" }.orEmpty
                            + " is not one a PyTorch state dict uses", at: at)
            }
        }
    }

    // MARK: Reading the result

    /// The entries of a dict value, keys and values paired.
    func entries(ofDict value: PickleValue) -> [(key: PickleValue, value: PickleValue)]? {
        guard case let .dict(index) = value else { return nil }
        let items = containers[index].items
        return stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) }
    }

    /// The items of a tuple or list value.
    func items(of value: PickleValue) -> [PickleValue]? {
        switch value {
        case let .tuple(index), let .list(index): containers[index].items
        default: nil
        }
    }

    // MARK: Containers

    private enum ContainerKind { case tuple, list, dict }

    private func depth(_ value: PickleValue) -> Int { value.container.map { containers[$0].depth } ?? 0 }

    /// A new container holding `items`.
    private mutating func make(_ kind: ContainerKind, _ items: [PickleValue], _ at: Int) throws -> PickleValue {
        let depth = 1 + (items.lazy.map(depth).max() ?? 0)
        try checkDepth(depth, at)
        containers.append(PickleContainer(items: items, depth: depth))
        let index = containers.count - 1
        switch kind {
        case .tuple: return .tuple(index)
        case .list: return .list(index)
        case .dict: return .dict(index)
        }
    }

    private func checkDepth(_ depth: Int, _ at: Int) throws {
        guard depth <= Self.maximumDepth else {
            throw error("containers nest more than \(Self.maximumDepth) deep, where a state dict nests a few levels", at: at)
        }
    }

    private mutating func append(_ items: [PickleValue], toListAt at: Int) throws {
        guard case let .list(index) = try top(at) else { throw error("APPEND to a \(try top(at).kind)", at: at) }
        try insert(items, into: index, at)
    }

    private mutating func setItems(_ items: [PickleValue], _ at: Int) throws {
        guard items.count % 2 == 0 else { throw error("an odd number of items for a dict", at: at) }
        guard case let .dict(index) = try top(at) else { throw error("SETITEM on a \(try top(at).kind)", at: at) }
        try insert(items, into: index, at)
    }

    private mutating func insert(_ items: [PickleValue], into index: Int, _ at: Int) throws {
        let depth = max(containers[index].depth, 1 + (items.lazy.map(depth).max() ?? 0))
        try checkDepth(depth, at)
        containers[index].depth = depth
        containers[index].items.append(contentsOf: items)
    }

    // MARK: Globals and calls

    private func global(module: String, name: String, _ at: Int) throws -> PickleValue {
        guard Self.isAllowed(module: module, name: name) else {
            throw ModelError("refused to load: the pickle names the global \(module).\(name) (at byte \(at) of data.pkl), "
                             + "which a PyTorch state dict never uses; nothing in the file was run",
                             location: file,
                             hint: "AttnLab reads only tensors from .bin files; get the weights as safetensors, or from a source you trust")
        }
        return .global(module: module, name: name)
    }

    private mutating func call(_ callable: PickleValue, _ arguments: [PickleValue], _ at: Int) throws -> PickleValue {
        guard case let .global(module, name) = callable, Self.callables.contains("\(module).\(name)") else {
            throw error("the pickle calls \(callable.kind), which a state dict never calls", at: at)
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict":
            var items: [PickleValue] = []
            if let argument = arguments.first {
                // OrderedDict([(key, value), …])
                guard case .list = argument, let pairs = self.items(of: argument) else { throw error("OrderedDict of a \(argument.kind)", at: at) }
                for pair in pairs {
                    guard case .tuple = pair, let kv = self.items(of: pair), kv.count == 2 else { throw error("OrderedDict item is not a pair", at: at) }
                    items += kv
                }
            }
            return try make(.dict, items, at)
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
            guard arguments.count >= 4, case let .storage(storage) = arguments[0], case let .int(offset) = arguments[1],
                  let shape = integers(arguments[2]), let strides = integers(arguments[3])
            else {
                throw error("\(name) takes (storage, offset, size, stride, …), got (\(arguments.map(\.kind).joined(separator: ", ")))", at: at)
            }
            if name == "_rebuild_tensor_v3", arguments.count >= 7, case let .global(_, dtypeName) = arguments[6],
               let dtype = TorchDType.dtypeObjects[dtypeName], dtype != storage.dtype {
                throw error("a \(dtype.rawValue) tensor on a \(storage.dtype.rawValue) storage is not supported", at: at)
            }
            return .tensor(try view(storage, offset: offset, shape: shape, strides: strides, at))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = arguments.first, case .tensor = data else {
                throw error("\(name) takes a tensor first, got \(arguments.first?.kind ?? "nothing")", at: at)
            }
            return data
        case "torch._tensor._rebuild_from_type_v2":
            // (function, type, arguments, state): a tensor (sub)class rebuilt by an allowed function.
            guard arguments.count >= 3, case .tuple = arguments[2], let inner = items(of: arguments[2]) else {
                throw error("_rebuild_from_type_v2 takes (function, type, arguments, state)", at: at)
            }
            guard case let .global(typeModule, typeName) = arguments[1], Self.typeNames.contains("\(typeModule).\(typeName)") else {
                throw error("_rebuild_from_type_v2 builds a \(arguments[1].kind), not a tensor", at: at)
            }
            // The inner function is a tensor rebuilder, never this one again: no recursion.
            guard case let .global(innerModule, innerName) = arguments[0], innerName != "_rebuild_from_type_v2" else {
                throw error("_rebuild_from_type_v2 of \(arguments[0].kind)", at: at)
            }
            return try call(.global(module: innerModule, name: innerName), inner, at)
        default:
            throw error("the pickle calls \(module).\(name)", at: at)
        }
    }

    /// `("storage", torch.FloatStorage, key, location, count)`: a storage in the archive.
    private mutating func persistentLoad(_ id: PickleValue, _ at: Int) throws -> PickleValue {
        guard case .tuple = id, let parts = items(of: id), parts.count == 5, case .string("storage") = parts[0],
              case let .global(module, name) = parts[1], module == "torch", let dtype = TorchDType.storageClasses[name],
              case let .string(key) = parts[2], case let .int(count) = parts[4], count >= 0
        else {
            throw error("a persistent id that is not (\"storage\", type, key, location, count): \(id.kind)", at: at)
        }
        guard !key.isEmpty, key.count <= 64, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw error("storage key \"\(key)\" is not a plain name", at: at)
        }
        guard count.multipliedReportingOverflow(by: dtype.size).overflow == false else {
            throw error("storage \(key) declares \(count) elements of \(dtype.size) bytes, more bytes than can be counted", at: at)
        }
        if let known = storages[key] {
            guard known.dtype == dtype, known.count == count else {
                throw error("storage \(key) is declared twice with different types or sizes", at: at)
            }
            return .storage(known)
        }
        let storage = TorchStorage(key: key, dtype: dtype, count: count)
        storages[key] = storage
        return .storage(storage)
    }

    /// A view checked to lie inside its storage.
    private func view(_ storage: TorchStorage, offset: Int, shape: [Int], strides: [Int], _ at: Int) throws -> TorchTensorView {
        guard shape.count == strides.count, offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw error("a tensor with size \(shape), stride \(strides) and offset \(offset) is malformed", at: at)
        }
        guard CheckedSize.bytes(shape, elementSize: storage.dtype.size) != nil else {
            throw error("a tensor's size \(shape) has more elements than can be counted", at: at)
        }
        if shape.contains(0) { return TorchTensorView(storage: storage, offset: offset, shape: shape, strides: strides) }
        var last = offset
        for (size, stride) in zip(shape, strides) {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw error("a tensor's size \(shape) and stride \(strides) overflow", at: at) }
            last = sum
        }
        guard last < storage.count else {
            throw error("a tensor (size \(shape), stride \(strides), offset \(offset)) reaches element \(last) of storage \(storage.key), which has \(storage.count)", at: at)
        }
        return TorchTensorView(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    private func integers(_ value: PickleValue) -> [Int]? {
        guard case .tuple = value, let items = items(of: value) else { return nil }
        var result: [Int] = []
        for item in items {
            guard case let .int(number) = item else { return nil }
            result.append(number)
        }
        return result
    }

    // MARK: Stack and bytes

    private func error(_ message: String, at: Int) -> ModelError {
        ModelError("cannot read the checkpoint's pickle: \(message) (at byte \(at) of data.pkl)", location: file,
                   hint: "the file is damaged or was not written by torch.save; get the weights as safetensors")
    }

    private mutating func pop(_ count: Int, _ at: Int) throws -> [PickleValue] {
        guard stack.count - count >= (marks.last ?? 0) else { throw error("the stack runs out", at: at) }
        let items = Array(stack[(stack.count - count)...])
        stack.removeLast(count)
        return items
    }

    private mutating func popToMark(_ at: Int) throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw error("no MARK to pop to", at: at) }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func top(_ at: Int) throws -> PickleValue {
        guard let value = stack.last else { throw error("the stack is empty", at: at) }
        return value
    }

    private func recall(_ index: Int, _ at: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw error("memo entry \(index) was never stored", at: at) }
        return value
    }

    private mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw error("the pickle ends without STOP", at: position) }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func take(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= bytes.count - position else {
            throw error("a \(count)-byte field runs past the end of the pickle", at: position)
        }
        defer { position += count }
        return Array(bytes[position ..< position + count])
    }

    private mutating func littleEndian(_ count: Int) throws -> UInt32 {
        try take(count).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    private mutating func length64(_ at: Int) throws -> Int {
        let raw = try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard raw <= UInt64(Int32.max) else { throw error("a field of \(raw) bytes", at: at) }
        return Int(raw)
    }

    /// A little-endian two's-complement integer of `count` bytes (LONG1 / LONG4), up to 64 bits.
    private mutating func long(count: Int, _ at: Int) throws -> Int {
        guard count <= 8 else { throw error("an integer of \(count) bytes", at: at) }
        let raw = try take(count)
        guard !raw.isEmpty else { return 0 }
        var value = raw.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if count < 8, raw.last! & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(count)) }
        return Int(Int64(bitPattern: value))
    }

    private mutating func text(count: Int, _ at: Int) throws -> String {
        let raw = try take(count)
        guard let string = String(bytes: raw, encoding: .utf8) else { throw error("a string that is not UTF-8", at: at) }
        return string
    }

    private mutating func line(_ at: Int) throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw error("a line without its end", at: at) }
        let raw = bytes[position ..< end]
        position = end + 1
        guard let string = String(bytes: raw, encoding: .utf8) else { throw error("a name that is not UTF-8", at: at) }
        return string
    }

    static func opcodeName(_ opcode: UInt8) -> String? {
        let names: [UInt8: String] = [
            0x69: "INST", 0x6F: "OBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
            0x50: "PERSID", 0x49: "INT", 0x4C: "LONG", 0x46: "FLOAT", 0x53: "STRING", 0x56: "UNICODE",
            0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
            0x98: "READONLY_BUFFER",
        ]
        return names[opcode]
    }
}

private extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}
