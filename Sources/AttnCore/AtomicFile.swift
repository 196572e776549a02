import Foundation

/// Writes files so that a reader sees the old content or the new one, never a part.
public enum AtomicFile {
    /// The longest file or folder name, in bytes, that Linux and macOS file systems take.
    public static let maximumNameLength = 255

    /// Writes `data` where a command's `--out` names it: `-` is standard output; anything else as
    /// `write(_:to:)` writes it.
    public static func write(_ data: Data, toOutput path: String) throws {
        guard path != "-" else {
            try writeAll(data, to: STDOUT_FILENO, url: URL(fileURLWithPath: "/dev/stdout"))
            return
        }
        try write(data, to: URL(fileURLWithPath: path))
    }

    /// Writes `data` to `url` as what is there allows: over a regular file, or where nothing is
    /// yet, to a temporary file beside it that is then renamed over it (a reader sees the old
    /// content or the new, never a part); into a FIFO or a character device (`/dev/null`, a
    /// terminal, `/dev/stdout`) directly, which renaming would replace with a plain file; through
    /// a symbolic link to its target, which is replaced while the link stays. A folder, a block
    /// device or a socket is refused. Every failure is one line saying what the system said
    /// (`File name too long`, `No space left on device`).
    public static func write(_ data: Data, to url: URL) throws {
        try write(to: url) { sink in try data.withUnsafeBytes { try sink($0) } }
    }

    /// The same, the bytes handed over in pieces: `body` calls the sink it is given with each piece
    /// in order (a trace file tensor by tensor, never whole in memory). If `body` throws, the
    /// temporary file is removed and `url` is left as it was.
    public static func write(to url: URL, _ body: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let target = try resolvingLinks(url)
        var info = stat()
        if stat(target.path, &info) == 0 {
            switch info.st_mode & S_IFMT {
            case S_IFREG:
                break
            case S_IFIFO, S_IFCHR:
                // A pipe or a device is written as a shell's `>` writes it (a FIFO waits for its reader).
                let descriptor = open(target.path, O_WRONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw failure("cannot write to it", url, errno) }
                defer { close(descriptor) }
                try body { try writeAll($0, to: descriptor, url: url) }
                return
            case S_IFDIR:
                throw CoreError("is a folder, not a file", location: url.path, hint: "give the name of a file to write (inside the folder, for example)")
            default:
                throw CoreError("is \((info.st_mode & S_IFMT) == S_IFBLK ? "a block device" : "a socket"), which AttnLab does not write to",
                                location: url.path, hint: "give the name of a file to write")
            }
        }
        try replace(target, named: url, mode: (info.st_mode & S_IFMT) == S_IFREG ? info.st_mode & 0o7777 : nil, body)
    }

    /// The path a chain of symbolic links at `url` ends at (the link's own path when it is not one);
    /// the target need not exist yet.
    static func resolvingLinks(_ url: URL) throws -> URL {
        var path = url.path
        for _ in 0 ..< 40 {
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return URL(fileURLWithPath: path) }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(path, &buffer, Int(PATH_MAX))
            guard length > 0 else { throw failure("cannot read the symbolic link", url, errno) }
            let destination = String(decoding: buffer[0 ..< length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            path = destination.hasPrefix("/") ? destination
                : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(destination).standardizedFileURL.path
        }
        throw CoreError("the symbolic links loop", location: url.path, hint: "give the path of a file")
    }

    private static func writeAll(_ data: Data, to descriptor: Int32, url: URL) throws {
        try data.withUnsafeBytes { try writeAll($0, to: descriptor, url: url) }
    }

    private static func writeAll(_ buffer: UnsafeRawBufferPointer, to descriptor: Int32, url: URL,
                                 what: String = "cannot write") throws {
        var written = 0
        while written < buffer.count {
            let n = Foundation.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw failure(what, url, errno)
            }
            written += n
        }
    }

    /// The temporary file beside `url`, filled by `body` and renamed over it; `name` is what
    /// messages call it.
    private static func replace(_ url: URL, named name: URL, mode: mode_t?,
                                _ body: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let directory = url.deletingLastPathComponent()
        try createFolder(directory)
        try checkName(url)
        // A short temporary name, so that a name near the limit still has room for it.
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent.prefix(40)).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode == nil ? 0o644 : 0o600)
        guard descriptor >= 0 else { throw failure("cannot write the file", name, errno) }
        // The file keeps the permissions of the one it replaces (a new one gets 0644 less the umask).
        if let mode { _ = fchmod(descriptor, mode) }
        do {
            try body { try writeAll($0, to: descriptor, url: name, what: "cannot write the file") }
        } catch {
            close(descriptor)
            unlink(temporary.path)
            throw error
        }
        if close(descriptor) != 0 {
            let closeCode = errno
            unlink(temporary.path)
            throw failure("cannot write the file", name, closeCode)
        }
        if rename(temporary.path, url.path) != 0 {
            let renameCode = errno
            unlink(temporary.path)
            throw failure("cannot replace the file", name, renameCode)
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
