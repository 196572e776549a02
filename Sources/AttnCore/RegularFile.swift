import Foundation

/// Opening a file a user or another file names, for reading. Only a regular file is opened: a FIFO,
/// a device, a socket or a folder is refused at once, where a plain `open` would block forever (a
/// FIFO with no writer) or read without end (`/dev/zero`). Every reader of weights, tokenizers,
/// configurations, experiments, traces, arrays and snapshots opens its files through here.
public enum RegularFile {
    /// Opens `path` for reading and checks that it is a regular file; the caller closes the
    /// descriptor. The open does not block, whatever the path names.
    public static func open(_ path: String) throws -> (descriptor: Int32, size: Int) {
        let descriptor = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw CoreError("cannot open the file (\(String(cString: strerror(code))))", location: path,
                            hint: code == ENOENT ? "check the path" : MessageText.hint(forErrno: code))
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            close(descriptor)
            throw CoreError("cannot read the file's size", location: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw CoreError("is \(kind(info.st_mode)), not a regular file", location: path,
                            hint: "give the path of a file")
        }
        // Back to blocking reads (a regular file never blocks, but reads must not stop short).
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return (descriptor, Int(info.st_size))
    }

    /// Checks that `path` is a regular file that can be opened, for a library that opens it by path
    /// itself (the zip reader).
    public static func check(_ path: String) throws {
        let (descriptor, _) = try open(path)
        close(descriptor)
    }

    /// The whole file. A file larger than `limit` bytes is refused before anything is read.
    public static func read(_ path: String, limit: Int = Int.max, what: String = "file") throws -> Data {
        let (descriptor, size) = try open(path)
        defer { close(descriptor) }
        guard size <= limit else {
            throw CoreError("the \(what) is \(size) bytes, more than the \(limit) bytes such a file can reasonably hold",
                            location: path, hint: "check that this is the right file")
        }
        var data = Data(count: size)
        var done = 0
        try data.withUnsafeMutableBytes { (buffer: UnsafeMutableRawBufferPointer) in
            while done < size {
                let n = Foundation.read(descriptor, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CoreError("cannot read the file (\(String(cString: strerror(errno))))", location: path)
                }
                if n == 0 { break }  // The file shrank while it was read.
                done += n
            }
        }
        if done < size { data.count = done }
        return data
    }

    /// The whole file at `url`.
    public static func read(_ url: URL, limit: Int = Int.max, what: String = "file") throws -> Data {
        try read(url.path, limit: limit, what: what)
    }

    /// The file as UTF-8 text; a file that is not UTF-8 is refused.
    public static func text(_ url: URL, limit: Int = Int.max, what: String = "file") throws -> String {
        let data = try read(url.path, limit: limit, what: what)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CoreError("the \(what) is not UTF-8 text", location: url.path)
        }
        return text
    }

    /// True when `path` names a regular file (following symbolic links).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }
}
