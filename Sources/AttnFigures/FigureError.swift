import AttnCore

/// The error every figure operation throws: what was wrong, where, and what to do about it.
public struct FigureError: ExplainedError, Equatable, Sendable {
    /// What was wrong.
    public var message: String
    /// The file, tensor or option the problem is in, when there is one.
    public var location: String?
    /// What the user can do about it.
    public var hint: String?

    public init(_ message: String, location: String? = nil, hint: String? = nil) {
        self.message = message
        self.location = location
        self.hint = hint
    }
}
