import AttnCore

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

    /// One line a problem, control characters in each escaped (`MessageText`).
    public var description: String {
        func line(_ p: Problem) -> String {
            MessageText.escape("\(file):\(p.line):\(p.column): \(p.key.isEmpty ? "" : "\(p.key): ")\(p.message)")
        }
        if problems.count == 1, let p = problems.first { return line(p) }
        return MessageText.escape("\(file) has \(problems.count) problems:") + "\n" + problems.map { "  " + line($0) }.joined(separator: "\n")
    }
}

/// An error of a run (loading, executing, writing), with what to do.
public struct RunError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    /// One line, control characters escaped (`MessageText`).
    public var description: String { MessageText.escape(message) }
}
