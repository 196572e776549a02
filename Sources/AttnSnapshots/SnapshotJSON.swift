import AttnCore
import Foundation

/// JSON written for people reading `git diff`: keys in the order the snapshot format gives them,
/// numbers rounded to a fixed number of decimals, one element per line for lists whose elements
/// change on their own (tokens, heads), and small records kept on one line.
///
/// The same value always gives the same bytes; there is nothing time- or machine-dependent in it.
indirect enum SnapshotJSON: Equatable {
    case object([(String, SnapshotJSON)], inline: Bool)
    case array([SnapshotJSON], inline: Bool)
    case string(String)
    /// Already formatted (`0.8088`, `12`).
    case number(String)
    case bool(Bool)
    case null

    static func == (a: SnapshotJSON, b: SnapshotJSON) -> Bool { a.text() == b.text() }

    /// An object written over several lines; nil values are left out.
    static func object(_ members: [(String, SnapshotJSON?)]) -> SnapshotJSON {
        .object(members.compactMap { key, value in value.map { (key, $0) } }, inline: false)
    }

    /// An object written on one line; nil values are left out.
    static func line(_ members: [(String, SnapshotJSON?)]) -> SnapshotJSON {
        .object(members.compactMap { key, value in value.map { (key, $0) } }, inline: true)
    }

    static func int(_ value: Int) -> SnapshotJSON { .number(String(value)) }

    /// `value` rounded to `decimals` places, always written with that many (`0.1200`), never `-0`.
    static func fixed(_ value: Double, _ decimals: Int) -> SnapshotJSON {
        .number(format(value, decimals))
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "0" }
        var text = String(format: "%.\(decimals)f", value)
        if text.hasPrefix("-"), text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { text.removeFirst() }
        return text
    }

    /// The document, ending with a newline.
    func text() -> String {
        var out = ""
        write(to: &out, indent: 0)
        return out + "\n"
    }

    func data() -> Data { Data(text().utf8) }

    private func write(to out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1), closePad = String(repeating: "  ", count: indent)
        switch self {
        case .object(let members, let inline):
            if members.isEmpty { out += "{}"; return }
            if inline {
                out += "{" + members.map { JSONText.quote($0.0) + ": " + $0.1.inlineText() }.joined(separator: ", ") + "}"
                return
            }
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += pad + JSONText.quote(key) + ": "
                value.write(to: &out, indent: indent + 1)
                out += index < members.count - 1 ? ",\n" : "\n"
            }
            out += closePad + "}"
        case .array(let elements, let inline):
            if elements.isEmpty { out += "[]"; return }
            if inline {
                out += inlineText()
                return
            }
            out += "[\n"
            for (index, element) in elements.enumerated() {
                out += pad
                element.write(to: &out, indent: indent + 1)
                out += index < elements.count - 1 ? ",\n" : "\n"
            }
            out += closePad + "]"
        default:
            out += inlineText()
        }
    }

    private func inlineText() -> String {
        switch self {
        case .object(let members, _):
            return "{" + members.map { JSONText.quote($0.0) + ": " + $0.1.inlineText() }.joined(separator: ", ") + "}"
        case .array(let elements, _):
            return "[" + elements.map { $0.inlineText() }.joined(separator: ", ") + "]"
        case .string(let text): return JSONText.quote(text)
        case .number(let text): return text
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        }
    }

}
