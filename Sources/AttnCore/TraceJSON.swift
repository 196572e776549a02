import Foundation

/// The JSON form of a trace (`attnlab trace --format json`), for tools that read JSON rather than
/// safetensors: `tokens` as strings, `token_type_ids`, `token_details` (every token's fields),
/// `decoder_tokens`, `attention` as `[layer][head][query][key]` (other stacks as
/// `decoder_attention`, `cross_attention`), `query`/`key`/`value`/`hidden` when captured (other
/// stacks prefixed alike), `logits` (classification), `outputs`, `inputs`, `provenance`, `stacks`
/// (how each stack's attention was computed) and `interventions`. Keys in that order; numbers that
/// are not finite are written as `null`. `decode` reads it back, so views, figures and diffs take
/// either form.
public enum TraceJSON {
    public static func encode(_ trace: Trace) -> Data {
        var out = "{"
        func key(_ name: String) { out += (out.count > 1 ? "," : "") + "\"\(name)\":" }
        func json<T: Encodable>(_ value: T) -> String { String(decoding: (try? TraceFile.stableJSON(value)) ?? Data("null".utf8), as: UTF8.self) }
        key("tokens"); out += json(trace.tokens.map(\.text))
        key("token_type_ids"); out += json(trace.tokenTypeIds ?? trace.tokens.map(\.segment))
        key("token_details"); out += json(trace.tokens)
        if let decoder = trace.decoderTokens {
            key("decoder_tokens"); out += json(decoder.map(\.text))
            key("decoder_token_details"); out += json(decoder)
        }
        for kind in trace.stacks.keys.sorted() {
            let stack = trace.stacks[kind]!
            key(kind == .encoder ? "attention" : "\(kind.rawValue)_attention")
            out += nested(stack.attention)
            for (name, tensor) in [("query", stack.query), ("key", stack.key), ("value", stack.value), ("hidden", stack.hidden)] {
                if let tensor { key(kind == .encoder ? name : "\(kind.rawValue)_\(name)"); out += nested(tensor) }
            }
        }
        if let logits = trace.logits { key("logits"); out += nested(logits) }
        key("outputs"); out += json(trace.outputs)
        key("inputs"); out += json(trace.inputs)
        key("provenance"); out += json(trace.provenance)
        if let geometries = TraceFile.geometries(trace) { key("stacks"); out += json(geometries) }
        if !trace.interventions.isEmpty { key("interventions"); out += json(trace.interventions) }
        out += "}\n"
        return Data(out.utf8)
    }

    /// True when `data` starts as `encode` writes (`{"tokens":`), which no safetensors file can: its
    /// first eight bytes are the header's length, and these would make it exabytes long.
    public static func looksLikeJSON(_ data: Data) -> Bool {
        let text = data.prefix(64).drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        return text.starts(with: Array(#"{"tokens":"#.utf8))
    }

    /// A trace from its JSON form, checked as a trace file is (shapes against the tokens).
    public static func decode(_ data: Data, path: String) throws -> Trace {
        func invalid(_ what: String) -> CoreError {
            CoreError("not a valid JSON trace: \(what)", location: path,
                      hint: "write it with `attnlab trace --format json`, or write a .safetensors trace (`--out x.safetensors`)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw invalid("the file is not a JSON object") }
        func decoded<T: Decodable>(_ type: T.Type, _ key: String) throws -> T? {
            guard let value = root[key], !(value is NSNull) else { return nil }
            do {
                return try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]))
            } catch {
                throw invalid("\(key): \(TraceFile.describe(error))")
            }
        }
        func tensor(_ key: String) throws -> Tensor? {
            guard let value = root[key] else { return nil }
            var shape: [Int] = []
            var probe: Any = value
            while let array = probe as? [Any] {
                shape.append(array.count)
                guard let first = array.first else { break }
                probe = first
            }
            var scalars: [Float] = []
            scalars.reserveCapacity(shape.reduce(1, *))
            func flatten(_ item: Any, _ dimension: Int) throws {
                if dimension == shape.count {
                    if item is NSNull { scalars.append(.nan); return }
                    guard let number = item as? NSNumber else { throw invalid("\(key) holds something other than numbers") }
                    scalars.append(number.floatValue)
                    return
                }
                guard let array = item as? [Any], array.count == shape[dimension] else {
                    throw invalid("\(key) is not a rectangular array (its shape would be \(shape))")
                }
                for element in array { try flatten(element, dimension + 1) }
            }
            try flatten(value, 0)
            return Tensor(shape: shape, scalars: scalars)
        }
        let tokens: [TraceToken]
        if let details = try decoded([TraceFile.FlexibleToken].self, "token_details") {
            tokens = details.map(\.token)
        } else if let plain = try decoded([TraceFile.FlexibleToken].self, "tokens") {
            tokens = plain.map(\.token)
        } else {
            throw invalid("it has no tokens")
        }
        let decoderTokens = try decoded([TraceFile.FlexibleToken].self, "decoder_token_details")?.map(\.token)
            ?? decoded([TraceFile.FlexibleToken].self, "decoder_tokens")?.map(\.token)
        let geometries = try decoded([String: AttentionGeometry].self, "stacks") ?? [:]
        var stacks: [StackKind: AttentionStack] = [:]
        for kind in StackKind.allCases {
            let prefix = kind == .encoder ? "" : "\(kind.rawValue)_"
            guard let attention = try tensor(prefix + "attention") else { continue }
            stacks[kind] = AttentionStack(attention: attention, query: try tensor(prefix + "query"), key: try tensor(prefix + "key"),
                                          value: try tensor(prefix + "value"), hidden: try tensor(prefix + "hidden"),
                                          geometry: geometries[kind.rawValue])
        }
        guard !stacks.isEmpty else { throw invalid("it has no attention (no key attention, decoder_attention or cross_attention)") }
        let typeIds = try decoded([Int].self, "token_type_ids")
        let trace = Trace(inputs: try decoded(TraceInputs.self, "inputs") ?? TraceInputs(a: tokens.map(\.text).joined(separator: " ")),
                          tokens: tokens, decoderTokens: decoderTokens,
                          tokenTypeIds: typeIds.flatMap { $0.count == tokens.count ? $0 : nil }, stacks: stacks,
                          outputs: try decoded(TraceOutputs.self, "outputs") ?? TraceOutputs(),
                          logits: try tensor("logits"),
                          provenance: try decoded(Provenance.self, "provenance") ?? Provenance(model: "imported", architecture: "unknown"),
                          interventions: try decoded([Intervention].self, "interventions") ?? [])
        try TraceFile.validate(trace, path: path)
        return trace
    }

    /// A tensor as nested JSON arrays.
    static func nested(_ tensor: Tensor) -> String {
        var out = ""
        out.reserveCapacity(tensor.count * 12)
        func emit(_ dimension: Int, _ offset: Int, _ stride: Int) {
            out += "["
            let size = tensor.shape[dimension]
            let inner = stride / max(size, 1)
            for i in 0 ..< size {
                if i > 0 { out += "," }
                if dimension == tensor.rank - 1 {
                    let value = tensor.scalars[offset + i]
                    out += value.isFinite ? "\(value)" : "null"
                } else {
                    emit(dimension + 1, offset + i * inner, inner)
                }
            }
            out += "]"
        }
        emit(0, 0, tensor.count)
        return out
    }
}
