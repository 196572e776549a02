import AttnCore

/// The error of the snapshot commands (other than git's own, `GitError`): what was wrong, where,
/// and what to do about it.
public struct SnapshotError: ExplainedError, Equatable, Sendable {
    /// What was wrong.
    public var message: String
    /// The file or folder the problem is in, when there is one.
    public var location: String?
    /// What the user can do about it.
    public var hint: String?

    public init(_ message: String, location: String? = nil, hint: String? = nil) {
        self.message = message
        self.location = location
        self.hint = hint
    }
}

extension SnapshotError {
    /// Refuses a snapshot file written by a newer attnlab than this one, which reads up to `reads`.
    static func checkVersion(_ version: Int, reads: Int) throws {
        guard version <= reads else {
            throw SnapshotError("snapshot format version \(version) is newer than this attnlab reads (\(reads))", hint: "update attnlab")
        }
    }
}
