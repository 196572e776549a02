import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Builds GGUF files byte by byte, so that each field can be made wrong on its own.
struct GGUFBuilder {
    enum Value {
        case uint32(UInt32), int32(Int32), float32(Float), bool(Bool), string(String), uint64(UInt64)
        case strings([String]), int32s([Int32])
        /// Any type number and payload, for corrupt values.
        case raw(type: UInt32, payload: [UInt8])
    }

    struct TensorEntry {
        var name: String
        var dimensions: [Int64]
        var type: UInt32
        /// nil: the offset ggml expects.
        var offset: UInt64?
        var data: [UInt8]
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, Value)] = []
    var tensors: [TensorEntry] = []
    var alignment = 32
    var tensorCountOverride: Int64?
    var metadataCountOverride: Int64?

    static func little<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
    static func string(_ text: String) -> [UInt8] { little(UInt64(text.utf8.count)) + Array(text.utf8) }

    static func encode(_ value: Value) -> (UInt32, [UInt8]) {
        switch value {
        case .uint32(let v): return (4, little(v))
        case .int32(let v): return (5, little(v))
        case .float32(let v): return (6, little(v.bitPattern))
        case .bool(let v): return (7, [v ? 1 : 0])
        case .string(let v): return (8, string(v))
        case .uint64(let v): return (10, little(v))
        case .strings(let items): return (9, little(UInt32(8)) + little(UInt64(items.count)) + items.flatMap(string))
        case .int32s(let items): return (9, little(UInt32(5)) + little(UInt64(items.count)) + items.flatMap { little($0) })
        case .raw(let type, let payload): return (type, payload)
        }
    }

    func bytes() -> [UInt8] {
        var out = magic + Self.little(version)
        out += Self.little(tensorCountOverride ?? Int64(tensors.count)) + Self.little(metadataCountOverride ?? Int64(metadata.count))
        for (key, value) in metadata {
            let (type, payload) = Self.encode(value)
            out += Self.string(key) + Self.little(type) + payload
        }
        var expected: UInt64 = 0
        for tensor in tensors {
            out += Self.string(tensor.name) + Self.little(UInt32(tensor.dimensions.count)) + tensor.dimensions.flatMap { Self.little($0) }
            out += Self.little(tensor.type) + Self.little(tensor.offset ?? expected)
            expected += UInt64((tensor.data.count + alignment - 1) / alignment * alignment)
        }
        if !tensors.isEmpty {
            while out.count % alignment != 0 { out.append(0) }
        }
        for tensor in tensors {
            out += tensor.data
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// A valid tiny llama: two F32 tensors and the metadata GGUFModel needs.
    static func tinyLlama() -> GGUFBuilder {
        var builder = GGUFBuilder()
        builder.metadata = [
            ("general.architecture", .string("llama")), ("llama.block_count", .uint32(1)), ("llama.embedding_length", .uint32(4)),
            ("llama.feed_forward_length", .uint32(8)), ("llama.attention.head_count", .uint32(2)),
            ("llama.attention.head_count_kv", .uint32(1)), ("llama.context_length", .uint32(16)),
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", .strings(["a", "b", "ab", "<s>"])),
            ("tokenizer.ggml.token_type", .int32s([1, 1, 1, 3])), ("tokenizer.ggml.merges", .strings(["a b"])),
            ("tokenizer.ggml.bos_token_id", .uint32(3)), ("tokenizer.chat_template", .string("{{ messages[0].content }}")),
        ]
        builder.tensors = [
            TensorEntry(name: "token_embd.weight", dimensions: [4, 4], type: 0, data: (0..<16).flatMap { little(Float($0).bitPattern) }),
            TensorEntry(name: "blk.0.attn_q.weight", dimensions: [4, 4], type: 0, data: (0..<16).flatMap { little(Float($0).bitPattern) }),
        ]
        return builder
    }
}

/// Truncated and corrupt GGUF files, unknown types and architectures: one clear error naming the
/// file and what to do, never a crash.
@Suite struct GGUFBadInputTests {
    let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-gguf-bad-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    func write(_ bytes: [UInt8], name: String = "model.gguf") throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Opening `builder`'s file fails with a ModelError naming the file, saying `phrase`, with a hint.
    func expectRefused(_ bytes: [UInt8], _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try write(bytes)
        #expect(sourceLocation: sourceLocation) { try GGUFModel(path: path) } throws: { error in
            guard let error = error as? ModelError else { return false }
            let text = "\(error)"
            if !(text.hasPrefix(path + ": ") && text.contains(phrase) && error.hint != nil) {
                Issue.record("\(text) does not say \"\(phrase)\"", sourceLocation: sourceLocation)
            }
            return true
        }
    }

    @Test func theTinyBuilderFileIsValid() throws {
        let path = try write(GGUFBuilder.tinyLlama().bytes())
        let model = try GGUFModel(path: path)
        #expect(model.tensorNames == ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"])
        // Q has 2 heads of 2 rows: rows 0,1 | 2,3 stay in place (d = 1).
        #expect(try model.tensor("model.layers.0.self_attn.q_proj.weight").scalars == (0..<16).map(Float.init))
        #expect(try GGUFTokenizer.load(file: model.file).encode("ab").ids == [2])
    }

    @Test func headerFieldsAreChecked() throws {
        var builder = GGUFBuilder.tinyLlama()
        try expectRefused([], "too few for the GGUF magic")
        builder.magic = Array("GGML".utf8)
        try expectRefused(builder.bytes(), "not a GGUF file: it starts with \"GGML\"")
        builder = .tinyLlama()
        builder.version = 1
        try expectRefused(builder.bytes(), "GGUF version 1 is not supported")
        builder.version = 0x0300_0000
        try expectRefused(builder.bytes(), "big-endian")
        builder = .tinyLlama()
        builder.tensorCountOverride = Int64.max
        try expectRefused(builder.bytes(), "a tensor count of \(Int64.max)")
        builder.tensorCountOverride = -1
        try expectRefused(builder.bytes(), "a tensor count of -1")
        builder = .tinyLlama()
        builder.metadataCountOverride = 1 << 40
        try expectRefused(builder.bytes(), "a metadata count of")
        builder.tensors = []
        builder.metadataCountOverride = Int64(builder.metadata.count + 1)
        try expectRefused(builder.bytes(), "the file ends in the name of metadata pair 13")
    }

    @Test func metadataValuesAreChecked() throws {
        func with(_ entry: (String, GGUFBuilder.Value), _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var builder = GGUFBuilder.tinyLlama()
            builder.metadata.append(entry)
            try expectRefused(builder.bytes(), phrase, sourceLocation: sourceLocation)
        }
        try with(("x", .raw(type: 8, payload: GGUFBuilder.little(UInt64(1) << 31))), "longer than the 1073741824 GGUF allows")
        try with(("x", .raw(type: 8, payload: GGUFBuilder.little(UInt64(1000)))), "only")
        try with(("x", .raw(type: 99, payload: [])), "metadata x has the unknown value type 99")
        try with(("x", .raw(type: 9, payload: GGUFBuilder.little(UInt32(9)) + GGUFBuilder.little(UInt64(1)))), "array of arrays")
        try with(("x", .raw(type: 9, payload: GGUFBuilder.little(UInt32(77)) + GGUFBuilder.little(UInt64(1)))), "array of the unknown value type 77")
        try with(("x", .raw(type: 9, payload: GGUFBuilder.little(UInt32(8)) + GGUFBuilder.little(UInt64.max))), "claims \(UInt64.max) elements")
        try with(("general.architecture", .string("llama")), "metadata key \"general.architecture\" appears twice")
        try with(("", .uint32(1)), "metadata pair 13 has an empty key")
        try with(("general.alignment", .uint64(32)), "general.alignment is UINT64, not UINT32")
        try with(("general.alignment", .uint32(48)), "general.alignment 48 is not a power of 2")
        try with(("llama.expert_count", .uint32(8)), "mixture of 8 experts")
    }

    @Test func tensorEntriesAreChecked() throws {
        func with(_ change: (inout GGUFBuilder.TensorEntry) -> Void, _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var builder = GGUFBuilder.tinyLlama()
            change(&builder.tensors[1])
            try expectRefused(builder.bytes(), phrase, sourceLocation: sourceLocation)
        }
        try with({ $0.name = "token_embd.weight" }, "tensor name \"token_embd.weight\" appears twice")
        try with({ $0.name = String(repeating: "x", count: 64) }, "name is 64 bytes long")
        try with({ $0.dimensions = [1, 1, 1, 1, 1] }, "5 dimensions; GGUF allows at most 4")
        try with({ $0.dimensions = [4, -4] }, "negative dimension -4")
        try with({ $0.dimensions = [1 << 40, 1 << 40] }, "element count overflows")
        try with({ $0.type = 77 }, "unknown ggml type 77")
        try with({ $0.type = 2; $0.dimensions = [30, 1] }, "rows of 30 elements, not a multiple of its block size 32")
        try with({ $0.dimensions = [1 << 62, 1] }, "size in bytes overflows")
        try with({ $0.offset = 8 }, "data offset is 8, expected 64")
        try with({ $0.dimensions = [4, 400] }, "run past the end")
        try with({ $0.type = 16; $0.dimensions = [256, 1]; $0.data = [UInt8](repeating: 0, count: 66) },
                 "tensors are of types AttnLab does not dequantise (IQ2_XXS")
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = GGUFBuilder.tinyLlama().bytes()
        for length in stride(from: 0, to: bytes.count, by: 1) {
            let path = try write(Array(bytes.prefix(length)))
            #expect(throws: ModelError.self, "\(length) of \(bytes.count) bytes") { try GGUFFile(path: path) }
        }
    }

    @Test func modelsAttnLabDoesNotRunAreNamed() throws {
        var builder = GGUFBuilder.tinyLlama()
        builder.metadata[0] = ("general.architecture", .string("qwen2"))
        try expectRefused(builder.bytes(), "architecture is \"qwen2\", which AttnLab does not run from GGUF")
        builder.metadata.removeFirst()
        try expectRefused(builder.bytes(), "no general.architecture")
        builder = .tinyLlama()
        builder.metadata.remove(at: 4)
        let path = try write(builder.bytes())
        #expect { try GGUFModel(path: path) } throws: { "\($0)".contains("no llama.attention.head_count") }
        builder = .tinyLlama()
        builder.metadata.append(("llama.rope.scaling.type", .string("longrope")))
        builder.metadata.append(("llama.rope.scaling.factor", .float32(2)))
        let scaled = try GGUFModel(path: try write(builder.bytes(), name: "scaled.gguf"))
        #expect { try scaled.configJSON() } throws: { "\($0)".contains("rope scaling \"longrope\" is not supported") }
    }

    @Test func nonRegularFilesAreRefused() throws {
        #expect { try GGUFFile(path: folder.path) } throws: { "\($0)".contains("not a regular file") }
        #expect { try GGUFFile(path: "/dev/zero") } throws: { "\($0)".contains("not a regular file") }
        #expect { try GGUFFile(path: folder.appendingPathComponent("missing.gguf").path) } throws: { "\($0)".contains("cannot open the file") }
    }

    @Test func badTokenizerMetadataIsNamed() throws {
        func refused(_ change: (inout GGUFBuilder) -> Void, _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var builder = GGUFBuilder.tinyLlama()
            change(&builder)
            let file = try GGUFFile(path: try write(builder.bytes()))
            #expect(sourceLocation: sourceLocation) { try GGUFTokenizer.load(file: file) } throws: { error in
                let text = "\(error)"
                if !(text.hasPrefix(file.path + ": ") && text.contains(phrase)) { Issue.record("\(text) does not say \"\(phrase)\"", sourceLocation: sourceLocation) }
                return true
            }
        }
        try refused({ $0.metadata[7] = ("tokenizer.ggml.model", .string("bert")) }, "tokenizer type \"bert\" is not supported")
        try refused({ $0.metadata[9] = ("tokenizer.ggml.token_type", .int32s([1])) }, "has 1 entries for 4 tokens")
        try refused({ $0.metadata[11] = ("tokenizer.ggml.bos_token_id", .uint32(9)) }, "is 9, outside the 4 tokens")
        try refused({ $0.metadata[10] = ("tokenizer.ggml.merges", .strings(["a c"])) }, "\"c\" is not in the vocabulary")
        try refused({ $0.metadata[10] = ("tokenizer.ggml.merges", .strings(["abc"])) }, "should be two tokens")
        try refused({ $0.metadata.remove(at: 10) }, "tokenizer.ggml.merges: is missing")
        try refused({ $0.metadata.removeSubrange(7...11) }, "has no tokenizer in its metadata")
    }

    /// A few thousand mutated headers (seeded): each is refused with an error or read, and whatever is
    /// read (tensors, configuration, tokenizer, chat template) is read without a crash.
    @Test func fuzzedHeadersNeverCrash() throws {
        var random = SplitMix64(seed: 14)
        let originals = [GGUFBuilder.tinyLlama().bytes(),
                         Array(try Data(contentsOf: Fixtures.url("gguf").appendingPathComponent("tokenizers/spm-llama.gguf")).prefix(4096))]
        let extremes: [UInt64] = [0, 1, 0xFF, 0xFFFF_FFFF, 1 << 31, 1 << 32, 1 << 62, UInt64(Int64.max), UInt64.max, 31, 32, 33, 256]
        var (opened, refused) = (0, 0)
        let start = Date()
        for iteration in 0..<3000 {
            var bytes = originals[iteration % originals.count]
            let headerEnd = min(bytes.count, iteration % 2 == 0 ? bytes.count : 600)
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let position = Int(random.next() % UInt64(min(headerEnd, bytes.count)))
                switch random.next() % 5 {
                case 0: bytes[position] ^= UInt8(1 << (random.next() % 8))
                case 1: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 2:
                    let value = extremes[Int(random.next() % UInt64(extremes.count))]
                    for k in 0..<8 where position + k < bytes.count { bytes[position + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
                case 3: bytes = Array(bytes.prefix(position))
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                }
                if bytes.isEmpty { break }
            }
            let path = try write(bytes, name: "fuzz.gguf")
            do {
                let file = try GGUFFile(path: path)
                opened += 1
                for tensor in file.tensors.prefix(4) { _ = try? file.tensor(tensor.name) }
                if let model = try? GGUFModel(file: file) {
                    _ = try? model.configJSON()
                    for name in model.tensorNames.prefix(4) { _ = try? model.tensor(name) }
                }
                if let tokenizer = try? GGUFTokenizer.load(file: file) { _ = try? tokenizer.encode("ab <s> a b") }
                if let source = try? file.string("tokenizer.chat_template"), let template = try? ChatTemplate(source: source) {
                    _ = try? template.render([ChatMessage(role: "user", content: "hi")])
                }
            } catch is ModelError {
                refused += 1
            }
        }
        #expect(opened > 100 && refused > 1000, "opened \(opened), refused \(refused)")
        // Counts are checked before any loop runs, so no header makes the reader slow.
        #expect(Date().timeIntervalSince(start) < 120)
    }
}

/// A small seeded generator (SplitMix64), so that the fuzz test is the same on every run.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
