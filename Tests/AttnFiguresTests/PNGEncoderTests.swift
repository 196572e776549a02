import CCairo
import Foundation
import Testing
@testable import AttnFigures

/// AttnLab's own PNG writer gives the pixels cairo drew, as a PNG reader (cairo's, libpng) reads
/// them back: opaque pages as RGB, translucent ones as RGBA with the alpha un-premultiplied.
@Suite struct PNGEncoderTests {
    /// A 37 × 23 surface (a stride wider than its pixels) with a gradient, and translucent when asked.
    static func surface(alpha: Double) -> OpaquePointer {
        let surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 37, 23)!
        let cr = cairo_create(surface)!
        for x in 0 ..< 37 {
            cairo_set_source_rgba(cr, Double(x) / 36, 0.5, 1 - Double(x) / 36, alpha)
            cairo_rectangle(cr, Double(x), 0, 1, 23)
            cairo_fill(cr)
        }
        cairo_destroy(cr)
        cairo_surface_flush(surface)
        return surface
    }

    @Test func opaqueAndTranslucentPagesReadBackAsDrawn() throws {
        for alpha in [1.0, 0.5] {
            let surface = Self.surface(alpha: alpha)
            defer { cairo_surface_destroy(surface) }
            let png = try PNGEncoder.encode(surface)
            #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            #expect(png[25] == (alpha == 1 ? 2 : 6), "colour type: RGB when opaque, RGBA otherwise")
            let decoded = try DecodedPNG(png)
            #expect(decoded.width == 37 && decoded.height == 23)
            let stride = Int(cairo_image_surface_get_stride(surface)) / 4
            let drawn = cairo_image_surface_get_data(surface)!.withMemoryRebound(to: UInt32.self, capacity: stride * 23) { $0 }
            for (x, y) in [(0, 0), (18, 11), (36, 22)] {
                let original = drawn[y * stride + x], read = decoded.pixel(x: x, y: y)
                // Premultiplied channels round-trip within one step of 255.
                for shift in [0, 8, 16, 24] as [UInt32] {
                    #expect(abs(Int((original >> shift) & 255) - Int((read >> shift) & 255)) <= 1, "pixel \(x),\(y), alpha \(alpha)")
                }
            }
        }
    }
}
