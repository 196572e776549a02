import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The pytorch_model.bin reader: tensors of every storage type and layout, and files it refuses
/// (a pickle that would run a command, damaged archives, other formats) with an error that says so.
@Suite struct PyTorchPickleTests {
    static func fixture(_ name: String) -> String { ArchitectureFixtures.url("pickle/\(name)").path }

    /// A temporary folder, removed by the caller.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-pickle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func readsEveryDTypeAndLayout() throws {
        let checkpoint = try PyTorchCheckpoint(path: Self.fixture("small.bin"))
        #expect(checkpoint.tensorNames == ["bf16", "empty", "f16", "f32", "i64", "row2", "scalar", "strided", "transposed"])
        let base = (0 ..< 24).map { Float($0) / 8 }   // arange(24).reshape(4, 6) / 8
        for name in ["f32", "f16", "bf16"] {
            #expect(try checkpoint.tensor(name) == Tensor(shape: [4, 6], scalars: base), "\(name)")
        }
        #expect(checkpoint.views["f16"]?.dtype == .f16 && checkpoint.views["bf16"]?.dtype == .bf16)
        // Views into f32's storage: a row at an offset, the transpose, every other column.
        #expect(checkpoint.views["row2"]?.offset == 12)
        #expect(try checkpoint.tensor("row2") == Tensor(shape: [6], scalars: Array(base[12 ..< 18])))
        #expect(checkpoint.views["transposed"]?.isContiguous == false)
        #expect(try checkpoint.tensor("transposed") == Tensor(shape: [6, 4], scalars: (0 ..< 24).map { base[($0 % 4) * 6 + $0 / 4] }))
        #expect(try checkpoint.tensor("strided") == Tensor(shape: [4, 3], scalars: (0 ..< 12).map { base[($0 / 3) * 6 + ($0 % 3) * 2] }))
        #expect(try checkpoint.tensor("scalar") == Tensor(shape: [], scalars: [2.5]))
        #expect(try checkpoint.tensor("empty").shape == [0, 3])
        #expect(checkpoint.shape(of: "i64") == [5])
        let error = try #require(throws: ModelError.self) { try checkpoint.tensor("i64") }
        #expect(error.message.contains("int64, not a floating-point type"))
    }

    /// A pickle whose REDUCE calls os.system is refused at the global, naming it, and the command
    /// it carries (creating a marker file) never runs.
    @Test func maliciousPickleIsRefusedAndNothingRuns() throws {
        let marker = "/tmp/attnlab-malicious-pickle-ran"
        try? FileManager.default.removeItem(atPath: marker)
        let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: Self.fixture("malicious.bin")) }
        #expect(error.message.contains("refused to load"))
        #expect(error.message.contains("posix.system") || error.message.contains("os.system"))
        #expect(error.message.contains("nothing in the file was run"))
        #expect(error.location == Self.fixture("malicious.bin"))
        #expect(!FileManager.default.fileExists(atPath: marker))

        // The same through a model folder: loading the model fails with that error.
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(atPath: ArchitectureFixtures.url("gpt2-bin/config.json").path,
                                         toPath: folder.appendingPathComponent("config.json").path)
        try FileManager.default.copyItem(atPath: Self.fixture("malicious.bin"), toPath: folder.appendingPathComponent("pytorch_model.bin").path)
        let loadError = try #require(throws: ModelError.self) { try ModelRegistry.load(folder: folder) }
        #expect(loadError.message.contains("refused to load"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func truncatedArchiveIsAClearError() throws {
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let whole = try Data(contentsOf: ArchitectureFixtures.url("gpt2-bin/pytorch_model.bin"))
        let truncated = folder.appendingPathComponent("pytorch_model.bin")
        try whole.prefix(whole.count / 2).write(to: truncated)
        let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: truncated.path) }
        #expect(error.message.contains("damaged or truncated"))
        #expect(error.location == truncated.path)
    }

    @Test func zipWithoutPickleIsAClearError() throws {
        let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: Self.fixture("no-pickle.bin")) }
        #expect(error.message.contains("no data.pkl"))
    }

    @Test func legacyFormatAndOtherFilesAreNamed() throws {
        let legacy = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: Self.fixture("legacy.bin")) }
        #expect(legacy.message.contains("legacy checkpoint format"))
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let text = folder.appendingPathComponent("pytorch_model.bin")
        try Data("version https://git-lfs.github.com/spec/v1\n".utf8).write(to: text)
        let other = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: text.path) }
        #expect(other.message.contains("not a zip archive"))
    }

    /// A sharded checkpoint (pytorch_model.bin.index.json) joins its shards, and gives the same
    /// tensors as the safetensors copy.
    @Test func shardedCheckpointMatchesSafetensors() throws {
        let bin = try WeightStore(folder: ArchitectureFixtures.url("t5-bin"))
        #expect(bin.sources.count == 2)
        let safetensors = try WeightStore(folder: ArchitectureFixtures.url("t5"))
        for name in safetensors.names {
            #expect(try bin.tensor(name) == safetensors.tensor(name), "\(name)")
        }
    }

    // MARK: Hand-made pickles

    /// Runs the interpreter on raw pickle bytes.
    static func read(_ bytes: [UInt8]) throws -> PickleValue {
        var reader = PickleReader(bytes: bytes, file: "test.pkl")
        return try reader.read()
    }

    /// The state dict's tensors of raw pickle bytes.
    static func tensors(_ bytes: [UInt8]) throws -> [String: TorchTensorView] {
        var reader = PickleReader(bytes: bytes, file: "test.pkl")
        let root = try reader.read()
        return try PyTorchCheckpoint.stateDict(root, reader: reader, path: "test.pkl")
    }

    static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
    static func unicode(_ text: String) -> [UInt8] {
        let utf8 = Array(text.utf8)
        return [0x58] + withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init) + utf8
    }

    @Test(arguments: [("builtins", "eval"), ("subprocess", "Popen"), ("os", "system"), ("torch", "load"), ("__builtin__", "getattr")])
    func everyOtherGlobalIsRefused(module: String, name: String) throws {
        // PROTO 2, GLOBAL, BINUNICODE "x", TUPLE1, REDUCE, STOP
        let pickle: [UInt8] = [0x80, 0x02] + Self.global(module, name) + Self.unicode("x") + [0x85, 0x52, 0x2E]
        let error = try #require(throws: ModelError.self) { try Self.read(pickle) }
        #expect(error.message.contains("refused to load: the pickle names the global \(module).\(name)"))
    }

    @Test func protocolFourStackGlobalIsCheckedToo() throws {
        // PROTO 4, SHORT_BINUNICODE "posix", SHORT_BINUNICODE "system", STACK_GLOBAL, …
        let pickle: [UInt8] = [0x80, 0x04, 0x8C, 5] + Array("posix".utf8) + [0x8C, 6] + Array("system".utf8) + [0x93]
            + Self.unicode("touch /tmp/x") + [0x85, 0x52, 0x2E]
        let error = try #require(throws: ModelError.self) { try Self.read(pickle) }
        #expect(error.message.contains("posix.system"))
    }

    @Test func allowedNamesCannotBeCalledForOtherPurposes() throws {
        // Calling a storage class (an allowed value, not an allowed callable) is refused.
        let call: [UInt8] = [0x80, 0x02] + Self.global("torch", "FloatStorage") + [0x29, 0x52, 0x2E]
        #expect(throws: ModelError.self) { try Self.read(call) }
        // So are the opcodes that build arbitrary objects (INST) and BUILD on something not a dict.
        let inst: [UInt8] = [0x80, 0x02, 0x28, 0x69] + Array("collections\nOrderedDict\n".utf8) + [0x2E]
        let instError = try #require(throws: ModelError.self) { try Self.read(inst) }
        #expect(instError.message.contains("INST"))
        let build: [UInt8] = [0x80, 0x02, 0x5D, 0x7D, 0x62, 0x2E]
        #expect(throws: ModelError.self) { try Self.read(build) }
    }

    @Test func malformedPicklesAreErrorsNotCrashes() throws {
        let cases: [[UInt8]] = [
            [0x80, 0x02, 0x7D],                       // no STOP
            [0x80, 0x02, 0x73, 0x2E],                 // SETITEM on an empty stack
            [0x80, 0x02, 0x74, 0x2E],                 // TUPLE without MARK
            [0x80, 0x02, 0x68, 0x07, 0x2E],           // BINGET of a memo entry never stored
            [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F],  // a string longer than the pickle
            [0x80, 0x02, 0x7D, 0x7D, 0x2E],           // two values left at STOP
            [0x80, 0x02, 0x8A, 0x09] + [UInt8](repeating: 1, count: 9) + [0x2E],  // a 9-byte integer
        ]
        for bytes in cases {
            #expect(throws: ModelError.self, "\(bytes)") { try Self.read(bytes) }
        }
    }

    @Test func tensorOutsideItsStorageIsRefused() throws {
        // _rebuild_tensor_v2(("storage", FloatStorage, "0", "cpu", 4), offset 2, size (3,), stride (1,), False, OrderedDict())
        var pickle: [UInt8] = [0x80, 0x02, 0x7D, 0x28] + Self.unicode("w") + Self.global("torch._utils", "_rebuild_tensor_v2") + [0x28]
        pickle += [0x28] + Self.unicode("storage") + Self.global("torch", "FloatStorage") + Self.unicode("0") + Self.unicode("cpu") + [0x4B, 4, 0x74, 0x51]
        pickle += [0x4B, 2, 0x4B, 3, 0x85, 0x4B, 1, 0x85, 0x89] + Self.global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52, 0x75, 0x2E]
        let error = try #require(throws: ModelError.self) { try Self.read(pickle) }
        #expect(error.message.contains("reaches element 4 of storage 0, which has 4"))

        // The same tensor with offset 1 fits and reads as a view.
        var fitting = pickle
        let offsetAt = fitting.indices.first { fitting[$0] == 0x4B && fitting[$0 + 1] == 2 && fitting[$0 + 2] == 0x4B && fitting[$0 + 3] == 3 }!
        fitting[offsetAt + 1] = 1
        let view = try #require(try Self.tensors(fitting)["w"])
        #expect(view.offset == 1 && view.shape == [3] && view.storage.count == 4)
    }
    // MARK: Hostile pickles: bounded nesting, bounded time, checked byte counts

    /// A state dict `{"w": tensor}` of one FloatStorage of `count` elements, viewed with `shape`
    /// (contiguous strides).
    static func statePickle(count: Int, shape: [Int]) -> [UInt8] {
        func int(_ value: Int) -> [UInt8] { [0x8A, 8] + withUnsafeBytes(of: Int64(value).littleEndian, Array.init) }
        var strides = [Int](repeating: 1, count: shape.count)
        for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * max(shape[d + 1], 1) }
        var pickle: [UInt8] = [0x80, 0x02, 0x7D, 0x28] + unicode("w") + global("torch._utils", "_rebuild_tensor_v2") + [0x28]
        pickle += [0x28] + unicode("storage") + global("torch", "FloatStorage") + unicode("0") + unicode("cpu") + int(count) + [0x74, 0x51]
        pickle += int(0) + [0x28] + shape.flatMap(int) + [0x74, 0x28] + strides.flatMap(int) + [0x74]
        pickle += [0x89] + global("collections", "OrderedDict") + [0x29, 0x52, 0x74, 0x52, 0x75, 0x2E]
        return pickle
    }

    @Test func deepNestingIsRefusedWithoutOverflowingTheStack() throws {
        // 100,000 tuples, each holding the one before (TUPLE1), and 100,000 lists made by MARK … LIST.
        let tuples: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E]
        let lists: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 100_000) + [UInt8](repeating: 0x6C, count: 100_000) + [0x2E]
        for pickle in [tuples, lists] {
            let error = try #require(throws: ModelError.self) { try Self.read(pickle) }
            #expect(error.message.contains("containers nest more than 100 deep"))
        }
    }

    @Test func aChainOfListsBuiltThroughTheMemoIsFreedWithoutRecursion() throws {
        // Each new list is appended to the one before while it is still empty, then fetched back
        // from the memo: the nesting depth the reader sees at each APPEND stays 2, yet the chain
        // is 100,000 lists deep. Freeing it used to overflow the stack.
        var pickle: [UInt8] = [0x80, 0x04, 0x5D, 0x94]
        for index in 1 ... 100_000 {
            pickle += [0x5D, 0x94, 0x61, 0x30, 0x6A] + withUnsafeBytes(of: UInt32(index).littleEndian, Array.init)
        }
        pickle += [0x30, 0x68, 0x00, 0x2E]
        let error = try #require(throws: ModelError.self) { try Self.tensors(pickle) }
        #expect(error.message.contains("holds a list, not a state dict"))
    }

    @Test func halfAMillionNestedDictsAreRefusedQuickly() throws {
        // {"a": {"a": {… 500,000 deep …}}} through SETITEM; reading it took minutes (each SETITEM
        // copied the whole stack) and freeing it crashed.
        let pickle: [UInt8] = [0x80, 0x02, 0x7D] + Array(repeating: [0x58, 1, 0, 0, 0, 0x61, 0x7D], count: 500_000).joined()
            + [UInt8](repeating: 0x73, count: 500_000) + [0x2E]
        let start = Date()
        let error = try #require(throws: ModelError.self) { try Self.read(pickle) }
        #expect(error.message.contains("containers nest more than 100 deep"))
        #expect(Date().timeIntervalSince(start) < 10, "bounded work, not minutes")
    }

    @Test func aStorageWhoseByteCountOverflowsIsRefused() throws {
        // 2^62 float32 elements: the byte count (2^64) wraps around to 0 without a check, and a
        // view of it passed the size check and read far outside the file.
        let error = try #require(throws: ModelError.self) { try Self.tensors(Self.statePickle(count: 1 << 62, shape: [1 << 61])) }
        #expect(error.message.contains("more bytes than can be counted"))
        let view = try #require(try Self.tensors(Self.statePickle(count: 6, shape: [2, 3]))["w"])
        #expect(view.byteCount == 24)
    }
}
