import Foundation

/// Writes files so that a reader sees the old content or the new one, never a part.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { try $0.write(contentsOf: data) }
    }

    /// Lets `body` write a temporary file beside `url` through a handle, then renames it over `url`;
    /// if `body` throws, the temporary file is removed and `url` is left as it was.
    public static func write(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        let fm = FileManager.default
        if !fm.fileExists(atPath: directory.path) {
            do {
                try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw CoreError("cannot create the folder", location: directory.path,
                                hint: "check that the path is writable")
            }
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        do {
            guard fm.createFile(atPath: temporary.path, contents: nil) else {
                throw CoreError("cannot create the file", location: url.path, hint: "check that the folder is writable")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try body(handle)
        } catch {
            try? fm.removeItem(at: temporary)
            if error is ExplainedError { throw error }
            throw CoreError("cannot write the file", location: url.path, hint: "check that the folder is writable and the disk has room")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: temporary)
            throw CoreError("cannot replace the file (\(reason))", location: url.path)
        }
    }
}
