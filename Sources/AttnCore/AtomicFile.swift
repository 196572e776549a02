import Foundation

/// Writes files so that a reader sees the old content or the new one, never a part.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
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
            try data.write(to: temporary)
        } catch {
            try? fm.removeItem(at: temporary)
            throw CoreError("cannot write the file", location: url.path, hint: "check that the folder is writable and the disk has room")
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: temporary)
            throw CoreError("cannot replace the file (\(reason))", location: url.path)
        }
    }
}
