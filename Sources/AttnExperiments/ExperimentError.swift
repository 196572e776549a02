import AttnCore

/// The error of AttnExperiments: an experiment file with problems, each with its line, column and
/// key, or a run that failed (loading a model, tracing, writing the run), with the error that made
/// it fail.
public struct ExperimentError: ExplainedError {
    /// One problem of an experiment file.
    public struct Problem: Sendable, Equatable {
        public var line: Int
        public var column: Int
        /// The key path (`models[0].task`).
        public var key: String
        public var message: String

        var text: String { "\(line):\(column): \(key.isEmpty ? "" : "\(key): ")\(message)" }
    }

    public var message: String
    public var location: String?
    public var hint: String?
    /// Every problem of an experiment file, in file order (empty for the errors of a run).
    public var problems: [Problem]
    /// The error that made a run fail, kept as it was for callers that react to it.
    public var cause: (any Error)?

    public init(_ message: String, location: String? = nil, hint: String? = nil, cause: (any Error)? = nil) {
        self.message = message
        self.location = location
        self.hint = hint
        self.problems = []
        self.cause = cause
    }

    /// The problems of the experiment file `file`.
    public init(file: String, problems: [Problem]) {
        self.init(problems.count == 1 ? problems[0].text : "has \(problems.count) problems", location: file)
        self.problems = problems
    }

    /// One problem: `file:line:column: key: message`; several: a line for each; a run's failure
    /// ends with its cause (`model minilm (…): cannot load …: <the cause>`). Control characters in
    /// each line are escaped (`MessageText`), and a cause from Foundation is its one-line reason.
    public var description: String {
        if problems.count == 1, let location { return MessageText.escape("\(location):\(message)") }
        if let location, problems.count > 1 {
            return MessageText.escape("\(location) has \(problems.count) problems:") + "\n"
                + problems.map { "  " + MessageText.escape("\(location):\($0.text)") }.joined(separator: "\n")
        }
        var text = location.map { "\($0): " } ?? ""
        text += message
        if let cause { text += ": \(MessageText.describe(cause))" }
        if let hint { text += "; \(hint)" }
        return MessageText.escape(text)
    }
}
