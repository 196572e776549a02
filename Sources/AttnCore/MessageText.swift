import Foundation

/// Text from a file (a tensor name, a key, a token) made safe to print inside an error line: a
/// newline could forge a second `error:` line and an escape sequence could recolour the terminal,
/// so control characters are written as escapes. Backslashes are kept as they are, so escaping
/// twice changes nothing.
public enum MessageText {
    /// `\n`, `\r`, `\t` and `\0` as such; other C0 and C1 controls, DEL, the line and paragraph
    /// separators and the bidirectional overrides as `\u{…}`.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\0": out += "\\0"
            case _ where needsEscape(scalar): out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0 ..< 0x20, 0x7F ... 0x9F, 0x2028, 0x2029, 0x202A ... 0x202E, 0x2066 ... 0x2069: true
        default: false
        }
    }

    /// An error from Foundation or the C library as one short phrase ("File name too long"),
    /// never the multi-line dump of an `NSError`.
    public static func describe(_ error: Error) -> String {
        if let explained = error as? ExplainedError { return explained.description }
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if ns.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: ns.code) {
            case .fileNoSuchFile, .fileReadNoSuchFile: return String(cString: strerror(ENOENT))
            case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
            case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
            case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
            case .fileWriteFileExists: return String(cString: strerror(EEXIST))
            case .fileReadInvalidFileName, .fileWriteInvalidFileName: return "the file name is not valid"
            default: break
            }
        }
        return escape(String(describing: error).split(separator: "\n").first.map(String.init) ?? "unknown error")
    }

    /// What to do about a failed file operation, by its `errno`.
    static func hint(forErrno code: Int32) -> String {
        switch code {
        case ENAMETOOLONG: "use a shorter name (at most 255 bytes a folder or file name)"
        case ENOSPC, EDQUOT: "free some disk space"
        case EACCES, EPERM, EROFS: "check that the folder is writable"
        case ENOTDIR: "a part of the path is a file, not a folder"
        case ENOENT: "check the path"
        default: "check the path and its permissions"
        }
    }
}
