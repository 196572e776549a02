import Foundation

/// A name that becomes one file or folder name: an experiment, a model, an input, a variant,
/// wherever it comes from (an experiment file, a CSV of inputs, a model id, a run's manifest.json).
/// Every such name is checked here, so none can leave the folder it is meant for (`..`, `a/b`, an
/// absolute path), hide (`.x`), carry a NUL or a control character, or be too long for the file
/// system once a suffix such as `-compare.html` is added.
public struct PathComponent: Hashable, Sendable, CustomStringConvertible {
    /// Bytes of UTF-8 a name may have: the file system takes 255, and a name gets suffixes
    /// (`-neuron.html`, `.partial-12345`) and temporary prefixes.
    public static let maximumLength = 128

    public let name: String

    /// Checks `name`; `what` says what it names in the error ("experiment name", "input id").
    public init(_ name: String, what: String) throws {
        if let problem = Self.problem(with: name) {
            throw CoreError("the \(what) \(JSONText.quote(name)) cannot name a file or folder: \(problem)",
                            hint: "use letters, digits, '-', '_', '.' and '+', not starting with '.'")
        }
        self.name = name
    }

    public var description: String { name }

    /// What is wrong with `name` as a file or folder name, or nil when it is fine.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name.utf8.count > maximumLength { return "it is \(name.utf8.count) bytes long, more than \(maximumLength)" }
        if name.unicodeScalars.contains("\0") { return "it holds a NUL character" }
        if name.contains("/") || name.contains("\\") { return "it holds a '/' or '\\\\', so it would name a path" }
        if name == "." || name == ".." { return "it names the folder itself or the one above" }
        if name.hasPrefix(".") { return "it starts with '.', which hides it (and names the run's temporary files)" }
        if let bad = name.unicodeScalars.first(where: { !isAllowed($0) }) {
            return "it holds \(MessageText.needsEscape(bad) ? "a control character" : "'\(Character(bad))'")"
        }
        return nil
    }

    /// Letters and digits of any script, '-', '_', '.' and '+' (an intervened variant is `base+ablate`).
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "-" || scalar == "_" || scalar == "." || scalar == "+" || CharacterSet.alphanumerics.contains(scalar)
    }

    /// The relative path `a/b/c` made of checked names; `what` names each part in errors.
    public static func path(_ parts: [(String, what: String)]) throws -> String {
        try parts.map { try PathComponent($0.0, what: $0.what).name }.joined(separator: "/")
    }
}
