import CZlib
import Foundation

/// Builds zip archives byte by byte, so that tests can declare sizes and offsets that lie.
struct TestZip {
    struct Entry {
        var name: String
        var data: [UInt8]
        /// Raw deflate instead of stored.
        var deflate = false
        /// What the central directory declares, when it should not be the truth.
        var declaredSize: UInt64?
        /// Write the sizes as ZIP64 (0xFFFFFFFF in the directory, the values in an extra field).
        var zip64 = false
        /// The entry's bytes in the file as they are (already deflated when `deflate`), instead of `data`'s.
        var rawPayload: [UInt8]?
    }

    var entries: [Entry] = []

    mutating func add(_ name: String, _ data: [UInt8], deflate: Bool = false, declaredSize: UInt64? = nil, zip64: Bool = false) {
        entries.append(Entry(name: name, data: data, deflate: deflate, declaredSize: declaredSize, zip64: zip64))
    }

    /// Raw deflate of `data`, at the best compression.
    static func deflate(_ data: [UInt8]) -> [UInt8] { compress(data, flush: Z_FINISH) }

    /// Raw deflate of `data` ended by a full flush instead of a last block: such pieces can follow
    /// one another in one stream.
    static func deflateFlushed(_ data: [UInt8]) -> [UInt8] { compress(data, flush: Z_FULL_FLUSH) }

    private static func compress(_ data: [UInt8], flush: Int32) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 64)
        var input = data
        input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                _ = CZlib.deflate(&stream, flush)
            }
        }
        return Array(output.prefix(Int(stream.total_out)))
    }

    /// The archive's bytes.
    func bytes() -> [UInt8] {
        var file: [UInt8] = []
        var directory: [UInt8] = []
        func u16(_ value: Int, _ out: inout [UInt8]) { out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func u32(_ value: UInt64, _ out: inout [UInt8]) { for i in 0 ..< 4 { out.append(UInt8(value >> (8 * UInt64(i)) & 0xFF)) } }
        func u64(_ value: UInt64, _ out: inout [UInt8]) { for i in 0 ..< 8 { out.append(UInt8(value >> (8 * UInt64(i)) & 0xFF)) } }
        for entry in entries {
            let payload = entry.rawPayload ?? (entry.deflate ? Self.deflate(entry.data) : entry.data)
            let declared = entry.declaredSize ?? UInt64(entry.data.count)
            let name = Array(entry.name.utf8)
            let offset = UInt64(file.count)
            // Local header: signature, version, flags, method, time, date, crc, sizes, name and extra lengths.
            u32(0x0403_4B50, &file); u16(20, &file); u16(0, &file); u16(entry.deflate ? 8 : 0, &file)
            u16(0, &file); u16(0, &file); u32(0, &file)
            u32(UInt64(payload.count), &file); u32(declared & 0xFFFF_FFFF, &file)
            u16(name.count, &file); u16(0, &file)
            file += name + payload
            // Central directory entry.
            var extra: [UInt8] = []
            if entry.zip64 { u16(1, &extra); u16(16, &extra); u64(declared, &extra); u64(UInt64(payload.count), &extra) }
            u32(0x0201_4B50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory)
            u16(entry.deflate ? 8 : 0, &directory); u16(0, &directory); u16(0, &directory); u32(0, &directory)
            u32(entry.zip64 ? 0xFFFF_FFFF : UInt64(payload.count), &directory)
            u32(entry.zip64 ? 0xFFFF_FFFF : declared & 0xFFFF_FFFF, &directory)
            u16(name.count, &directory); u16(extra.count, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory)
            u32(0, &directory); u32(offset, &directory)
            directory += name + extra
        }
        let directoryOffset = UInt64(file.count)
        file += directory
        u32(0x0605_4B50, &file); u16(0, &file); u16(0, &file); u16(entries.count, &file); u16(entries.count, &file)
        u32(UInt64(directory.count), &file); u32(directoryOffset, &file); u16(0, &file)
        return file
    }
}
