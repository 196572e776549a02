import Foundation

/// The functions, filters, tests and methods of the template subset, with Python's semantics for
/// operators, attributes and items. The parser refuses any name not listed here.
enum JinjaBuiltins {
    static let globalNames: Set<String> = ["range", "namespace", "raise_exception", "strftime_now", "dict"]
    static let filterNames: Set<String> = [
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "indent", "int", "items",
        "join", "last", "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
        "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]
    static let testNames: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "even", "false", "float", "ge", ">=", "gt",
        "greaterthan", ">", "in", "integer", "iterable", "le", "<=", "lower", "lt", "lessthan", "<", "mapping", "ne", "!=",
        "none", "number", "odd", "sameas", "sequence", "string", "true", "undefined", "upper",
    ]
    static let methodNames: Set<String> = [
        "strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "startswith", "endswith", "split", "replace",
        "join", "count", "find", "items", "keys", "values", "get", "cycle",
    ]

    static let globals: [String: JinjaValue] = [
        "range": .function(JinjaFunction(name: "range") { arguments, _ in
            let numbers = try arguments.map { value -> Int in
                guard case .int(let number) = value else { throw JinjaRuntimeError("range() takes integers, not \(value.typeName)") }
                return number
            }
            let (start, stop, step): (Int, Int, Int)
            switch numbers.count {
            case 1: (start, stop, step) = (0, numbers[0], 1)
            case 2: (start, stop, step) = (numbers[0], numbers[1], 1)
            case 3: (start, stop, step) = (numbers[0], numbers[1], numbers[2])
            default: throw JinjaRuntimeError("range() takes 1 to 3 arguments")
            }
            guard step != 0 else { throw JinjaRuntimeError("range() step must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= 100_000 else { throw JinjaRuntimeError("range() of \(count) numbers is more than a chat template needs") }
            return .list((0..<count).map { .int(start + $0 * step) })
        }),
        "namespace": .function(JinjaFunction(name: "namespace") { arguments, keywords in
            var attributes = JinjaDictionary()
            for argument in arguments {
                guard case .dict(let dictionary) = argument else { throw JinjaRuntimeError("namespace() takes a dict or keywords") }
                for key in dictionary.keys { attributes[key] = dictionary[key] }
            }
            for (key, value) in keywords { attributes[key] = value }
            return .namespace(JinjaNamespace(attributes))
        }),
        "dict": .function(JinjaFunction(name: "dict") { _, keywords in
            var dictionary = JinjaDictionary()
            for (key, value) in keywords { dictionary[key] = value }
            return .dict(dictionary)
        }),
        "raise_exception": .function(JinjaFunction(name: "raise_exception") { arguments, _ in
            throw JinjaRuntimeError(arguments.first?.text ?? "raise_exception() was called", raisedByTemplate: true)
        }),
        "strftime_now": .function(JinjaFunction(name: "strftime_now") { arguments, _ in
            guard case .string(let format)? = arguments.first else { throw JinjaRuntimeError("strftime_now() takes a format string") }
            var now = time(nil)
            var parts = tm()
            localtime_r(&now, &parts)
            var buffer = [Int8](repeating: 0, count: 256)
            let length = strftime(&buffer, buffer.count, format, &parts)
            return .string(String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }),
    ]

    // MARK: Iteration, attributes, items

    /// What `for` iterates: a list's items, a string's characters, a dict's keys; nothing for undefined.
    static func iterate(_ value: JinjaValue, line: Int? = nil) throws -> [JinjaValue] {
        switch value {
        case .list(let items, _): return items
        case .dict(let dictionary): return dictionary.keys.map(JinjaValue.string)
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw JinjaRuntimeError("a \(value.typeName) cannot be iterated", line: line)
        }
    }

    /// `value.name`: a dict's key (or method), a string's method, a namespace's attribute.
    static func attribute(_ value: JinjaValue, _ name: String, line: Int) throws -> JinjaValue {
        switch value {
        case .undefined(let what):
            throw JinjaRuntimeError("\(what) is undefined, so it has no attribute \(name)", line: line)
        case .dict(let dictionary):
            if ["items", "keys", "values", "get"].contains(name) { return method(value, name) }
            return dictionary[name] ?? .undefined("\(name)")
        case .namespace(let namespace):
            return namespace.attributes[name] ?? .undefined(name)
        case .string:
            return methodNames.contains(name) && !["items", "keys", "values", "get", "cycle"].contains(name)
                ? method(value, name) : .undefined(name)
        default:
            return .undefined(name)
        }
    }

    /// `value[key]`: a list's item (negative from the end), a dict's key, a string's character.
    static func item(_ value: JinjaValue, _ key: JinjaValue, line: Int) throws -> JinjaValue {
        switch (value, key) {
        case (.undefined(let what), _):
            throw JinjaRuntimeError("\(what) is undefined, so it has no item \(key.repr)", line: line)
        case (.list(let items, _), .int(let position)):
            let index = position < 0 ? items.count + position : position
            return items.indices.contains(index) ? items[index] : .undefined("item \(position)")
        case (.string(let text), .int(let position)):
            let scalars = Array(text.unicodeScalars)
            let index = position < 0 ? scalars.count + position : position
            return scalars.indices.contains(index) ? .string(String(scalars[index])) : .undefined("item \(position)")
        case (.dict(let dictionary), .string(let name)):
            return dictionary[name] ?? .undefined(name)
        case (.namespace(let namespace), .string(let name)):
            return namespace.attributes[name] ?? .undefined(name)
        case (_, .string(let name)):
            return try attribute(value, name, line: line)
        default:
            return .undefined("item \(key.repr)")
        }
    }

    /// Python's slicing `value[start:stop:step]` of a list or string.
    static func slice(_ value: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?, line: Int) throws -> JinjaValue {
        func integer(_ bound: JinjaValue?) throws -> Int? {
            switch bound {
            case nil, .none?: return nil
            case .int(let number)?: return number
            default: throw JinjaRuntimeError("slice bounds must be integers", line: line)
            }
        }
        let stride = try integer(step) ?? 1
        guard stride != 0 else { throw JinjaRuntimeError("slice step cannot be zero", line: line) }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ bound: Int?, _ defaultValue: Int) -> Int {
                guard var bound else { return defaultValue }
                if bound < 0 { bound += count }
                return stride > 0 ? min(max(bound, 0), count) : min(max(bound, -1), count - 1)
            }
            let first = clamp(try integer(start), stride > 0 ? 0 : count - 1)
            let last = clamp(try integer(stop), stride > 0 ? count : -1)
            var result: [Int] = []
            var index = first
            while stride > 0 ? index < last : index > last {
                result.append(index)
                index += stride
            }
            return result
        }
        switch value {
        case .list(let items, let isTuple): return .list(try indices(items.count).map { items[$0] }, isTuple: isTuple)
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            return .string(String(String.UnicodeScalarView(try indices(scalars.count).map { scalars[$0] })))
        case .undefined(let what): throw JinjaRuntimeError("\(what) is undefined and cannot be sliced", line: line)
        default: throw JinjaRuntimeError("a \(value.typeName) cannot be sliced", line: line)
        }
    }

    // MARK: Operators

    static func binary(_ op: String, _ left: JinjaValue, _ right: JinjaValue, line: Int) throws -> JinjaValue {
        if op == "~" { return .string(left.text + right.text) }
        for operand in [left, right] {
            if case .undefined(let what) = operand {
                throw JinjaRuntimeError("\(what) is undefined and cannot be used with '\(op)'", line: line)
            }
        }
        switch (op, left, right) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a, let tuple), .list(let b, _)): return .list(a + b, isTuple: tuple)
        case ("*", .string(let a), .int(let n)), ("*", .int(let n), .string(let a)): return .string(String(repeating: a, count: max(0, n)))
        case ("*", .list(let a, let tuple), .int(let n)): return .list(Array(repeatElement(a, count: max(0, n)).joined()), isTuple: tuple)
        default: break
        }
        if case .int(let a) = promoteBool(left), case .int(let b) = promoteBool(right) {
            switch op {
            case "+": return .int(a &+ b)
            case "-": return .int(a &- b)
            case "*": return .int(a &* b)
            case "/":
                guard b != 0 else { throw JinjaRuntimeError("division by zero", line: line) }
                return .float(Double(a) / Double(b))
            case "//":
                guard b != 0 else { throw JinjaRuntimeError("division by zero", line: line) }
                return .int(Int((Double(a) / Double(b)).rounded(.down)))
            case "%":
                guard b != 0 else { throw JinjaRuntimeError("modulo by zero", line: line) }
                let remainder = a % b
                return .int(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
            case "**":
                if b >= 0 {
                    var result = 1
                    for _ in 0..<min(b, 64) { result = result &* a }
                    return .int(result)
                }
                return .float(pow(Double(a), Double(b)))
            default: break
            }
        }
        if let a = left.number, let b = right.number {
            switch op {
            case "+": return .float(a + b)
            case "-": return .float(a - b)
            case "*": return .float(a * b)
            case "/":
                guard b != 0 else { throw JinjaRuntimeError("division by zero", line: line) }
                return .float(a / b)
            case "//":
                guard b != 0 else { throw JinjaRuntimeError("division by zero", line: line) }
                return .float((a / b).rounded(.down))
            case "%":
                guard b != 0 else { throw JinjaRuntimeError("modulo by zero", line: line) }
                let remainder = fmod(a, b)
                return .float(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
            case "**": return .float(pow(a, b))
            default: break
            }
        }
        throw JinjaRuntimeError("cannot apply '\(op)' to a \(left.typeName) and a \(right.typeName)", line: line)
    }

    private static func promoteBool(_ value: JinjaValue) -> JinjaValue {
        if case .bool(let flag) = value { return .int(flag ? 1 : 0) }
        return value
    }

    static func compare(_ op: String, _ left: JinjaValue, _ right: JinjaValue, line: Int) throws -> Bool {
        switch op {
        case "==": return JinjaValue.equal(left, right)
        case "!=": return !JinjaValue.equal(left, right)
        case "in", "not in":
            let contained: Bool
            switch right {
            case .string(let text):
                guard case .string(let part) = left else { throw JinjaRuntimeError("'in <string>' needs a string on the left", line: line) }
                contained = part.isEmpty || text.contains(part)
            case .list(let items, _): contained = items.contains { JinjaValue.equal($0, left) }
            case .dict(let dictionary):
                if case .string(let key) = left { contained = dictionary[key] != nil } else { contained = false }
            case .undefined: contained = false
            default: throw JinjaRuntimeError("'in' needs a string, list or dict on the right, not a \(right.typeName)", line: line)
            }
            return op == "in" ? contained : !contained
        default:
            let order: Int
            if let a = left.number, let b = right.number {
                order = a < b ? -1 : a > b ? 1 : 0
            } else if case .string(let a) = left, case .string(let b) = right {
                let x = Array(a.unicodeScalars).map(\.value), y = Array(b.unicodeScalars).map(\.value)
                order = x.lexicographicallyPrecedes(y) ? -1 : x == y ? 0 : 1
            } else {
                throw JinjaRuntimeError("cannot compare a \(left.typeName) with a \(right.typeName) using '\(op)'", line: line)
            }
            switch op {
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }

    // MARK: Tests

    static func test(_ name: String, _ value: JinjaValue, _ arguments: [JinjaValue]) throws -> Bool {
        func argument() throws -> JinjaValue {
            guard let first = arguments.first else { throw JinjaRuntimeError("the test '\(name)' needs an argument") }
            return first
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .float = value { return true } else { return false }
        case "number": switch value { case .int, .float, .bool: return true; default: return false }
        case "string": if case .string = value { return true } else { return false }
        case "mapping": switch value { case .dict: return true; default: return false }
        case "iterable": switch value { case .list, .dict, .string: return true; default: return false }
        case "sequence": switch value { case .list, .dict, .string: return true; default: return false }
        case "callable": if case .function = value { return true } else { return false }
        case "lower": if case .string(let text) = value { return text == text.lowercased() } else { return false }
        case "upper": if case .string(let text) = value { return text == text.uppercased() } else { return false }
        case "odd", "even", "divisibleby":
            guard case .int(let number) = value else { throw JinjaRuntimeError("the test '\(name)' needs an integer, not a \(value.typeName)") }
            if name == "odd" { return number % 2 != 0 }
            if name == "even" { return number % 2 == 0 }
            guard case .int(let divisor) = try argument(), divisor != 0 else { throw JinjaRuntimeError("divisibleby needs a non-zero integer") }
            return number % divisor == 0
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "eq", "equalto", "==": return JinjaValue.equal(value, try argument())
        case "ne", "!=": return !JinjaValue.equal(value, try argument())
        case "lt", "lessthan", "<": return try compare("<", value, try argument(), line: 0)
        case "le", "<=": return try compare("<=", value, try argument(), line: 0)
        case "gt", "greaterthan", ">": return try compare(">", value, try argument(), line: 0)
        case "ge", ">=": return try compare(">=", value, try argument(), line: 0)
        case "in": return try compare("in", value, try argument(), line: 0)
        default: throw JinjaRuntimeError("the test '\(name)' is not in AttnLab's template subset")
        }
    }

    // MARK: Filters

    static func filter(_ name: String, _ value: JinjaValue, _ positional: [JinjaValue], _ keywords: [(String, JinjaValue)],
                       interpreter: JinjaInterpreter) throws -> JinjaValue {
        func argument(_ position: Int, _ keyword: String) -> JinjaValue? {
            keywords.first { $0.0 == keyword }?.1 ?? (position < positional.count ? positional[position] : nil)
        }
        func string() throws -> String {
            if case .undefined(let what) = value { throw JinjaRuntimeError("\(what) is undefined, so |\(name) cannot apply") }
            return value.text
        }
        switch name {
        case "default", "d":
            let fallback = argument(0, "default_value") ?? .string("")
            let boolean = argument(1, "boolean")?.truthy ?? false
            return value.isUndefined || (boolean && !value.truthy) ? fallback : value
        case "trim":
            if let characters = argument(0, "chars"), case .string(let set) = characters {
                return .string(strip(try string(), characters: Set(set.unicodeScalars), left: true, right: true))
            }
            return .string(strip(try string(), characters: nil, left: true, right: true))
        case "upper": return .string(try string().uppercased())
        case "lower": return .string(try string().lowercased())
        case "title": return .string(titleCase(try string()))
        case "capitalize":
            let text = try string()
            return .string(text.prefix(1).uppercased() + text.dropFirst().lowercased())
        case "string": return .string(value.text)
        case "safe", "e", "escape":
            if name == "safe" { return value }
            return .string(try string().replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;")
                .replacingOccurrences(of: "'", with: "&#39;"))
        case "length", "count":
            switch value {
            case .string(let text): return .int(text.unicodeScalars.count)
            case .list(let items, _): return .int(items.count)
            case .dict(let dictionary): return .int(dictionary.count)
            case .undefined: return .int(0)
            default: throw JinjaRuntimeError("a \(value.typeName) has no length")
            }
        case "wordcount": return .int(try string().split(whereSeparator: { $0.isWhitespace }).count)
        case "first", "last":
            let items = try iterate(value)
            return (name == "first" ? items.first : items.last) ?? .undefined("the \(name) item of an empty sequence")
        case "list": return .list(try iterate(value))
        case "reverse":
            if case .string(let text) = value { return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed()))) }
            return .list(try iterate(value).reversed())
        case "join":
            let separator = argument(0, "d")?.text ?? ""
            var items = try iterate(value)
            if let attribute = argument(1, "attribute") {
                items = try items.map { try item($0, attribute, line: 0) }
            }
            return .string(items.map(\.text).joined(separator: separator))
        case "tojson":
            var indent: Int?
            if let value = argument(0, "indent") {
                guard case .int(let spaces) = value else { throw JinjaRuntimeError("tojson's indent must be an integer") }
                indent = spaces
            }
            return .string(try value.json(indent: indent))
        case "int":
            switch value {
            case .int: return value
            case .float(let number): return .int(Int(number.rounded(.towardZero)))
            case .bool(let flag): return .int(flag ? 1 : 0)
            case .string(let text): return .int(Int(text.trimmingCharacters(in: .whitespaces)) ?? (argument(0, "default").flatMap { if case .int(let d) = $0 { d } else { nil } } ?? 0))
            default: return argument(0, "default") ?? .int(0)
            }
        case "float":
            if let number = value.number { return .float(number) }
            if case .string(let text) = value, let number = Double(text.trimmingCharacters(in: .whitespaces)) { return .float(number) }
            return argument(0, "default") ?? .float(0)
        case "abs":
            switch value {
            case .int(let number): return .int(abs(number))
            case .float(let number): return .float(abs(number))
            default: throw JinjaRuntimeError("abs needs a number, not a \(value.typeName)")
            }
        case "round":
            guard let number = value.number else { throw JinjaRuntimeError("round needs a number") }
            var digits = 0
            if case .int(let precision)? = argument(0, "precision") { digits = precision }
            let scale = pow(10, Double(digits))
            return .float((number * scale).rounded(.toNearestOrEven) / scale)
        case "replace":
            guard case .string(let old)? = argument(0, "old"), case .string(let new)? = argument(1, "new") else {
                throw JinjaRuntimeError("replace needs two strings")
            }
            return .string(try string().replacingOccurrences(of: old, with: new))
        case "indent":
            var width = 4
            if case .int(let spaces)? = argument(0, "width") { width = spaces }
            if case .string(let text)? = argument(0, "width") { return .string(indent(try string(), with: text, first: argument(1, "first")?.truthy ?? false, blank: argument(2, "blank")?.truthy ?? false)) }
            return .string(indent(try string(), with: String(repeating: " ", count: width), first: argument(1, "first")?.truthy ?? false,
                                  blank: argument(2, "blank")?.truthy ?? false))
        case "items":
            guard case .dict(let dictionary) = value else {
                if value.isUndefined { return .list([]) }
                throw JinjaRuntimeError("items needs a dict, not a \(value.typeName)")
            }
            return .list(dictionary.keys.map { .list([.string($0), dictionary[$0]!], isTuple: true) })
        case "dictsort":
            guard case .dict(let dictionary) = value else { throw JinjaRuntimeError("dictsort needs a dict") }
            return .list(dictionary.keys.sorted { $0.lowercased() < $1.lowercased() }.map { .list([.string($0), dictionary[$0]!], isTuple: true) })
        case "unique":
            var seen: [JinjaValue] = []
            for element in try iterate(value) where !seen.contains(where: { JinjaValue.equal($0, element) }) { seen.append(element) }
            return .list(seen)
        case "sort":
            let reverse = argument(0, "reverse")?.truthy ?? false
            let attribute = argument(2, "attribute")
            var failure: Error?
            let sorted = try iterate(value).sorted { a, b in
                do {
                    let x = try attribute.map { try item(a, $0, line: 0) } ?? a, y = try attribute.map { try item(b, $0, line: 0) } ?? b
                    return try compare(reverse ? ">" : "<", x, y, line: 0)
                } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
            return .list(sorted)
        case "sum":
            var total: JinjaValue = .int(0)
            for element in try iterate(value) { total = try binary("+", total, element, line: 0) }
            return total
        case "min", "max":
            let items = try iterate(value)
            guard var best = items.first else { return .undefined("the \(name) of an empty sequence") }
            for element in items.dropFirst() where try compare(name == "min" ? "<" : ">", element, best, line: 0) { best = element }
            return best
        case "map":
            let items = try iterate(value)
            if let attribute = keywords.first(where: { $0.0 == "attribute" })?.1 {
                return .list(try items.map { try item($0, attribute, line: 0) })
            }
            guard case .string(let filterName)? = positional.first else { throw JinjaRuntimeError("map needs a filter name or attribute=") }
            guard filterNames.contains(filterName) else { throw JinjaRuntimeError("map names the filter |\(filterName), which AttnLab's template subset does not have") }
            return .list(try items.map { try interpreter.applyFilter(filterName, $0, Array(positional.dropFirst())) })
        case "select", "reject":
            let items = try iterate(value)
            let wanted = name == "select"
            guard case .string(let testName)? = positional.first else { return .list(items.filter { $0.truthy == wanted }) }
            guard testNames.contains(testName) else { throw JinjaRuntimeError("\(name) names the test '\(testName)', which AttnLab's template subset does not have") }
            return .list(try items.filter { try interpreter.applyTest(testName, $0, Array(positional.dropFirst())) == wanted })
        case "selectattr", "rejectattr":
            let items = try iterate(value)
            let wanted = name == "selectattr"
            guard let attribute = positional.first else { throw JinjaRuntimeError("\(name) needs an attribute name") }
            return .list(try items.filter { element in
                let field = try item(element, attribute, line: 0)
                guard positional.count > 1, case .string(let testName) = positional[1] else { return field.truthy == wanted }
                guard testNames.contains(testName) else { throw JinjaRuntimeError("\(name) names the test '\(testName)', which AttnLab's template subset does not have") }
                return try interpreter.applyTest(testName, field, Array(positional.dropFirst(2))) == wanted
            })
        default:
            throw JinjaRuntimeError("the filter |\(name) is not in AttnLab's template subset")
        }
    }

    // MARK: Methods

    /// A bound method of a string or dict.
    static func method(_ value: JinjaValue, _ name: String) -> JinjaValue {
        .function(JinjaFunction(name: name) { arguments, _ in
            func stringArgument(_ position: Int) -> String? {
                if position < arguments.count, case .string(let text) = arguments[position] { return text }
                return nil
            }
            switch value {
            case .dict(let dictionary):
                switch name {
                case "items": return .list(dictionary.keys.map { .list([.string($0), dictionary[$0]!], isTuple: true) })
                case "keys": return .list(dictionary.keys.map(JinjaValue.string))
                case "values": return .list(dictionary.keys.map { dictionary[$0]! })
                default:
                    guard let key = stringArgument(0) else { throw JinjaRuntimeError("get() needs a key") }
                    return dictionary[key] ?? (arguments.count > 1 ? arguments[1] : .none)
                }
            case .string(let text):
                switch name {
                case "strip", "lstrip", "rstrip":
                    let characters = stringArgument(0).map { Set($0.unicodeScalars) }
                    return .string(strip(text, characters: characters, left: name != "rstrip", right: name != "lstrip"))
                case "upper": return .string(text.uppercased())
                case "lower": return .string(text.lowercased())
                case "title": return .string(titleCase(text))
                case "capitalize": return .string(text.prefix(1).uppercased() + text.dropFirst().lowercased())
                case "startswith", "endswith":
                    let candidates: [String]
                    if case .list(let items, _)? = arguments.first { candidates = items.map(\.text) } else { candidates = stringArgument(0).map { [$0] } ?? [] }
                    return .bool(candidates.contains { name == "startswith" ? text.unicodeScalars.starts(with: $0.unicodeScalars)
                        : text.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) })
                case "split":
                    if let separator = stringArgument(0), !separator.isEmpty {
                        return .list(text.components(separatedBy: separator).map(JinjaValue.string))
                    }
                    return .list(text.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
                case "replace":
                    guard let old = stringArgument(0), let new = stringArgument(1) else { throw JinjaRuntimeError("replace() needs two strings") }
                    return .string(text.replacingOccurrences(of: old, with: new))
                case "join":
                    guard let first = arguments.first else { throw JinjaRuntimeError("join() needs a list") }
                    return .string(try iterate(first).map(\.text).joined(separator: text))
                case "count":
                    guard let part = stringArgument(0), !part.isEmpty else { throw JinjaRuntimeError("count() needs a string") }
                    return .int(text.components(separatedBy: part).count - 1)
                case "find":
                    guard let part = stringArgument(0) else { throw JinjaRuntimeError("find() needs a string") }
                    guard let range = text.range(of: part) else { return .int(-1) }
                    return .int(text.distance(from: text.startIndex, to: range.lowerBound))
                default: throw JinjaRuntimeError("a string has no method \(name)()")
                }
            default:
                throw JinjaRuntimeError("a \(value.typeName) has no method \(name)()")
            }
        })
    }

    // MARK: Text helpers, as Python's

    static func strip(_ text: String, characters: Set<Unicode.Scalar>?, left: Bool, right: Bool) -> String {
        var scalars = Array(text.unicodeScalars)[...]
        func strippable(_ scalar: Unicode.Scalar) -> Bool { characters?.contains(scalar) ?? JinjaLexer.isWhitespace(scalar) }
        if left { while let first = scalars.first, strippable(first) { scalars = scalars.dropFirst() } }
        if right { while let last = scalars.last, strippable(last) { scalars = scalars.dropLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    /// Jinja's `title`: each word's first letter upper-cased, the rest lower-cased.
    static func titleCase(_ text: String) -> String {
        var out = ""
        var startOfWord = true
        for character in text {
            if character.isLetter {
                out += startOfWord ? character.uppercased() : character.lowercased()
                startOfWord = false
            } else {
                out.append(character)
                startOfWord = !(character.isNumber || character == "'")
            }
        }
        return out
    }

    static func indent(_ text: String, with prefix: String, first: Bool, blank: Bool) -> String {
        let lines = text.components(separatedBy: "\n")
        return lines.enumerated().map { index, line in
            if index == 0 && !first { return line }
            if line.isEmpty && !blank { return line }
            return prefix + line
        }.joined(separator: "\n")
    }
}
