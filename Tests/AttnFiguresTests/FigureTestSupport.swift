import AttnCore
import CCairo
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import AttnFigures

/// A decoded PNG: its size and the colour of any pixel.
struct DecodedPNG {
    let width: Int
    let height: Int
    private let pixels: [UInt32]

    init(_ data: Data) throws {
        final class Source { var data: Data; var offset = 0; init(_ data: Data) { self.data = data } }
        let source = Source(data)
        let read: cairo_read_func_t = { closure, buffer, length in
            let source = Unmanaged<Source>.fromOpaque(closure!).takeUnretainedValue()
            guard source.offset + Int(length) <= source.data.count, let buffer else { return CAIRO_STATUS_READ_ERROR }
            source.data.copyBytes(to: buffer, from: source.offset ..< source.offset + Int(length))
            source.offset += Int(length)
            return CAIRO_STATUS_SUCCESS
        }
        let surface = withExtendedLifetime(source) {
            cairo_image_surface_create_from_png_stream(read, Unmanaged.passUnretained(source).toOpaque())
        }
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw FigureError("not a PNG")
        }
        width = Int(cairo_image_surface_get_width(surface))
        height = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface)) / 4
        let data = cairo_image_surface_get_data(surface)!.withMemoryRebound(to: UInt32.self, capacity: stride * height) { $0 }
        var pixels = [UInt32](repeating: 0, count: width * height)
        for y in 0 ..< height { for x in 0 ..< width { pixels[y * width + x] = data[y * stride + x] } }
        self.pixels = pixels
    }

    /// The colour at (x, y) in pixels (opaque pictures only).
    func color(x: Double, y: Double) -> RGB {
        let px = min(max(Int(x), 0), width - 1), py = min(max(Int(y), 0), height - 1)
        let value = pixels[py * width + px]
        return RGB(Double((value >> 16) & 0xFF) / 255, Double((value >> 8) & 0xFF) / 255, Double(value & 0xFF) / 255)
    }

    /// The pixel at (x, y) as cairo holds it: premultiplied ARGB.
    func pixel(x: Int, y: Int) -> UInt32 { pixels[y * width + x] }

    /// How many pixels differ from white.
    var inkedPixels: Int { pixels.filter { $0 & 0xFFFFFF != 0xFFFFFF }.count }
}

func distance(_ a: RGB, _ b: RGB) -> Double {
    max(abs(a.red - b.red), abs(a.green - b.green), abs(a.blue - b.blue))
}

/// Facts about a PDF file read from its bytes (cairo writes page and font dictionaries uncompressed).
struct PDFFacts {
    let text: String

    init(_ data: Data) { text = String(decoding: data, as: UTF8.self) }

    var isPDF: Bool { text.hasPrefix("%PDF-") && text.contains("%%EOF") }
    var pageCount: Int { text.components(separatedBy: "/Type /Page").count - 1 - (text.components(separatedBy: "/Type /Pages").count - 1) }
    /// True when DejaVu Sans is embedded as a TrueType font program.
    var embedsDejaVu: Bool { text.contains("/FontFile2") && text.contains("DejaVuSans") }
}

/// Parses an SVG document as XML and collects its `<text>` contents.
struct SVGFacts {
    let texts: [String]
    let rootName: String
    let wellFormed: Bool

    init(_ data: Data) {
        let parser = XMLParser(data: data)
        let collector = Collector()
        parser.delegate = collector
        wellFormed = parser.parse()
        texts = collector.texts
        rootName = collector.root
    }

    private final class Collector: NSObject, XMLParserDelegate {
        var texts: [String] = [], root = "", current = "", inText = false
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if root.isEmpty { root = name }
            if name == "text" { inText = true; current = "" }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inText { current += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text" { texts.append(current); inText = false }
        }
    }
}

/// A fresh folder for one test's files.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-figures-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
