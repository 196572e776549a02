import Foundation

/// Writes files so that a reader sees the old content or the new one, never a part.
public enum AtomicFile {
    /// The longest file or folder name, in bytes, that Linux and macOS file systems take.
    public static let maximumNameLength = 255

    /// Writes `data` to a temporary file beside `url`, then renames it over `url`. Every failure
    /// is one line saying what the system said (`File name too long`, `No space left on device`).
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        try createFolder(directory)
        try checkName(url)
        // A short temporary name, so that a name near the limit still has room for it.
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent.prefix(40)).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw failure("cannot write the file", url, errno) }
        var written = 0
        let code: Int32 = data.withUnsafeBytes { buffer in
            while written < buffer.count {
                let n = Foundation.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return 0
        }
        if close(descriptor) != 0, code == 0 {
            let closeCode = errno
            unlink(temporary.path)
            throw failure("cannot write the file", url, closeCode)
        }
        guard code == 0 else {
            unlink(temporary.path)
            throw failure("cannot write the file", url, code)
        }
        if rename(temporary.path, url.path) != 0 {
            let renameCode = errno
            unlink(temporary.path)
            throw failure("cannot replace the file", url, renameCode)
        }
    }

    /// Creates `folder` and the folders above it when missing.
    public static func createFolder(_ folder: URL) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue { return }
        try checkName(folder)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw CoreError("cannot create the folder (\(MessageText.describe(error)))", location: folder.path,
                            hint: "check that the path is writable and that no file stands in the place of a folder")
        }
    }

    /// Refuses a path with a part longer than the file system takes, with a message that says so.
    static func checkName(_ url: URL) throws {
        for part in url.pathComponents where part.utf8.count > maximumNameLength {
            throw CoreError("the name \"\(part.prefix(24))…\" is \(part.utf8.count) bytes long, more than the \(maximumNameLength) a file system takes",
                            location: url.path.count > 120 ? "…" + url.path.suffix(100) : url.path, hint: "use a shorter name")
        }
    }

    private static func failure(_ what: String, _ url: URL, _ code: Int32) -> CoreError {
        CoreError("\(what) (\(String(cString: strerror(code))))", location: url.path, hint: MessageText.hint(forErrno: code))
    }
}
