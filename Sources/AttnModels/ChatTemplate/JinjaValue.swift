import Foundation

/// A value in a chat template: what Python values a template sees through Jinja.
indirect enum JinjaValue {
    /// A name or key that is not there (Jinja's `Undefined`): empty when printed, false, an error
    /// when used in arithmetic or asked for an attribute.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    /// A list, or a tuple (printed with parentheses).
    case list([JinjaValue], isTuple: Bool)
    case dict(JinjaDictionary)
    case namespace(JinjaNamespace)
    case function(JinjaFunction)

    static func list(_ items: [JinjaValue]) -> JinjaValue { .list(items, isTuple: false) }

    /// A JSON value, objects keeping their key order.
    init(json: TokenizerJSON.Value) {
        switch json {
        case .null: self = .none
        case .bool(let flag): self = .bool(flag)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 { self = .int(Int(number)) } else { self = .float(number) }
        case .string(let text): self = .string(text)
        case .array(let items): self = .list(items.map(JinjaValue.init(json:)))
        case .object(let members):
            var dictionary = JinjaDictionary()
            for (key, value) in members { dictionary[key] = JinjaValue(json: value) }
            self = .dict(dictionary)
        }
    }

    var isUndefined: Bool { if case .undefined = self { true } else { false } }

    /// Python's truth value.
    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let flag): flag
        case .int(let value): value != 0
        case .float(let value): value != 0
        case .string(let text): !text.isEmpty
        case .list(let items, _): !items.isEmpty
        case .dict(let dictionary): !dictionary.isEmpty
        case .namespace, .function: true
        }
    }

    /// The type as Python names it, for error messages.
    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .float: "float"
        case .string: "str"
        case .list(_, let isTuple): isTuple ? "tuple" : "list"
        case .dict: "dict"
        case .namespace: "Namespace"
        case .function: "function"
        }
    }

    /// A number as a Double (bools count as 0 and 1, as in Python).
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .float(let value): value
        case .bool(let flag): flag ? 1 : 0
        default: nil
        }
    }

    /// Python's `==`.
    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return Array(x.unicodeScalars) == Array(y.unicodeScalars)
        case (.list(let x, _), .list(let y, _)): return x.count == y.count && zip(x, y).allSatisfy(equal)
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.keys.allSatisfy { key in y[key].map { equal(x[key]!, $0) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    // MARK: Printing, as Python's str() and repr()

    /// `{{ value }}` and the `string` filter: Python's `str()`; undefined prints nothing.
    var text: String {
        switch self {
        case .undefined: ""
        case .string(let text): text
        default: repr
        }
    }

    /// Python's `repr()`.
    var repr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let flag): flag ? "True" : "False"
        case .int(let value): String(value)
        case .float(let value): Self.pythonFloat(value)
        case .string(let text): Self.pythonQuoted(text)
        case .list(let items, let isTuple):
            isTuple ? "(" + items.map(\.repr).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
                : "[" + items.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let dictionary):
            "{" + dictionary.keys.map { Self.pythonQuoted($0) + ": " + dictionary[$0]!.repr }.joined(separator: ", ") + "}"
        case .namespace(let namespace):
            "<Namespace " + JinjaValue.dict(namespace.attributes).repr + ">"
        case .function(let function): "<function \(function.name)>"
        }
    }

    /// Python's float repr: the shortest text that reads back, with `.0` on whole numbers and an
    /// exponent beyond 1e16 or below 1e-4.
    static func pythonFloat(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        var text = "\(value)"
        if let e = text.firstIndex(of: "e") {
            // Swift writes 1e-05 and 1e+16 as Python does; make sure a mantissa such as 1.0e-05 reads 1e-05.
            var mantissa = String(text[..<e])
            if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
            text = mantissa + text[e...]
        }
        return text
    }

    /// A string as Python's repr writes it: single quotes unless the text has one and no double quote.
    static func pythonQuoted(_ text: String) -> String {
        let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    // MARK: JSON, as transformers' tojson (json.dumps with ensure_ascii=False)

    func json(indent: Int?, level: Int = 0) throws -> String {
        switch self {
        case .none: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let value): return String(value)
        case .float(let value):
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
            return Self.pythonFloat(value)
        case .string(let text): return Self.jsonQuoted(text)
        case .list(let items, _):
            if items.isEmpty { return "[]" }
            let parts = try items.map { try $0.json(indent: indent, level: level + 1) }
            return Self.jsonContainer("[", "]", parts, indent: indent, level: level)
        case .dict(let dictionary):
            if dictionary.isEmpty { return "{}" }
            let parts = try dictionary.keys.map { Self.jsonQuoted($0) + ": " + (try dictionary[$0]!.json(indent: indent, level: level + 1)) }
            return Self.jsonContainer("{", "}", parts, indent: indent, level: level)
        case .namespace, .function, .undefined:
            throw JinjaRuntimeError("tojson cannot write a value of type \(typeName)")
        }
    }

    private static func jsonContainer(_ open: String, _ close: String, _ parts: [String], indent: Int?, level: Int) -> String {
        guard let indent else { return open + parts.joined(separator: ", ") + close }
        let inner = "\n" + String(repeating: " ", count: indent * (level + 1))
        let outer = "\n" + String(repeating: " ", count: indent * level)
        return open + inner + parts.joined(separator: "," + inner) + outer + close
    }

    static func jsonQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}

/// A dictionary that keeps its keys in insertion order, as Python's does.
struct JinjaDictionary {
    private(set) var keys: [String] = []
    private var values: [String: JinjaValue] = [:]

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }

    subscript(key: String) -> JinjaValue? {
        get { values[key] }
        set {
            if let newValue {
                if values[key] == nil { keys.append(key) }
                values[key] = newValue
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

/// `namespace(…)`: the one mutable object a template can change from inside a loop.
final class JinjaNamespace {
    var attributes: JinjaDictionary

    init(_ attributes: JinjaDictionary) { self.attributes = attributes }
}

/// A callable value: a global (`range`, `namespace`, `raise_exception`) or a bound method (`'x'.strip`).
struct JinjaFunction {
    var name: String
    var call: ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue
}

/// An error while rendering (a type error, an undefined value used, or `raise_exception`).
struct JinjaRuntimeError: Error {
    var message: String
    /// From the template's own `raise_exception(…)`.
    var raisedByTemplate = false
    var line: Int?

    init(_ message: String, raisedByTemplate: Bool = false, line: Int? = nil) {
        self.message = message
        self.raisedByTemplate = raisedByTemplate
        self.line = line
    }
}
