import AttnCore

/// The error AttnModels throws: what was wrong, in which file or tensor, and what to do.
public struct ModelError: ExplainedError, Equatable {
    public var location: String?
    public var message: String
    public var hint: String?

    public init(_ message: String, location: String? = nil, hint: String? = nil) {
        self.message = message
        self.location = location
        self.hint = hint
    }
}
