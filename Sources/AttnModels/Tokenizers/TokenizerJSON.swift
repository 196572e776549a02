import Foundation

/// A JSON value read from a tokenizer file, remembering the file and the key path it was found at,
/// so that every accessor can throw an error that names both.
///
/// A small parser of its own rather than `JSONSerialization`: it keeps booleans and numbers apart,
/// keeps object key order, and reports a syntax error with its line and column.
struct TokenizerJSON: Sendable {
    indirect enum Value: Sendable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([Value])
        /// Keys in file order (the order matters for nothing we read, but errors read better).
        case object([(key: String, value: Value)])
    }

    let value: Value
    /// The file the value came from, for error messages.
    let file: String
    /// Dotted key path (`model.vocab`, `post_processor.single[1]`); empty at the root.
    let path: String

    init(value: Value, file: String, path: String) {
        self.value = value
        self.file = file
        self.path = path
    }

    /// Parses `data` (UTF-8 JSON) read from `file`.
    static func parse(_ data: Data, file: String) throws -> TokenizerJSON {
        var parser = Parser(bytes: [UInt8](data), file: file)
        let value = try parser.parseDocument()
        return TokenizerJSON(value: value, file: file, path: "")
    }

    // MARK: Reading values, with errors that name the file and the key

    var isNull: Bool { if case .null = value { return true } else { return false } }

    /// The member `key` of this object, or nil when absent or null.
    subscript(key: String) -> TokenizerJSON? {
        guard case .object(let members) = value else { return nil }
        for member in members where member.key == key {
            if case .null = member.value { return nil }
            return TokenizerJSON(value: member.value, file: file, path: childPath(key))
        }
        return nil
    }

    /// The member `key`, which must be present and not null.
    func required(_ key: String) throws -> TokenizerJSON {
        _ = try objectMembers()
        guard let child = self[key] else {
            throw TokenizerError.invalidFile(file, key: childPath(key), "is missing",
                                             hint: "the file is not a complete Hugging Face tokenizer.json; re-download it")
        }
        return child
    }

    func string() throws -> String {
        guard case .string(let text) = value else { throw typeError("a string") }
        return text
    }

    func bool() throws -> Bool {
        guard case .bool(let flag) = value else { throw typeError("true or false") }
        return flag
    }

    func int() throws -> Int {
        guard case .number(let number) = value, number.rounded() == number, abs(number) < 1e15 else {
            throw typeError("an integer")
        }
        return Int(number)
    }

    func array() throws -> [TokenizerJSON] {
        guard case .array(let items) = value else { throw typeError("an array") }
        return items.enumerated().map { index, item in
            TokenizerJSON(value: item, file: file, path: "\(path)[\(index)]")
        }
    }

    func objectMembers() throws -> [(key: String, value: TokenizerJSON)] {
        guard case .object(let members) = value else { throw typeError("an object") }
        return members.map { ($0.key, TokenizerJSON(value: $0.value, file: file, path: childPath($0.key))) }
    }

    /// Optional typed members: nil when absent or null, an error when of the wrong type.
    func optionalString(_ key: String) throws -> String? { try self[key]?.string() }
    func optionalBool(_ key: String) throws -> Bool? { try self[key]?.bool() }
    func optionalInt(_ key: String) throws -> Int? { try self[key]?.int() }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func typeError(_ expected: String) -> TokenizerError {
        TokenizerError.invalidFile(file, key: path.isEmpty ? "(root)" : path,
                                   "should be \(expected), found \(value.kindName)",
                                   hint: "fix the value or re-download the tokenizer files")
    }
}

extension TokenizerJSON.Value {
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

// MARK: - Parser

private struct Parser {
    let bytes: [UInt8]
    let file: String
    var position = 0

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    mutating func parseDocument() throws -> TokenizerJSON.Value {
        // A UTF-8 byte order mark is allowed and ignored.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if position < bytes.count { throw syntaxError("unexpected text after the end of the JSON value") }
        return value
    }

    private mutating func parseValue(depth: Int) throws -> TokenizerJSON.Value {
        guard depth < 512 else { throw syntaxError("nesting is too deep") }
        guard position < bytes.count else { throw syntaxError("unexpected end of file") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw syntaxError("unexpected character \(describe(bytes[position]))")
        }
    }

    private mutating func parseObject(depth: Int) throws -> TokenizerJSON.Value {
        position += 1
        var members: [(key: String, value: TokenizerJSON.Value)] = []
        skipWhitespace()
        if peek(UInt8(ascii: "}")) { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw syntaxError("expected a quoted key") }
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw syntaxError("expected ':' after the key \"\(key)\"") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { position += 1; continue }
            if peek(UInt8(ascii: "}")) { position += 1; return .object(members) }
            throw syntaxError("expected ',' or '}' in an object")
        }
    }

    private mutating func parseArray(depth: Int) throws -> TokenizerJSON.Value {
        position += 1
        var items: [TokenizerJSON.Value] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) { position += 1; continue }
            if peek(UInt8(ascii: "]")) { position += 1; return .array(items) }
            throw syntaxError("expected ',' or ']' in an array")
        }
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: bytes[start..<position], as: UTF8.self)
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw syntaxError("control character in a string; it must be escaped") }
            position += 1
        }
        var utf8 = Array(bytes[start..<position])
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return String(decoding: utf8, as: UTF8.self)
            }
            if byte < 0x20 { throw syntaxError("control character in a string; it must be escaped") }
            if byte != UInt8(ascii: "\\") {
                utf8.append(byte)
                position += 1
                continue
            }
            position += 1
            guard position < bytes.count else { break }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): utf8.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800...0xDBFF).contains(code), bytes.count - position >= 6,
                   bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                    let save = position
                    position += 2
                    let low = try parseHex4()
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        position = save
                    }
                }
                // A lone surrogate cannot be represented; use U+FFFD like other JSON readers.
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                utf8.append(contentsOf: Array(String(scalar).utf8))
            default:
                position -= 1
                throw syntaxError("invalid escape \\\(describe(escape))")
            }
        }
        throw syntaxError("unterminated string")
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - position >= 4 else { throw syntaxError("incomplete \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw syntaxError("invalid hex digit in a \\u escape")
            }
            code = code * 16 + digit
            position += 1
        }
        return code
    }

    private mutating func parseNumber() throws -> Double {
        let start = position
        while position < bytes.count, isNumberByte(bytes[position]) { position += 1 }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        guard let number = Double(text), number.isFinite else {
            position = start
            throw syntaxError("invalid number \(text)")
        }
        return number
    }

    private func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
             UInt8(ascii: "+"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }

    private mutating func expectWord(_ word: String) throws {
        let utf8 = Array(word.utf8)
        guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
            throw syntaxError("unexpected character \(describe(bytes[position]))")
        }
        position += utf8.count
    }

    private func peek(_ byte: UInt8) -> Bool { position < bytes.count && bytes[position] == byte }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : String(format: "0x%02X", byte)
    }

    /// An error naming the line and column (1-based, column in bytes) of the current position.
    private func syntaxError(_ message: String) -> TokenizerError {
        var line = 1
        var lineStart = 0
        for index in 0..<min(position, bytes.count) where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        let column = position - lineStart + 1
        return TokenizerError(.invalidJSON, file: file, key: nil,
                              "is not valid JSON: \(message) at line \(line), column \(column)",
                              hint: "the file is damaged or not a tokenizer.json; re-download it")
    }
}
