/// Renders parsed statements: variables in nested scopes (a loop body's assignments stay inside it,
/// as in Jinja, so templates carry state out of loops with `namespace()`), loops with their `loop`
/// variable, and Python's semantics for every operator.
final class JinjaInterpreter {
    private var scopes: [[String: JinjaValue]]
    private var output = ""

    enum Flow { case normal, breakLoop, continueLoop }

    init(variables: [String: JinjaValue]) {
        scopes = [JinjaBuiltins.globals, variables]
    }

    func render(_ nodes: [JinjaNode]) throws -> String {
        _ = try run(nodes)
        return output
    }

    private func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return .undefined(name)
    }

    private func assign(_ name: String, _ value: JinjaValue) {
        scopes[scopes.count - 1][name] = value
    }

    private func run(_ nodes: [JinjaNode]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .output(let expression):
                output += try evaluate(expression).text
            case .conditional(let branches, let otherwise):
                var taken = false
                for (condition, body) in branches where try evaluate(condition).truthy {
                    taken = true
                    let flow = try run(body)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try run(otherwise)
                    if flow != .normal { return flow }
                }
            case .forLoop(let targets, let iterable, let condition, let body, let otherwise, let line):
                try runLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)
            case .assign(let targets, let valueExpression, let line):
                let value = try evaluate(valueExpression)
                if targets.count == 1 {
                    assign(targets[0], value)
                } else {
                    let items = try unpack(value, count: targets.count, line: line)
                    for (name, item) in zip(targets, items) { assign(name, item) }
                }
            case .assignAttribute(let object, let attribute, let valueExpression, let line):
                guard case .namespace(let namespace) = lookup(object) else {
                    throw JinjaRuntimeError("cannot set \(object).\(attribute): \(object) is not a namespace()", line: line)
                }
                namespace.attributes[attribute] = try evaluate(valueExpression)
            case .assignBlock(let name, let body):
                let saved = output
                output = ""
                _ = try run(body)
                let captured = output
                output = saved
                assign(name, .string(captured))
            case .breakLoop:
                return .breakLoop
            case .continueLoop:
                return .continueLoop
            case .generation(let body):
                let flow = try run(body)
                if flow != .normal { return flow }
            }
        }
        return .normal
    }

    private func unpack(_ value: JinjaValue, count: Int, line: Int) throws -> [JinjaValue] {
        let items = try JinjaBuiltins.iterate(value, line: line)
        guard items.count == count else {
            throw JinjaRuntimeError("cannot unpack \(items.count) values into \(count) names", line: line)
        }
        return items
    }

    private func runLoop(targets: [String], iterable: JinjaExpression, condition: JinjaExpression?,
                         body: [JinjaNode], otherwise: [JinjaNode], line: Int) throws {
        var items = try JinjaBuiltins.iterate(try evaluate(iterable), line: line)
        func bind(_ item: JinjaValue) throws {
            if targets.count == 1 {
                assign(targets[0], item)
            } else {
                for (name, value) in zip(targets, try unpack(item, count: targets.count, line: line)) { assign(name, value) }
            }
        }
        if let condition {
            // The filter sees the item, not `loop`; loop.length then counts the kept items.
            items = try items.filter { item in
                scopes.append([:])
                defer { scopes.removeLast() }
                try bind(item)
                return try evaluate(condition).truthy
            }
        }
        if items.isEmpty {
            _ = try run(otherwise)
            return
        }
        for (position, item) in items.enumerated() {
            var loop = JinjaDictionary()
            loop["index"] = .int(position + 1)
            loop["index0"] = .int(position)
            loop["revindex"] = .int(items.count - position)
            loop["revindex0"] = .int(items.count - position - 1)
            loop["first"] = .bool(position == 0)
            loop["last"] = .bool(position == items.count - 1)
            loop["length"] = .int(items.count)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = position > 0 ? items[position - 1] : .undefined("loop.previtem")
            loop["nextitem"] = position + 1 < items.count ? items[position + 1] : .undefined("loop.nextitem")
            loop["cycle"] = .function(JinjaFunction(name: "loop.cycle") { arguments, _ in
                guard !arguments.isEmpty else { throw JinjaRuntimeError("loop.cycle() needs at least one value", line: line) }
                return arguments[position % arguments.count]
            })
            scopes.append(["loop": .dict(loop)])
            defer { scopes.removeLast() }
            try bind(item)
            if try run(body) == .breakLoop { break }
        }
    }

    // MARK: Expressions

    func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
        switch expression {
        case .literal(let value):
            return value
        case .name(let name, _):
            return lookup(name)
        case .list(let items, let isTuple):
            return .list(try items.map(evaluate), isTuple: isTuple)
        case .dict(let pairs):
            var dictionary = JinjaDictionary()
            for (keyExpression, valueExpression) in pairs {
                guard case .string(let key) = try evaluate(keyExpression) else {
                    throw JinjaRuntimeError("dictionary keys must be strings in AttnLab's template subset")
                }
                dictionary[key] = try evaluate(valueExpression)
            }
            return .dict(dictionary)
        case .attribute(let base, let name, let line):
            return try JinjaBuiltins.attribute(try evaluate(base), name, line: line)
        case .item(let base, let key, let line):
            return try JinjaBuiltins.item(try evaluate(base), try evaluate(key), line: line)
        case .slice(let base, let start, let stop, let step, let line):
            return try JinjaBuiltins.slice(try evaluate(base), try start.map(evaluate), try stop.map(evaluate), try step.map(evaluate), line: line)
        case .call(let callee, let positional, let keywords, let line):
            let function = try evaluate(callee)
            guard case .function(let body) = function else {
                throw JinjaRuntimeError(function.isUndefined ? "\(Self.describe(callee)) is undefined and cannot be called"
                                        : "a \(function.typeName) cannot be called", line: line)
            }
            do {
                return try body.call(try positional.map(evaluate), try keywords.map { ($0.0, try evaluate($0.1)) })
            } catch var error as JinjaRuntimeError {
                error.line = error.line ?? line
                throw error
            }
        case .filter(let base, let name, let positional, let keywords, let line):
            do {
                return try JinjaBuiltins.filter(name, try evaluate(base), try positional.map(evaluate),
                                                try keywords.map { ($0.0, try evaluate($0.1)) }, interpreter: self)
            } catch var error as JinjaRuntimeError {
                error.line = error.line ?? line
                throw error
            }
        case .test(let base, let name, let arguments, let negated, let line):
            do {
                let result = try JinjaBuiltins.test(name, try evaluate(base), try arguments.map(evaluate))
                return .bool(result != negated)
            } catch var error as JinjaRuntimeError {
                error.line = error.line ?? line
                throw error
            }
        case .not(let operand):
            return .bool(!(try evaluate(operand).truthy))
        case .negate(let operand, let line):
            switch try evaluate(operand) {
            case .int(let value): return .int(-value)
            case .float(let value): return .float(-value)
            case .bool(let flag): return .int(flag ? -1 : 0)
            case let value: throw JinjaRuntimeError("cannot negate a \(value.typeName)", line: line)
            }
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.truthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.truthy ? value : try evaluate(right)
        case .binary(let op, let left, let right, let line):
            return try JinjaBuiltins.binary(op, try evaluate(left), try evaluate(right), line: line)
        case .compare(let first, let operations, let line):
            var left = try evaluate(first)
            for (op, rightExpression) in operations {
                let right = try evaluate(rightExpression)
                guard try JinjaBuiltins.compare(op, left, right, line: line) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .ternary(let then, let condition, let otherwise):
            if try evaluate(condition).truthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined("the else branch of a conditional expression")
        }
    }

    /// Runs a filter or test given by name on each item (for `map`, `select`, `selectattr`).
    func applyTest(_ name: String, _ value: JinjaValue, _ arguments: [JinjaValue]) throws -> Bool {
        try JinjaBuiltins.test(name, value, arguments)
    }

    func applyFilter(_ name: String, _ value: JinjaValue, _ arguments: [JinjaValue]) throws -> JinjaValue {
        try JinjaBuiltins.filter(name, value, arguments, [], interpreter: self)
    }

    static func describe(_ expression: JinjaExpression) -> String {
        switch expression {
        case .name(let name, _): return name
        case .attribute(let base, let name, _): return describe(base) + "." + name
        default: return "the value"
        }
    }
}
