/// Everything wrong with an experiment file, each problem with its line, column and key.
public struct ExperimentError: Error, CustomStringConvertible, Equatable {
    public struct Problem: Sendable, Equatable {
        public var line: Int
        public var column: Int
        /// The key path (`models[0].task`).
        public var key: String
        public var message: String
    }

    public var file: String
    public var problems: [Problem]

    public var description: String {
        if problems.count == 1, let p = problems.first {
            return "\(file):\(p.line):\(p.column): \(p.key.isEmpty ? "" : "\(p.key): ")\(p.message)"
        }
        return "\(file) has \(problems.count) problems:\n" + problems.map {
            "  \(file):\($0.line):\($0.column): \($0.key.isEmpty ? "" : "\($0.key): ")\($0.message)"
        }.joined(separator: "\n")
    }
}

/// An error of a run (loading, executing, writing), with what to do.
public struct RunError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
