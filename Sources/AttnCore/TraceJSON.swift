import Foundation

/// The JSON form of a trace (`attnlab trace --format json`), for tools that read JSON rather than
/// safetensors: `tokens` as strings, `token_type_ids`, `token_details` (every token's fields),
/// `decoder_tokens`, `attention` as `[layer][head][query][key]` (other stacks as
/// `decoder_attention`, `cross_attention`), `query`/`key`/`value`/`hidden` when captured (other
/// stacks prefixed alike), `outputs`, `inputs` and `provenance`. Keys in that order; numbers that
/// are not finite are written as `null`.
public enum TraceJSON {
    public static func encode(_ trace: Trace) -> Data {
        var out = "{"
        func key(_ name: String) { out += (out.count > 1 ? "," : "") + "\"\(name)\":" }
        func json<T: Encodable>(_ value: T) -> String { String(decoding: (try? TraceFile.stableJSON(value)) ?? Data("null".utf8), as: UTF8.self) }
        key("tokens"); out += json(trace.tokens.map(\.text))
        key("token_type_ids"); out += json(trace.tokenTypeIds ?? trace.tokens.map(\.segment))
        key("token_details"); out += json(trace.tokens)
        if let decoder = trace.decoderTokens { key("decoder_tokens"); out += json(decoder.map(\.text)) }
        for kind in trace.stacks.keys.sorted() {
            let stack = trace.stacks[kind]!
            key(kind == .encoder ? "attention" : "\(kind.rawValue)_attention")
            out += nested(stack.attention)
            for (name, tensor) in [("query", stack.query), ("key", stack.key), ("value", stack.value), ("hidden", stack.hidden)] {
                if let tensor { key(kind == .encoder ? name : "\(kind.rawValue)_\(name)"); out += nested(tensor) }
            }
        }
        key("outputs"); out += json(trace.outputs)
        key("inputs"); out += json(trace.inputs)
        key("provenance"); out += json(trace.provenance)
        out += "}\n"
        return Data(out.utf8)
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
