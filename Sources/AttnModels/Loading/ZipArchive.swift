import AttnCore
import CZlib
import Foundation

/// A zip archive (the container of `pytorch_model.bin`), memory-mapped and read through its central
/// directory. Nothing the archive declares is trusted: every offset and size is checked against
/// the file with overflow-checked arithmetic before it is used, no buffer is sized by a declared
/// size, and an entry is read only up to the bytes its reader can use (`limit`), so a damaged or
/// hostile archive is an error, never a trap, an out-of-bounds read or gigabytes of inflated zeros.
final class ZipArchive: @unchecked Sendable {
    struct Entry: Sendable {
        var name: String
        /// 0: stored, 8: deflate.
        var method: UInt16
        /// Where the entry's (compressed) bytes start in the file, and how many there are.
        var dataOffset: Int
        var compressedSize: Int
        /// What the archive says the entry inflates to; a hint, never trusted.
        var declaredSize: UInt64
    }

    let path: String
    /// Entries by name.
    let entries: [String: Entry]
    private let base: UnsafeRawPointer
    private let length: Int

    init(path: String) throws {
        self.path = path
        let (descriptor, size) = try RegularFile.open(path)
        defer { close(descriptor) }
        guard size >= 22, let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw ModelError("not a zip archive: the file is too short to hold one", location: path,
                             hint: "the file is damaged or truncated; download it again")
        }
        base = UnsafeRawPointer(mapped)
        length = size
        do {
            entries = try Self.readDirectory(UnsafeRawBufferPointer(start: base, count: size), path: path)
        } catch {
            munmap(mapped, size)
            throw error
        }
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), length) }

    // MARK: Reading entries

    /// Calls `body` with the entry's first bytes, at most `limit` of them, and whether that is the
    /// whole entry. A stored entry is a view of the mapped file; a deflated one is inflated only as
    /// far as `limit`.
    func withBytes<R>(_ entry: Entry, limit: Int, _ body: (UnsafeRawBufferPointer, _ complete: Bool) throws -> R) throws -> R {
        let stored = UnsafeRawBufferPointer(start: base + entry.dataOffset, count: entry.compressedSize)
        switch entry.method {
        case 0:
            return try body(UnsafeRawBufferPointer(rebasing: stored.prefix(limit)), stored.count <= limit)
        case 8:
            let (bytes, complete) = try inflate(stored, limit: limit, name: entry.name)
            return try bytes.withUnsafeBytes { try body($0, complete) }
        default:
            throw ModelError("\(entry.name) in the zip archive is compressed with method \(entry.method), which AttnLab does not read",
                             location: path, hint: "torch.save writes uncompressed archives; re-save the weights with torch.save or as safetensors")
        }
    }

    /// Gives the pages of a stored entry's bytes back to the kernel once they have been copied out.
    func release(_ bytes: UnsafeRawBufferPointer) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let start = bytes.baseAddress, page > 0, start >= base, start < base + length else { return }
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let last = (Int(bitPattern: start) + bytes.count) / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(pointer, last - first, MADV_DONTNEED)
    }

    /// Inflates raw deflate data into a buffer that grows as output comes, up to `limit` bytes.
    private func inflate(_ input: UnsafeRawBufferPointer, limit: Int, name: String) throws -> ([UInt8], complete: Bool) {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ModelError("cannot start inflating \(name)", location: path)
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: min(limit, 1 << 16))
        var produced = 0, consumed = 0
        var status = Z_OK
        while true {
            if produced == output.count {
                if produced >= limit { break }
                output.append(contentsOf: repeatElement(0, count: min(limit - produced, max(output.count, 1 << 16))))
            }
            let inputChunk = min(input.count - consumed, Int(UInt32.max))
            let outputChunk = min(output.count - produced, Int(UInt32.max))
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + consumed })
            stream.avail_in = UInt32(inputChunk)
            status = output.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress! + produced
                stream.avail_out = UInt32(outputChunk)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            consumed += inputChunk - Int(stream.avail_in)
            produced += outputChunk - Int(stream.avail_out)
            if status == Z_STREAM_END { break }
            guard status == Z_OK || (status == Z_BUF_ERROR && produced == output.count) else {
                throw ModelError("\(name) in the zip archive is not valid deflate data (\(status == Z_BUF_ERROR ? "it ends early" : "zlib error \(status)"))",
                                 location: path, hint: "the file is damaged or truncated; download it again")
            }
        }
        output.removeSubrange(produced...)
        return (output, status == Z_STREAM_END)
    }

    // MARK: The central directory

    private static func readDirectory(_ file: UnsafeRawBufferPointer, path: String) throws -> [String: Entry] {
        func damaged(_ what: String) -> ModelError {
            ModelError("the zip archive is damaged or truncated: \(what)", location: path, hint: "download it again")
        }
        func u16(_ at: Int) -> Int { Int(UInt16(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt16.self))) }
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: file.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        /// `offset + count` when that range lies inside the file.
        func end(_ offset: Int, _ count: Int) -> Int? {
            guard offset >= 0, count >= 0, case let (sum, false) = offset.addingReportingOverflow(count), sum <= file.count else { return nil }
            return sum
        }

        // The end-of-central-directory record: the last signature in the file's last 64 kB.
        var eocd = file.count - 22
        let lowest = max(0, file.count - 22 - 65535)
        while eocd >= lowest, u32(eocd) != 0x0605_4B50 { eocd -= 1 }
        guard eocd >= lowest else { throw damaged("it has no end-of-central-directory record") }
        var count = u16(eocd + 10)
        var directorySize = u32(eocd + 12)
        var directoryOffset = u32(eocd + 16)
        // ZIP64: a locator just before the record points at the 64-bit record.
        if eocd >= 20, u32(eocd - 20) == 0x0706_4B50 {
            let record64 = u64(eocd - 20 + 8)
            guard record64 <= UInt64(file.count), let recordEnd = end(Int(record64), 56), recordEnd <= eocd - 20,
                  u32(Int(record64)) == 0x0606_4B50 else { throw damaged("its ZIP64 record lies outside the file") }
            let (count64, size64, offset64) = (u64(Int(record64) + 32), u64(Int(record64) + 40), u64(Int(record64) + 48))
            guard count64 <= UInt64(file.count), size64 <= UInt64(file.count), offset64 <= UInt64(file.count) else {
                throw damaged("its ZIP64 record declares a directory larger than the file")
            }
            (count, directorySize, directoryOffset) = (Int(count64), Int(size64), Int(offset64))
        }
        guard let directoryEnd = end(directoryOffset, directorySize) else {
            throw damaged("its central directory lies outside the file")
        }
        guard count <= directorySize / 46 else { throw damaged("it declares \(count) entries in a \(directorySize)-byte directory") }

        var entries: [String: Entry] = [:]
        var at = directoryOffset
        for _ in 0 ..< count {
            guard let fixedEnd = end(at, 46), fixedEnd <= directoryEnd, u32(at) == 0x0201_4B50 else {
                throw damaged("a central directory entry is missing or cut short")
            }
            let flags = u16(at + 8), method = UInt16(u16(at + 10))
            var compressed = UInt64(u32(at + 20)), declared = UInt64(u32(at + 24)), local = UInt64(u32(at + 42))
            let (nameLength, extraLength, commentLength) = (u16(at + 28), u16(at + 30), u16(at + 32))
            guard let nameEnd = end(fixedEnd, nameLength), let extraEnd = end(nameEnd, extraLength),
                  let entryEnd = end(extraEnd, commentLength), entryEnd <= directoryEnd else {
                throw damaged("a central directory entry runs past the directory")
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: file[fixedEnd ..< nameEnd]), as: UTF8.self)
            // ZIP64 extra field: the 64-bit values of the fields that hold 0xFFFFFFFF, in order.
            var extra = nameEnd
            while extra + 4 <= extraEnd {
                let (id, size) = (u16(extra), u16(extra + 2))
                guard let fieldEnd = end(extra + 4, size), fieldEnd <= extraEnd else { break }
                if id == 0x0001 {
                    var field = extra + 4
                    func next() throws -> UInt64 {
                        guard field + 8 <= fieldEnd else { throw damaged("\(name)'s ZIP64 field is cut short") }
                        defer { field += 8 }
                        return u64(field)
                    }
                    if declared == 0xFFFF_FFFF { declared = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                extra = fieldEnd
            }
            guard flags & 1 == 0 else {
                throw ModelError("\(name) in the zip archive is encrypted", location: path, hint: "get an unencrypted copy of the weights")
            }
            // The local header repeats the name and has its own extra field; the data follows it.
            guard local <= UInt64(file.count), let localFixed = end(Int(local), 30), u32(Int(local)) == 0x0403_4B50 else {
                throw damaged("\(name)'s local header lies outside the file")
            }
            guard compressed <= UInt64(file.count),
                  let dataOffset = end(localFixed, u16(Int(local) + 26) + u16(Int(local) + 28)),
                  end(dataOffset, Int(compressed)) != nil else {
                throw damaged("\(name)'s data lies outside the file")
            }
            if method == 0, declared != compressed {
                throw damaged("\(name) is stored uncompressed but declares \(declared) bytes in \(compressed)")
            }
            guard entries[name] == nil else {
                throw damaged("it holds two entries named \(name)")
            }
            entries[name] = Entry(name: name, method: method, dataOffset: dataOffset, compressedSize: Int(compressed), declaredSize: declared)
            at = entryEnd
        }
        return entries
    }
}
