/// A token of a Jinja template: text between tags, tag delimiters, and the expression tokens inside.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        case text(String)
        case blockBegin, blockEnd, variableBegin, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
    }

    var kind: Kind
    /// 1-based line in the template.
    var line: Int
}

/// Cuts a template into tokens with the whitespace rules transformers renders chat templates with
/// (Jinja's `trim_blocks` and `lstrip_blocks` on, `keep_trailing_newline` off): `{%-` / `-%}` strip
/// the whitespace before / after a tag, a block or comment tag eats the newline after it, and the
/// spaces before a block or comment tag that starts a line go too (`{%+` keeps them).
struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private var position = 0
    /// Where each line starts, for the line numbers of tokens and errors.
    private let lineStarts: [Int]
    private(set) var tokens: [JinjaToken] = []

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lexer = JinjaLexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private init(source: String) {
        // Newlines normalised, then one trailing newline dropped, as Jinja does.
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        let scalars = Array(text.unicodeScalars)
        s = scalars
        lineStarts = [0] + scalars.indices.filter { scalars[$0] == "\n" }.map { $0 + 1 }
    }

    /// The 1-based line of the scalar at `index`.
    private func lineAt(_ index: Int) -> Int {
        var low = 0, high = lineStarts.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if lineStarts[middle] <= index { low = middle } else { high = middle }
        }
        return low + 1
    }

    private var line: Int { lineAt(position) }

    private func at(_ index: Int, _ text: String) -> Bool {
        var i = index
        for scalar in text.unicodeScalars {
            guard i < s.count, s[i] == scalar else { return false }
            i += 1
        }
        return true
    }

    private mutating func appendText(_ scalars: ArraySlice<Unicode.Scalar>) {
        guard !scalars.isEmpty else { return }
        tokens.append(JinjaToken(kind: .text(String(String.UnicodeScalarView(scalars))), line: lineAt(scalars.startIndex)))
    }

    private mutating func run() throws {
        var lineStarting = true
        while position < s.count {
            // The next tag opener.
            var opener = position
            while opener < s.count, !(s[opener] == "{" && opener + 1 < s.count && ["{", "%", "#"].contains(s[opener + 1])) {
                opener += 1
            }
            var text = s[position..<opener]
            if opener >= s.count {
                appendText(text)
                return
            }
            let kind = s[opener + 1]
            var cursor = opener + 2
            var sign: Unicode.Scalar?
            if cursor < s.count, s[cursor] == "-" || s[cursor] == "+" {
                sign = s[cursor]
                cursor += 1
            }
            if sign == "-" {
                while let last = text.last, JinjaLexer.isWhitespace(last) { text = text.dropLast() }
            } else if sign != "+", kind != "{" {
                let lineStart = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
                let rest = text[lineStart...]
                if lineStart > text.startIndex || lineStarting, !rest.isEmpty, rest.allSatisfy(JinjaLexer.isWhitespace) {
                    text = text[..<lineStart]
                }
            }
            appendText(text)
            let tagLine = lineAt(opener)

            if kind == "#" {
                var end = cursor
                while end + 1 < s.count, !(s[end] == "#" && s[end + 1] == "}") { end += 1 }
                guard end + 1 < s.count else { throw JinjaSyntaxError("a comment is not closed (no #})", line: tagLine) }
                position = closeTag(end: end, length: 2, trimNewline: true, before: end > cursor ? s[end - 1] : nil)
                lineStarting = position > 0 && s[position - 1] == "\n"
                continue
            }
            if kind == "%", let raw = rawBlock(from: cursor) {
                appendText(s[raw.body])
                position = raw.end
                lineStarting = position > 0 && s[position - 1] == "\n"
                continue
            }
            tokens.append(JinjaToken(kind: kind == "%" ? .blockBegin : .variableBegin, line: tagLine))
            position = cursor
            try lexTag(block: kind == "%", openedAt: tagLine)
            lineStarting = position > 0 && s[position - 1] == "\n"
        }
    }

    /// Moves past a closing delimiter at `end` (`length` scalars), applying `-` (strip what follows)
    /// or the newline rule of `trim_blocks`. `before` is the scalar before the delimiter.
    private func closeTag(end: Int, length: Int, trimNewline: Bool, before: Unicode.Scalar?) -> Int {
        var next = end + length
        if before == "-" {
            while next < s.count, JinjaLexer.isWhitespace(s[next]) { next += 1 }
        } else if before != "+", trimNewline, next < s.count, s[next] == "\n" {
            next += 1
        }
        return next
    }

    /// `{% raw %}…{% endraw %}`: the range of the body and the position after the closing tag.
    private func rawBlock(from start: Int) -> (body: Range<Int>, end: Int)? {
        var i = start
        while i < s.count, JinjaLexer.isWhitespace(s[i]) { i += 1 }
        guard at(i, "raw") else { return nil }
        i += 3
        while i < s.count, JinjaLexer.isWhitespace(s[i]) { i += 1 }
        if i < s.count, s[i] == "-" { i += 1 }
        guard at(i, "%}") else { return nil }
        let bodyStart = i + 2
        var search = bodyStart
        while search < s.count {
            if at(search, "{%") {
                var j = search + 2
                if j < s.count, s[j] == "-" || s[j] == "+" { j += 1 }
                while j < s.count, JinjaLexer.isWhitespace(s[j]) { j += 1 }
                if at(j, "endraw") {
                    j += 6
                    while j < s.count, JinjaLexer.isWhitespace(s[j]) { j += 1 }
                    if j < s.count, s[j] == "-" || s[j] == "+" { j += 1 }
                    if at(j, "%}") { return (bodyStart..<search, j + 2) }
                }
            }
            search += 1
        }
        return nil
    }

    private mutating func lexTag(block: Bool, openedAt tagLine: Int) throws {
        var depth = 0
        while true {
            while position < s.count, JinjaLexer.isWhitespace(s[position]) { position += 1 }
            guard position < s.count else {
                throw JinjaSyntaxError("a \(block ? "{% … %}" : "{{ … }}") tag is not closed", line: tagLine)
            }
            if depth == 0 {
                let closer = block ? "%}" : "}}"
                for prefix in ["-", "+", ""] where !(prefix == "+" && !block) && at(position, prefix + closer) {
                    tokens.append(JinjaToken(kind: block ? .blockEnd : .variableEnd, line: line))
                    position = closeTag(end: position + prefix.unicodeScalars.count, length: 2, trimNewline: block,
                                        before: prefix.isEmpty ? nil : prefix.unicodeScalars.first)
                    return
                }
            }
            let scalar = s[position]
            if scalar == "_" || scalar.properties.isAlphabetic && scalar.isASCII {
                var end = position
                while end < s.count, s[end] == "_" || (s[end].isASCII && (s[end].properties.isAlphabetic || ("0"..."9").contains(s[end]))) {
                    end += 1
                }
                tokens.append(JinjaToken(kind: .name(String(String.UnicodeScalarView(s[position..<end]))), line: line))
                position = end
            } else if ("0"..."9").contains(scalar) {
                try lexNumber()
            } else if scalar == "'" || scalar == "\"" {
                try lexString(quote: scalar)
            } else {
                let twoCharacter = ["//", "**", "==", "!=", "<=", ">="]
                if let op = twoCharacter.first(where: { at(position, $0) }) {
                    tokens.append(JinjaToken(kind: .op(op), line: line))
                    position += 2
                } else if "+-*/%~<>=()[]{},.:|".unicodeScalars.contains(scalar) {
                    if "([{".unicodeScalars.contains(scalar) { depth += 1 }
                    if ")]}".unicodeScalars.contains(scalar) {
                        guard depth > 0 else { throw JinjaSyntaxError("unexpected '\(scalar)'", line: line) }
                        depth -= 1
                    }
                    tokens.append(JinjaToken(kind: .op(String(scalar)), line: line))
                    position += 1
                } else {
                    throw JinjaSyntaxError("unexpected character '\(scalar)' in a tag", line: line)
                }
            }
        }
    }

    private mutating func lexNumber() throws {
        var end = position
        func digits() { while end < s.count, ("0"..."9").contains(s[end]) || s[end] == "_" { end += 1 } }
        digits()
        var isFloat = false
        if end + 1 < s.count, s[end] == ".", ("0"..."9").contains(s[end + 1]) {
            isFloat = true
            end += 1
            digits()
        }
        if end < s.count, s[end] == "e" || s[end] == "E" {
            var exponent = end + 1
            if exponent < s.count, s[exponent] == "+" || s[exponent] == "-" { exponent += 1 }
            if exponent < s.count, ("0"..."9").contains(s[exponent]) {
                isFloat = true
                end = exponent
                digits()
            }
        }
        let text = String(String.UnicodeScalarView(s[position..<end])).replacingOccurrences(of: "_", with: "")
        if isFloat, let value = Double(text) {
            tokens.append(JinjaToken(kind: .float(value), line: line))
        } else if let value = Int(text) {
            tokens.append(JinjaToken(kind: .integer(value), line: line))
        } else {
            throw JinjaSyntaxError("the number \(text) is out of range", line: line)
        }
        position = end
    }

    /// A quoted string with Python's escapes (`\n`, `\t`, `\\`, `\'`, `\uXXXX`, …), as Jinja decodes them.
    private mutating func lexString(quote: Unicode.Scalar) throws {
        let startLine = line
        var i = position + 1
        var out = String.UnicodeScalarView()
        while i < s.count, s[i] != quote {
            guard s[i] == "\\", i + 1 < s.count else {
                out.append(s[i])
                i += 1
                continue
            }
            let escape = s[i + 1]
            i += 2
            switch escape {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "0": out.append("\u{00}")
            case "\n": break
            case "x", "u", "U":
                let count = escape == "x" ? 2 : escape == "u" ? 4 : 8
                guard i + count <= s.count, let code = UInt32(String(String.UnicodeScalarView(s[i..<i + count])), radix: 16),
                      let scalar = Unicode.Scalar(code) else {
                    throw JinjaSyntaxError("a malformed \\\(escape) escape in a string", line: line)
                }
                out.append(scalar)
                i += count
            default:
                out.append("\\")
                out.append(escape)
            }
        }
        guard i < s.count else { throw JinjaSyntaxError("a string is not closed", line: startLine) }
        tokens.append(JinjaToken(kind: .string(String(out)), line: startLine))
        position = i + 1
    }

    /// Python's whitespace (`str.isspace`).
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }
}

/// A template that cannot be read, with its line.
struct JinjaSyntaxError: Error {
    var message: String
    var line: Int

    init(_ message: String, line: Int) {
        self.message = message
        self.line = line
    }
}
