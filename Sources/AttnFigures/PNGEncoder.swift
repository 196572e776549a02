import CCairo
import CZlib
import Foundation

/// Writes a cairo image surface as a PNG. cairo's own writer (libpng's defaults: adaptive filters,
/// zlib level 6) spent more time than the forward passes of a run's report figures; one filter for
/// every row and a fast zlib level give files a little larger in a fraction of the time. Opaque
/// pages (every figure: they have a white background) are written as RGB, others as RGBA with the
/// alpha un-premultiplied, as PNG stores it.
enum PNGEncoder {
    /// zlib's level: 1 is its fastest; figures are mostly flat colour, which it still packs well.
    static let level: Int32 = 1

    static func encode(_ surface: OpaquePointer) throws -> Data {
        let width = Int(cairo_image_surface_get_width(surface)), height = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard cairo_image_surface_get_format(surface) == CAIRO_FORMAT_ARGB32, width > 0, height > 0,
              let base = cairo_image_surface_get_data(surface) else {
            throw FigureError("cairo gave no ARGB image to encode as PNG")
        }
        // ARGB32 is one native-endian UInt32 per pixel, alpha in the high byte.
        func pixel(_ x: Int, _ y: Int) -> UInt32 {
            UnsafeRawPointer(base + y * stride + x * 4).loadUnaligned(as: UInt32.self)
        }
        var opaque = true
        rows: for y in 0 ..< height {
            for x in 0 ..< width where pixel(x, y) >> 24 != 255 {
                opaque = false
                break rows
            }
        }
        let channels = opaque ? 3 : 4
        let rowBytes = 1 + width * channels
        // Each row: filter type 1 (Sub: each byte minus the one a pixel before), then the pixels.
        var raw = [UInt8](repeating: 0, count: rowBytes * height)
        raw.withUnsafeMutableBufferPointer { out in
            for y in 0 ..< height {
                let row = out.baseAddress! + y * rowBytes
                row[0] = 1
                var previous: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
                for x in 0 ..< width {
                    let value = pixel(x, y)
                    var (a, r, g, b) = (UInt8(value >> 24), UInt8(value >> 16 & 255), UInt8(value >> 8 & 255), UInt8(value & 255))
                    if a != 255, a != 0 {
                        let unpremultiply = { (c: UInt8) in UInt8(min(255, (Int(c) * 255 + Int(a) / 2) / Int(a))) }
                        (r, g, b) = (unpremultiply(r), unpremultiply(g), unpremultiply(b))
                    }
                    let at = row + 1 + x * channels
                    at[0] = r &- previous.0
                    at[1] = g &- previous.1
                    at[2] = b &- previous.2
                    if channels == 4 { at[3] = a &- previous.3 }
                    previous = (r, g, b, a)
                }
            }
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, raw, uLong(raw.count), level)
        guard status == Z_OK else { throw FigureError("zlib could not compress the PNG (status \(status))") }

        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func chunk(_ type: String, _ body: UnsafeRawBufferPointer) {
            func bigEndian(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { png.append(contentsOf: $0) } }
            bigEndian(UInt32(body.count))
            let typeBytes = Array(type.utf8)
            png.append(contentsOf: typeBytes)
            png.append(contentsOf: body)
            var crc = typeBytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            if let start = body.baseAddress { crc = crc32(crc, start.assumingMemoryBound(to: Bytef.self), uInt(body.count)) }
            bigEndian(UInt32(crc))
        }
        var header = Data()
        for value in [UInt32(width), UInt32(height)] { withUnsafeBytes(of: value.bigEndian) { header.append(contentsOf: $0) } }
        header.append(contentsOf: [8, opaque ? 2 : 6, 0, 0, 0])   // 8 bits, RGB or RGBA, deflate, adaptive filtering, no interlace
        header.withUnsafeBytes { chunk("IHDR", $0) }
        compressed.withUnsafeBytes { chunk("IDAT", UnsafeRawBufferPointer(rebasing: $0[0 ..< Int(compressedSize)])) }
        chunk("IEND", UnsafeRawBufferPointer(start: nil, count: 0))
        return png
    }
}
