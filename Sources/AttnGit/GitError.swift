import AttnCore
import Foundation

/// The error every operation of AttnGit throws: what was wrong, in which repository or folder,
/// libgit2's own explanation when it gave one, and what to do about it.
///
/// `description` is the line the command line prints after `error: ` (with libgit2's reason).
public struct GitError: ExplainedError, Equatable, Sendable {
    /// What kind of failure this is, for callers that react differently to some of them.
    public enum Kind: Equatable, Sendable {
        /// The folder is not inside a git repository.
        case notARepository
        /// The repository has no working tree.
        case bareRepository
        /// A revision (branch, tag, sha, `HEAD~2` …) names no commit.
        case unknownRevision
        /// A merge, rebase, cherry-pick, revert or bisect is in progress.
        case operationInProgress(RepositoryState)
        /// Another git process holds a lock (`index.lock`, a ref lock).
        case locked
        /// A path is absolute, leaves the working tree, or is otherwise unusable.
        case invalidPath
        /// No author or committer name and email could be found.
        case missingIdentity
        /// A file or folder of the working tree could not be written, moved or removed.
        case fileSystem
        /// Any other failure reported by libgit2.
        case libgit2
    }

    public var kind: Kind
    /// What was wrong.
    public var message: String
    /// The repository (or folder) the problem is in.
    public var location: String?
    /// libgit2's explanation (`git_error_last`), when it gave one.
    public var reason: String?
    /// What the user can do about it.
    public var hint: String?

    public init(_ kind: Kind, _ message: String, location: String? = nil,
                reason: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.location = location
        self.reason = reason
        self.hint = hint
    }

    public var description: String {
        var text = location.map { "\($0): " } ?? ""
        text += message
        if let reason { text += " (libgit2: \(reason))" }
        if let hint { text += "; \(hint)" }
        return MessageText.escape(text)
    }
}
