import Foundation

/// The trace file: one safetensors file with tensors named `<stack>.<what>` (`encoder.attention`,
/// `cross.query`, `decoder.hidden`, `outputs.logits`) and everything else as JSON under the
/// `__metadata__` key `attnlab.trace`.
///
/// It is also the import format. From Python:
/// ```python
/// save_file({"encoder.attention": att.contiguous()},            # [layers, heads, n, n], float32
///           "x.safetensors", metadata={"attnlab.trace": json.dumps({"tokens": ["[CLS]", "hi", "[SEP]"]})})
/// ```
/// Tokens may be plain strings or objects (`text`, `id`, `segment`, `word`, `special`, …); all
/// other fields are optional.
public enum TraceFile {
    public static let metadataKey = "attnlab.trace"
    public static let formatVersion = 1

    /// The JSON document stored in the metadata.
    struct Document: Codable {
        var formatVersion: Int?
        var inputs: TraceInputs?
        var tokens: [FlexibleToken]
        var decoderTokens: [FlexibleToken]?
        var tokenTypeIds: [Int]?
        var outputs: TraceOutputs?
        var provenance: Provenance?
        /// Per stack (`encoder`, …): how its attention was computed.
        var stacks: [String: AttentionGeometry]?
        /// The interventions the trace ran with; absent when none.
        var interventions: [Intervention]?
        /// Per stack, when the file holds only some heads: which (`<stack>.attention` is then
        /// `[heads kept, queries, keys]`, in this order).
        var storedHeads: [String: StoredHeads]?

        enum CodingKeys: String, CodingKey {
            case inputs, tokens, outputs, provenance, stacks, interventions
            case formatVersion = "format_version", decoderTokens = "decoder_tokens", tokenTypeIds = "token_type_ids"
            case storedHeads = "stored_heads"
        }
    }

    /// The heads a compact trace keeps of a stack of `layers` × `heads`.
    struct StoredHeads: Codable {
        var layers: Int
        var heads: Int
        /// `LAYER.HEAD`, in order.
        var kept: [HeadRef]
    }

    /// The stored form of the attention, from the provenance's `attention_storage`.
    static func storedType(_ storage: String?) -> SafeTensorsWriter.StoredType {
        switch storage {
        case "float16": .f16
        case "uint8-sqrt": .sqrtU8
        default: .f32
        }
    }

    /// The kept heads of `attention` `[layers, heads, q, k]` as `[kept, q, k]`.
    static func packed(_ attention: Tensor, heads kept: [HeadRef]) -> Tensor {
        let (heads, q, k) = (attention.shape[1], attention.shape[2], attention.shape[3])
        var scalars: [Float] = []
        scalars.reserveCapacity(kept.count * q * k)
        attention.withUnsafeBufferPointer { all in
            for ref in kept {
                let start = (ref.layer * heads + ref.head) * q * k
                scalars += all[start ..< start + q * k]
            }
        }
        return Tensor(shape: [kept.count, q, k], scalars: scalars)
    }

    /// A token written either as a string or as an object with optional fields.
    struct FlexibleToken: Codable {
        var token: TraceToken

        init(_ token: TraceToken) { self.token = token }

        init(from decoder: Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                token = TraceToken(text: text, id: -1)
                return
            }
            let c = try decoder.container(keyedBy: Keys.self)
            let text = try c.decode(String.self, forKey: .text)
            token = TraceToken(text: text,
                               display: try c.decodeIfPresent(String.self, forKey: .display),
                               id: try c.decodeIfPresent(Int.self, forKey: .id) ?? -1,
                               start: try c.decodeIfPresent(Int.self, forKey: .start),
                               end: try c.decodeIfPresent(Int.self, forKey: .end),
                               word: try c.decodeIfPresent(Int.self, forKey: .word),
                               segment: try c.decodeIfPresent(Int.self, forKey: .segment) ?? 0,
                               special: try c.decodeIfPresent(Bool.self, forKey: .special) ?? false)
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(token.text, forKey: .text)
            try c.encode(token.display, forKey: .display)
            try c.encode(token.id, forKey: .id)
            try c.encodeIfPresent(token.start, forKey: .start)
            try c.encodeIfPresent(token.end, forKey: .end)
            try c.encodeIfPresent(token.word, forKey: .word)
            try c.encode(token.segment, forKey: .segment)
            try c.encode(token.special, forKey: .special)
        }

        enum Keys: String, CodingKey { case text, display, id, start, end, word, segment, special }
    }

    /// The bytes of a trace file; `attention: .f16` stores the attention in half the space (about
    /// three decimal digits, enough for a view or a figure).
    public static func encode(_ trace: Trace, attention type: SafeTensorsWriter.StoredType = .f32) throws -> Data {
        try writer(trace, attention: type).encoded()
    }

    /// The writer of a trace file, once the trace is checked to hold only finite numbers.
    static func writer(_ trace: Trace, attention type: SafeTensorsWriter.StoredType = .f32) throws -> SafeTensorsWriter {
        try trace.checkFinite()
        var writer = SafeTensorsWriter()
        // A caller's explicit type (a scan file's f16) wins; otherwise the provenance says.
        let stored = type == .f32 ? storedType(trace.provenance.attentionStorage) : type
        var storedHeads: [String: StoredHeads] = [:]
        for (kind, stack) in trace.stacks {
            if let kept = stack.storedHeads {
                writer.add("\(kind.rawValue).attention", packed(stack.attention, heads: kept), as: stored)
                storedHeads[kind.rawValue] = StoredHeads(layers: stack.layerCount, heads: stack.headCount, kept: kept)
            } else {
                writer.add("\(kind.rawValue).attention", stack.attention, as: stored)
            }
            if let t = stack.query { writer.add("\(kind.rawValue).query", t) }
            if let t = stack.key { writer.add("\(kind.rawValue).key", t) }
            if let t = stack.value { writer.add("\(kind.rawValue).value", t) }
            if let t = stack.hidden { writer.add("\(kind.rawValue).hidden", t) }
        }
        if let logits = trace.logits { writer.add("outputs.logits", logits) }
        let document = Document(formatVersion: formatVersion, inputs: trace.inputs,
                                tokens: trace.tokens.map(FlexibleToken.init),
                                decoderTokens: trace.decoderTokens?.map(FlexibleToken.init), tokenTypeIds: trace.tokenTypeIds,
                                outputs: trace.outputs, provenance: trace.provenance,
                                stacks: geometries(trace), interventions: trace.interventions.isEmpty ? nil : trace.interventions,
                                storedHeads: storedHeads.isEmpty ? nil : storedHeads)
        writer.metadata[metadataKey] = String(decoding: try stableJSON(document), as: UTF8.self)
        return writer
    }

    /// The stacks' geometries by stack name, or nil when no stack has one.
    static func geometries(_ trace: Trace) -> [String: AttentionGeometry]? {
        let known = trace.stacks.compactMapValues(\.geometry)
        return known.isEmpty ? nil : Dictionary(uniqueKeysWithValues: known.map { ($0.key.rawValue, $0.value) })
    }

    /// Writes a trace atomically.
    public static func write(_ trace: Trace, to url: URL) throws {
        try writer(trace).write(to: url)
    }

    /// Reads and checks a trace file: every stack's shapes must agree with the tokens. A trace in
    /// its JSON form (`attnlab trace --format json`) is read too.
    public static func read(_ url: URL) throws -> Trace {
        let path = url.path
        if let json = try jsonForm(url) { return try TraceJSON.decode(json, path: path) }
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata[metadataKey] else {
            throw CoreError("not an AttnLab trace: the safetensors metadata has no \"\(metadataKey)\" entry", location: path,
                            hint: "write one with `attnlab trace`, or add the metadata as the trace format in the README says")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json.utf8))
        } catch {
            throw CoreError("the trace metadata is not valid: \(describe(error))", location: path)
        }
        if let version = document.formatVersion, version > formatVersion {
            throw CoreError("trace format version \(version) is newer than this attnlab reads (\(formatVersion))",
                            location: path, hint: "update attnlab")
        }
        var stacks: [StackKind: AttentionStack] = [:]
        for kind in StackKind.allCases {
            let name = "\(kind.rawValue).attention"
            guard file.entries[name] != nil else { continue }
            func optional(_ what: String) throws -> Tensor? {
                file.entries["\(kind.rawValue).\(what)"] == nil ? nil : try file.tensor("\(kind.rawValue).\(what)")
            }
            var attention = try attentionTensor(file, name)
            let kept = document.storedHeads?[kind.rawValue]
            if let kept { attention = try expanded(attention, kept, name: name, path: path) }
            stacks[kind] = AttentionStack(attention: attention, query: try optional("query"),
                                          key: try optional("key"), value: try optional("value"),
                                          hidden: try optional("hidden"), geometry: document.stacks?[kind.rawValue],
                                          storedHeads: kept?.kept)
        }
        guard !stacks.isEmpty else {
            throw CoreError("the trace has no attention (no tensor named encoder.attention, decoder.attention or cross.attention)",
                            location: path)
        }
        let tokens = document.tokens.map(\.token)
        let trace = Trace(inputs: document.inputs ?? TraceInputs(a: tokens.map(\.text).joined(separator: " ")),
                          tokens: tokens, decoderTokens: document.decoderTokens?.map(\.token),
                          tokenTypeIds: document.tokenTypeIds.flatMap { $0.count == tokens.count ? $0 : nil }, stacks: stacks,
                          outputs: document.outputs ?? TraceOutputs(),
                          logits: file.entries["outputs.logits"] == nil ? nil : try file.tensor("outputs.logits"),
                          provenance: document.provenance ?? Provenance(model: "imported", architecture: "unknown"),
                          interventions: document.interventions ?? [])
        try validate(trace, path: path)
        return trace
    }

    /// An attention tensor: a float type, or U8 holding round(255·√a) (read back as (b/255)²).
    static func attentionTensor(_ file: SafeTensorsFile, _ name: String) throws -> Tensor {
        guard let entry = file.entries[name], entry.dtype == .u8 else { return try file.tensor(name) }
        let raw = try file.bytes(name)
        let table = (0 ... 255).map { Float($0) / 255 }.map { $0 * $0 }
        return Tensor(shape: entry.shape, scalars: raw.map { table[Int($0)] })
    }

    /// The dense `[layers, heads, q, k]` attention of a file that keeps some heads, zero elsewhere.
    static func expanded(_ packed: Tensor, _ stored: StoredHeads, name: String, path: String) throws -> Tensor {
        guard packed.rank == 3, packed.shape[0] == stored.kept.count else {
            throw CoreError("\(name) has shape \(packed.shape) but the trace keeps \(stored.kept.count) heads", location: path,
                            hint: "a compact trace's attention is [heads kept, queries, keys]")
        }
        guard stored.layers >= 1, stored.heads >= 1, stored.layers <= 4096, stored.heads <= 4096,
              stored.kept.allSatisfy({ $0.layer < stored.layers && $0.head < stored.heads }), Set(stored.kept).count == stored.kept.count else {
            throw CoreError("the kept heads of \(name) do not fit \(stored.layers) layers × \(stored.heads) heads", location: path)
        }
        let (q, k) = (packed.shape[1], packed.shape[2])
        let (count, overflow) = (stored.layers * stored.heads).multipliedReportingOverflow(by: q * k)
        guard !overflow, count <= 1 << 31 else { throw CoreError("\(name) would be too large to expand", location: path) }
        var scalars = [Float](repeating: 0, count: count)
        packed.withUnsafeBufferPointer { source in
            for (index, ref) in stored.kept.enumerated() {
                let to = (ref.layer * stored.heads + ref.head) * q * k
                for i in 0 ..< q * k { scalars[to + i] = source[index * q * k + i] }
            }
        }
        return Tensor(shape: [stored.layers, stored.heads, q, k], scalars: scalars)
    }

    /// The file's bytes when it is a JSON trace (it starts as `TraceJSON` writes, or it is named
    /// `.json`), nil otherwise.
    static func jsonForm(_ url: URL) throws -> Data? {
        // Only a regular file is looked into; the safetensors reader says what is wrong with the rest.
        guard RegularFile.exists(url.path), let (descriptor, _) = try? RegularFile.open(url.path) else { return nil }
        var start = [UInt8](repeating: 0, count: 64)
        let count = Foundation.read(descriptor, &start, start.count)
        close(descriptor)
        guard TraceJSON.looksLikeJSON(Data(start.prefix(max(count, 0)))) || url.pathExtension.lowercased() == "json" else { return nil }
        return try RegularFile.read(url, what: "JSON trace")
    }

    /// Checks that every stack's tensors agree with the tokens along their axes.
    public static func validate(_ trace: Trace, path: String) throws {
        for (kind, stack) in trace.stacks {
            let queries = trace.queryTokens(kind).count, keys = trace.keyTokens(kind).count
            let shape = stack.attention.shape
            guard shape.count == 4, shape[2] == queries, shape[3] == keys else {
                throw CoreError("\(kind.rawValue).attention has shape \(shape) but the trace has \(queries) query and \(keys) key tokens",
                                location: path, hint: "attention must be [layers, heads, queries, keys]")
            }
            let heads = shape[1]
            let keyValueHeads = stack.keyValueHeadCount
            guard keyValueHeads >= 1, keyValueHeads <= heads, heads % keyValueHeads == 0 else {
                throw CoreError("\(kind.rawValue) has \(keyValueHeads) key/value heads for \(heads) query heads",
                                location: path, hint: "the query heads must be a multiple of the key/value heads")
            }
            if let geometry = stack.geometry {
                guard geometry.scales.count == shape[0], geometry.scales.allSatisfy(\.isFinite) else {
                    throw CoreError("the \(kind.rawValue) stack states \(geometry.scales.count) score scales for \(shape[0]) layers",
                                    location: path, hint: "give one finite scale per layer")
                }
                if let window = geometry.slidingWindow, window < 1 {
                    throw CoreError("the \(kind.rawValue) stack's sliding window is \(window)", location: path)
                }
            }
            for (what, tensor) in [("query", stack.query), ("key", stack.key), ("value", stack.value)] {
                guard let tensor else { continue }
                let n = what == "query" ? queries : keys
                let expectedHeads = what == "query" ? heads : keyValueHeads
                guard tensor.rank == 4, tensor.shape[0] == shape[0], tensor.shape[1] == expectedHeads, tensor.shape[2] == n else {
                    throw CoreError("\(kind.rawValue).\(what) has shape \(tensor.shape), expected [\(shape[0]), \(expectedHeads), \(n), head_dim]",
                                    location: path)
                }
            }
            if let query = stack.query, let key = stack.key, query.shape[3] != key.shape[3] {
                throw CoreError("\(kind.rawValue).query has width \(query.shape[3]) but \(kind.rawValue).key has \(key.shape[3])",
                                location: path, hint: "queries and keys must have the same head width")
            }
            if let hidden = stack.hidden, hidden.rank != 3 || hidden.shape[1] != queries {
                throw CoreError("\(kind.rawValue).hidden has shape \(hidden.shape), expected [layers + 1, \(queries), hidden]",
                                location: path)
            }
            if stack.attention.scalars.contains(where: { !$0.isFinite }) {
                throw CoreError("\(kind.rawValue).attention holds NaN or infinite values", location: path)
            }
        }
    }

    /// JSON with sorted keys, so that the same trace always gives the same bytes.
    public static func stableJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// A decoding error as one readable phrase: what was wrong and at which key.
    public static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \"\(key.stringValue)\" at \(path(context))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        default:
            return "\(error)"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
        return parts.isEmpty ? "the top level" : parts.joined()
    }
}
