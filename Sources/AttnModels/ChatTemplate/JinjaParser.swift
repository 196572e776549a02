/// A statement of a parsed template.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpression)
    case forLoop(targets: [String], iterable: JinjaExpression, condition: JinjaExpression?, body: [JinjaNode], otherwise: [JinjaNode], line: Int)
    case conditional(branches: [(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode])
    case assign(targets: [String], value: JinjaExpression, line: Int)
    case assignAttribute(object: String, attribute: String, value: JinjaExpression, line: Int)
    case assignBlock(name: String, body: [JinjaNode])
    case breakLoop, continueLoop
    /// transformers' `{% generation %}` marks the assistant's part; it renders its body.
    case generation([JinjaNode])
}

/// An expression of a parsed template.
indirect enum JinjaExpression {
    case literal(JinjaValue)
    case name(String, line: Int)
    case list([JinjaExpression], isTuple: Bool)
    case dict([(JinjaExpression, JinjaExpression)])
    case attribute(JinjaExpression, String, line: Int)
    case item(JinjaExpression, JinjaExpression, line: Int)
    case slice(JinjaExpression, JinjaExpression?, JinjaExpression?, JinjaExpression?, line: Int)
    case call(JinjaExpression, [JinjaExpression], [(String, JinjaExpression)], line: Int)
    case filter(JinjaExpression, String, [JinjaExpression], [(String, JinjaExpression)], line: Int)
    case test(JinjaExpression, String, [JinjaExpression], negated: Bool, line: Int)
    case not(JinjaExpression)
    case negate(JinjaExpression, line: Int)
    case binary(String, JinjaExpression, JinjaExpression, line: Int)
    case and(JinjaExpression, JinjaExpression)
    case or(JinjaExpression, JinjaExpression)
    case compare(JinjaExpression, [(String, JinjaExpression)], line: Int)
    case ternary(then: JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

/// A construct outside the subset AttnLab renders, named as the template writes it.
struct JinjaUnsupportedError: Error {
    var construct: String
    var line: Int
}

/// Parses the token stream into statements, refusing (with its name) any statement, filter, test,
/// method or function outside the subset `JinjaBuiltins` implements.
struct JinjaParser {
    private let tokens: [JinjaToken]
    private var index = 0
    /// How deeply statements and expressions nest; bounded so that no template exhausts the stack.
    private var depth = 0
    static let maximumDepth = 200

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw JinjaSyntaxError("the template nests deeper than \(Self.maximumDepth) levels", line: line)
        }
    }

    /// Statements Jinja has that the subset does not.
    static let unsupportedStatements: Set<String> = [
        "macro", "call", "filter", "include", "import", "from", "extends", "block", "with", "autoescape", "do", "trans",
    ]

    static func parse(_ tokens: [JinjaToken]) throws -> [JinjaNode] {
        var parser = JinjaParser(tokens: tokens)
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw JinjaSyntaxError("unexpected {% \(end) %}", line: parser.previousLine) }
        return nodes
    }

    private init(tokens: [JinjaToken]) { self.tokens = tokens }

    private var current: JinjaToken? { index < tokens.count ? tokens[index] : nil }
    private var line: Int { current?.line ?? tokens.last?.line ?? 1 }
    private var previousLine: Int { index > 0 ? tokens[index - 1].line : 1 }

    private mutating func advance() -> JinjaToken? {
        defer { index += 1 }
        return current
    }

    private func isOp(_ op: String) -> Bool { current?.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current?.kind == .name(name) }

    private mutating func expectOp(_ op: String) throws {
        guard isOp(op) else { throw JinjaSyntaxError("expected '\(op)', found \(describe(current))", line: line) }
        index += 1
    }

    private mutating func expectName(_ name: String) throws {
        guard isName(name) else { throw JinjaSyntaxError("expected '\(name)', found \(describe(current))", line: line) }
        index += 1
    }

    private mutating func identifier() throws -> String {
        guard case .name(let name)? = current?.kind else {
            throw JinjaSyntaxError("expected a name, found \(describe(current))", line: line)
        }
        index += 1
        return name
    }

    private mutating func expectBlockEnd() throws {
        guard current?.kind == .blockEnd else { throw JinjaSyntaxError("expected the end of the tag, found \(describe(current))", line: line) }
        index += 1
    }

    private func describe(_ token: JinjaToken?) -> String {
        guard let token else { return "the end of the template" }
        switch token.kind {
        case .text: return "text"
        case .blockBegin: return "{%"
        case .blockEnd: return "%}"
        case .variableBegin: return "{{"
        case .variableEnd: return "}}"
        case .name(let name): return "'\(name)'"
        case .string(let text): return "the string '\(text)'"
        case .integer(let value): return String(value)
        case .float(let value): return String(value)
        case .op(let op): return "'\(op)'"
        }
    }

    // MARK: Statements

    /// Nodes up to one of the `end` keywords (which is consumed with its tag's name returned; the
    /// rest of that tag is left for the caller), or to the end of the template.
    private mutating func parseBody(until end: Set<String>) throws -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while let token = current {
            switch token.kind {
            case .text(let text):
                index += 1
                nodes.append(.text(text))
            case .variableBegin:
                index += 1
                let expression = try parseExpression()
                guard current?.kind == .variableEnd else {
                    throw JinjaSyntaxError("expected '}}', found \(describe(current))", line: line)
                }
                index += 1
                nodes.append(.output(expression))
            case .blockBegin:
                index += 1
                let tagLine = line
                let keyword = try identifier()
                if end.contains(keyword) { return (nodes, keyword) }
                nodes.append(try parseStatement(keyword, line: tagLine))
            default:
                throw JinjaSyntaxError("unexpected \(describe(token))", line: token.line)
            }
        }
        if !end.isEmpty {
            throw JinjaSyntaxError("the template ends before {% \(end.sorted().joined(separator: " / ")) %}", line: line)
        }
        return (nodes, nil)
    }

    private mutating func parseStatement(_ keyword: String, line tagLine: Int) throws -> JinjaNode {
        try enter()
        defer { depth -= 1 }
        switch keyword {
        case "for":
            var targets = [try identifier()]
            while isOp(",") {
                index += 1
                targets.append(try identifier())
            }
            try expectName("in")
            let iterable = try parseTernary(allowConditional: false)
            var condition: JinjaExpression?
            if isName("if") {
                index += 1
                condition = try parseTernary(allowConditional: false)
            }
            if isName("recursive") { throw JinjaUnsupportedError(construct: "recursive for loops", line: tagLine) }
            try expectBlockEnd()
            var (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            try expectBlockEnd()
            if end == "else" {
                (otherwise, end) = try parseBody(until: ["endfor"])
                try expectBlockEnd()
            }
            return .forLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: tagLine)
        case "if":
            var branches: [(JinjaExpression, [JinjaNode])] = []
            var condition = try parseExpression()
            try expectBlockEnd()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                if end == "elif" {
                    condition = try parseExpression()
                    try expectBlockEnd()
                    continue
                }
                try expectBlockEnd()
                if end == "else" {
                    let (otherwise, _) = try parseBody(until: ["endif"])
                    try expectBlockEnd()
                    return .conditional(branches: branches, otherwise: otherwise)
                }
                return .conditional(branches: branches, otherwise: [])
            }
        case "set":
            let first = try identifier()
            if isOp(".") {
                index += 1
                let attribute = try identifier()
                try expectOp("=")
                let value = try parseExpression()
                try expectBlockEnd()
                return .assignAttribute(object: first, attribute: attribute, value: value, line: tagLine)
            }
            var targets = [first]
            while isOp(",") {
                index += 1
                targets.append(try identifier())
            }
            if current?.kind == .blockEnd, targets.count == 1 {
                index += 1
                let (body, _) = try parseBody(until: ["endset"])
                try expectBlockEnd()
                return .assignBlock(name: first, body: body)
            }
            try expectOp("=")
            let value = try parseExpression()
            try expectBlockEnd()
            return .assign(targets: targets, value: value, line: tagLine)
        case "break", "continue":
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop : .continueLoop
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .generation(body)
        default:
            if Self.unsupportedStatements.contains(keyword) {
                throw JinjaUnsupportedError(construct: "{% \(keyword) %}", line: tagLine)
            }
            throw JinjaSyntaxError("unknown tag {% \(keyword) %}", line: tagLine)
        }
    }

    // MARK: Expressions (Jinja's precedence, loosest first)

    mutating func parseExpression() throws -> JinjaExpression {
        try parseTernary(allowConditional: true)
    }

    private mutating func parseTernary(allowConditional: Bool) throws -> JinjaExpression {
        try enter()
        defer { depth -= 1 }
        let value = try parseOr()
        guard allowConditional, isName("if") else { return value }
        index += 1
        let condition = try parseOr()
        var otherwise: JinjaExpression?
        if isName("else") {
            index += 1
            otherwise = try parseTernary(allowConditional: true)
        }
        return .ternary(then: value, condition: condition, otherwise: otherwise)
    }

    private mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        let saved = depth
        defer { depth = saved }
        while isName("or") {
            try enter()
            index += 1
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        let saved = depth
        defer { depth = saved }
        while isName("and") {
            try enter()
            index += 1
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws -> JinjaExpression {
        try enter()
        defer { depth -= 1 }
        if isName("not") {
            index += 1
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> JinjaExpression {
        let first = try parseMath1()
        var operations: [(String, JinjaExpression)] = []
        let compareLine = line
        let saved = depth
        defer { depth = saved }
        while true {
            try enter()
            if case .op(let op)? = current?.kind, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
                index += 1
                operations.append((op, try parseMath1()))
            } else if isName("in") {
                index += 1
                operations.append(("in", try parseMath1()))
            } else if isName("not"), index + 1 < tokens.count, tokens[index + 1].kind == .name("in") {
                index += 2
                operations.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? first : .compare(first, operations, line: compareLine)
    }

    private mutating func parseMath1() throws -> JinjaExpression {
        var left = try parseConcat()
        let saved = depth
        defer { depth = saved }
        while case .op(let op)? = current?.kind, op == "+" || op == "-" {
            try enter()
            let opLine = line
            index += 1
            left = .binary(op, left, try parseConcat(), line: opLine)
        }
        return left
    }

    private mutating func parseConcat() throws -> JinjaExpression {
        var left = try parseMath2()
        let saved = depth
        defer { depth = saved }
        while isOp("~") {
            try enter()
            let opLine = line
            index += 1
            left = .binary("~", left, try parseMath2(), line: opLine)
        }
        return left
    }

    private mutating func parseMath2() throws -> JinjaExpression {
        var left = try parsePower()
        let saved = depth
        defer { depth = saved }
        while case .op(let op)? = current?.kind, ["*", "/", "//", "%"].contains(op) {
            try enter()
            let opLine = line
            index += 1
            left = .binary(op, left, try parsePower(), line: opLine)
        }
        return left
    }

    private mutating func parsePower() throws -> JinjaExpression {
        var left = try parseUnary()
        let saved = depth
        defer { depth = saved }
        while isOp("**") {
            try enter()
            let opLine = line
            index += 1
            left = .binary("**", left, try parseUnary(), line: opLine)
        }
        return left
    }

    private mutating func parseUnary() throws -> JinjaExpression {
        try enter()
        defer { depth -= 1 }
        if isOp("-") {
            let opLine = line
            index += 1
            return try parseFilters(.negate(try parseUnary(), line: opLine))
        }
        if isOp("+") {
            index += 1
            return try parseUnary()
        }
        return try parseFilters(try parsePostfix(try parsePrimary()))
    }

    private mutating func parsePrimary() throws -> JinjaExpression {
        guard let token = advance() else { throw JinjaSyntaxError("an expression is missing at the end", line: line) }
        switch token.kind {
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name, line: token.line)
            }
        case .string(var text):
            // Adjacent strings are joined, as in Python.
            while case .string(let more)? = current?.kind {
                text += more
                index += 1
            }
            return .literal(.string(text))
        case .integer(let value): return .literal(.int(value))
        case .float(let value): return .literal(.float(value))
        case .op("("):
            if isOp(")") {
                index += 1
                return .list([], isTuple: true)
            }
            let first = try parseExpression()
            if isOp(")") {
                index += 1
                return first
            }
            var items = [first]
            while isOp(",") {
                index += 1
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return .list(items, isTuple: true)
        case .op("["):
            var items: [JinjaExpression] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if !isOp(",") { break }
                index += 1
            }
            try expectOp("]")
            return .list(items, isTuple: false)
        case .op("{"):
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !isOp("}") {
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
                if !isOp(",") { break }
                index += 1
            }
            try expectOp("}")
            return .dict(pairs)
        default:
            throw JinjaSyntaxError("unexpected \(describe(token)) in an expression", line: token.line)
        }
    }

    private mutating func parsePostfix(_ base: JinjaExpression) throws -> JinjaExpression {
        var expression = base
        let saved = depth
        defer { depth = saved }
        while true {
            try enter()
            if isOp(".") {
                let dotLine = line
                index += 1
                if case .integer(let position)? = current?.kind {
                    index += 1
                    expression = .item(expression, .literal(.int(position)), line: dotLine)
                } else {
                    expression = .attribute(expression, try identifier(), line: dotLine)
                }
            } else if isOp("[") {
                let itemLine = line
                index += 1
                expression = try parseSubscript(expression, line: itemLine)
            } else if isOp("(") {
                expression = try parseCall(expression)
            } else {
                return expression
            }
        }
    }

    private mutating func parseSubscript(_ base: JinjaExpression, line itemLine: Int) throws -> JinjaExpression {
        var parts: [JinjaExpression?] = [nil]
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                index += 1
                isSlice = true
                parts.append(nil)
                continue
            }
            guard parts[parts.count - 1] == nil else { throw JinjaSyntaxError("expected ']' or ':'", line: line) }
            parts[parts.count - 1] = try parseExpression()
        }
        index += 1
        guard isSlice else {
            guard let key = parts[0] else { throw JinjaSyntaxError("an empty subscript []", line: itemLine) }
            return .item(base, key, line: itemLine)
        }
        guard parts.count <= 3 else { throw JinjaSyntaxError("a slice has at most three parts", line: itemLine) }
        return .slice(base, parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil, line: itemLine)
    }

    private mutating func parseArguments() throws -> ([JinjaExpression], [(String, JinjaExpression)]) {
        try expectOp("(")
        var positional: [JinjaExpression] = []
        var keywords: [(String, JinjaExpression)] = []
        while !isOp(")") {
            if case .name(let name)? = current?.kind, index + 1 < tokens.count, tokens[index + 1].kind == .op("=") {
                index += 2
                keywords.append((name, try parseExpression()))
            } else {
                guard keywords.isEmpty else { throw JinjaSyntaxError("a positional argument after a keyword argument", line: line) }
                positional.append(try parseExpression())
            }
            if !isOp(",") { break }
            index += 1
        }
        try expectOp(")")
        return (positional, keywords)
    }

    private mutating func parseCall(_ callee: JinjaExpression) throws -> JinjaExpression {
        let callLine = line
        switch callee {
        case .name(let name, _) where !JinjaBuiltins.globalNames.contains(name):
            throw JinjaUnsupportedError(construct: "the function \(name)()", line: callLine)
        case .attribute(_, let method, _) where !JinjaBuiltins.methodNames.contains(method):
            throw JinjaUnsupportedError(construct: "the method .\(method)()", line: callLine)
        default: break
        }
        let (positional, keywords) = try parseArguments()
        return .call(callee, positional, keywords, line: callLine)
    }

    private mutating func parseFilters(_ base: JinjaExpression) throws -> JinjaExpression {
        var expression = base
        let saved = depth
        defer { depth = saved }
        while true {
            try enter()
            if isOp("|") {
                let filterLine = line
                index += 1
                let name = try identifier()
                guard JinjaBuiltins.filterNames.contains(name) else {
                    throw JinjaUnsupportedError(construct: "the filter |\(name)", line: filterLine)
                }
                var (positional, keywords): ([JinjaExpression], [(String, JinjaExpression)]) = ([], [])
                if isOp("(") { (positional, keywords) = try parseArguments() }
                expression = .filter(expression, name, positional, keywords, line: filterLine)
            } else if isName("is") {
                let testLine = line
                index += 1
                var negated = false
                if isName("not") {
                    index += 1
                    negated = true
                }
                let name: String
                switch current?.kind {
                case .name(let word)?: name = word
                case .op(let op)? where ["==", "!=", "<", "<=", ">", ">="].contains(op): name = op
                default: throw JinjaSyntaxError("expected a test name after 'is', found \(describe(current))", line: testLine)
                }
                index += 1
                let testName = ["none", "None"].contains(name) ? "none" : ["true", "True"].contains(name) ? "true"
                    : ["false", "False"].contains(name) ? "false" : name
                guard JinjaBuiltins.testNames.contains(testName) else {
                    throw JinjaUnsupportedError(construct: "the test 'is \(name)'", line: testLine)
                }
                var arguments: [JinjaExpression] = []
                if isOp("(") {
                    arguments = try parseArguments().0
                } else if let kind = current?.kind, startsArgument(kind) {
                    arguments = [try parsePostfix(try parsePrimary())]
                }
                expression = .test(expression, testName, arguments, negated: negated, line: testLine)
            } else {
                return expression
            }
        }
    }

    /// Whether a test is followed by its one argument without parentheses (`is divisibleby 3`).
    private func startsArgument(_ kind: JinjaToken.Kind) -> Bool {
        switch kind {
        case .string, .integer, .float, .op("["), .op("{"): return true
        case .name(let name): return !["and", "or", "else", "if", "in", "is", "not"].contains(name)
        default: return false
        }
    }
}
