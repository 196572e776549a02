import Foundation
import Glibc

extension FileHandle {
    /// Everything until the end of the file or pipe. Foundation's `readDataToEndOfFile()` traps when
    /// a signal interrupts its read (EINTR, seen with a child process ending meanwhile); this reads
    /// with read(2) and retries. Stops at the first other error with what it has.
    public func readUntilEnd() -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                data.append(contentsOf: buffer[0 ..< count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }
}
