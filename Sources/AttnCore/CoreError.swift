/// An error a person can act on: what was wrong, where, and what to do. Every module has its own
/// error type conforming to it; `description` is the line the command line prints after `error: `.
public protocol ExplainedError: Error, CustomStringConvertible {
    /// The file, tensor or option the problem is in, when there is one.
    var location: String? { get }
    /// What was wrong.
    var message: String { get }
    /// What the user can do about it.
    var hint: String? { get }
}

extension ExplainedError {
    /// One line: control characters in names quoted from files are escaped (`MessageText`), so
    /// that a file cannot forge another line or colour the terminal.
    public var description: String {
        var text = location.map { "\($0): " } ?? ""
        text += message
        if let hint { text += "; \(hint)" }
        return MessageText.escape(text)
    }
}

/// The error every AttnCore operation throws.
public struct CoreError: ExplainedError, Equatable {
    public var location: String?
    public var message: String
    public var hint: String?

    public init(_ message: String, location: String? = nil, hint: String? = nil) {
        self.message = message
        self.location = location
        self.hint = hint
    }
}
