import AttnCore
import CCairo
import Foundation

/// A rectangle in points, origin at the top left.
struct Rect: Sendable, Equatable {
    var x: Double, y: Double, width: Double, height: Double

    var maxX: Double { x + width }
    var maxY: Double { y + height }
    var midX: Double { x + width / 2 }
    var midY: Double { y + height / 2 }

    func insetBy(_ d: Double) -> Rect { Rect(x: x + d, y: y + d, width: width - 2 * d, height: height - 2 * d) }

    /// True when the two rectangles share more than an edge.
    func intersects(_ other: Rect) -> Bool {
        x < other.maxX - 1e-9 && other.x < maxX - 1e-9 && y < other.maxY - 1e-9 && other.y < maxY - 1e-9
    }
}

/// Where a text's anchor point sits along the text.
enum TextAnchor { case start, middle, end }

/// The font all figures use. PDF embeds it (as a TrueType subset) and PNG rasterises it; the SVG
/// surface writes glyph outlines, so `Canvas` adds the same text as invisible `<text>` elements.
enum FigureFont {
    static let family = "DejaVu Sans"
}

/// One text drawn on a canvas, kept so that SVG output can carry it as real, selectable text.
struct PlacedText {
    var text: String
    var x: Double, y: Double
    var size: Double
    var bold: Bool
    /// Degrees, clockwise (SVG's convention; cairo's angle in radians has the same sense).
    var rotation: Double
    /// The text's start relative to (x, y) along the rotated baseline, the baseline's distance
    /// below y, and the text's advance width.
    var offset: Double
    var baseline: Double
    var advance: Double
}

/// Receives the bytes cairo writes to a stream.
final class ByteSink {
    var data = Data()
}

private func appendToSink(_ closure: UnsafeMutableRawPointer?, _ bytes: UnsafePointer<UInt8>?, _ length: UInt32) -> cairo_status_t {
    guard let closure else { return CAIRO_STATUS_WRITE_ERROR }
    let sink = Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue()
    if let bytes, length > 0 { sink.data.append(bytes, count: Int(length)) }
    return CAIRO_STATUS_SUCCESS
}

/// Sets the font and its options the same way on every context, so that text measured for layout
/// has the width it is drawn with: no hinting of metrics or outlines.
private func configureFont(_ cr: OpaquePointer, size: Double, bold: Bool) {
    cairo_select_font_face(cr, FigureFont.family, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
    cairo_set_font_size(cr, size)
}

private func makeFontOptions() -> OpaquePointer? {
    let options = cairo_font_options_create()
    cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF)
    cairo_font_options_set_hint_style(options, CAIRO_HINT_STYLE_NONE)
    cairo_font_options_set_antialias(options, CAIRO_ANTIALIAS_GRAY)
    return options
}

/// Measures text in points with the figure font, before any surface of the right size exists.
final class TextMeasurer {
    private let surface: OpaquePointer
    private let cr: OpaquePointer
    private var cache: [String: Double] = [:]

    init() {
        surface = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1)
        cr = cairo_create(surface)
        let options = makeFontOptions()
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    /// The advance width of `text` at `size` points.
    func width(_ text: String, size: Double, bold: Bool = false) -> Double {
        let key = "\(size)|\(bold)|\(text)"
        if let known = cache[key] { return known }
        configureFont(cr, size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, text, &extents)
        cache[key] = extents.x_advance
        return extents.x_advance
    }

    /// Shortens `text` with an ellipsis until it is at most `limit` points wide.
    func truncate(_ text: String, size: Double, to limit: Double, bold: Bool = false) -> String {
        if width(text, size: size, bold: bold) <= limit { return text }
        var characters = Array(text)
        while characters.count > 1 {
            characters.removeLast()
            let candidate = String(characters) + "…"
            if width(candidate, size: size, bold: bold) <= limit { return candidate }
        }
        return "…"
    }
}

/// A page to draw on in points, backed by a cairo surface of one of the three formats.
///
/// PNG pages are rasterised at `dpi`; PDF and SVG pages are vector, with the page size in points.
final class Canvas {
    let format: FigureFormat
    let width: Double
    let height: Double
    /// Pixels per point of PNG output (1 for vector formats).
    let pixelsPerPoint: Double
    private let surface: OpaquePointer
    let cr: OpaquePointer
    private let sink = ByteSink()
    private var texts: [PlacedText] = []
    private var finished = false

    init(format: FigureFormat, width: Double, height: Double, dpi: Double, title: String?) throws {
        guard width.isFinite, height.isFinite, width >= 1, height >= 1, width <= 14_400, height <= 14_400 else {
            throw FigureError("the page would be \(Int(width)) × \(Int(height)) points", hint: "choose a --width between 72 and 14400 points")
        }
        self.format = format
        self.width = width
        self.height = height
        let closure = Unmanaged.passUnretained(sink).toOpaque()
        switch format {
        case .png:
            pixelsPerPoint = dpi / 72
            let pixelWidth = Int32((width * pixelsPerPoint).rounded(.up))
            let pixelHeight = Int32((height * pixelsPerPoint).rounded(.up))
            guard Double(pixelWidth) * Double(pixelHeight) <= 400_000_000 else {
                throw FigureError("a \(pixelWidth) × \(pixelHeight)-pixel PNG is too large", hint: "lower --dpi or --width")
            }
            surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, pixelWidth, pixelHeight)
        case .pdf:
            pixelsPerPoint = 1
            surface = cairo_pdf_surface_create_for_stream(appendToSink, closure, width, height)
            cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "AttnLab \(AttnLab.version)")
            if let title, !title.isEmpty { cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title) }
        case .svg:
            pixelsPerPoint = 1
            surface = cairo_svg_surface_create_for_stream(appendToSink, closure, width, height)
            cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PT)
        }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            let reason = String(cString: cairo_status_to_string(cairo_surface_status(surface)))
            cairo_surface_destroy(surface)
            throw FigureError("cairo cannot create the \(format.rawValue) surface (\(reason))")
        }
        cr = cairo_create(surface)
        let options = makeFontOptions()
        cairo_set_font_options(cr, options)
        cairo_font_options_destroy(options)
        if format == .png { cairo_scale(cr, pixelsPerPoint, pixelsPerPoint) }
        fill(Rect(x: 0, y: 0, width: width, height: height), .white)
    }

    deinit {
        cairo_destroy(cr)
        cairo_surface_destroy(surface)
    }

    // MARK: shapes

    func setColor(_ color: RGB, alpha: Double = 1) {
        if alpha >= 1 {
            cairo_set_source_rgb(cr, color.red, color.green, color.blue)
        } else {
            cairo_set_source_rgba(cr, color.red, color.green, color.blue, alpha)
        }
    }

    func fill(_ rect: Rect, _ color: RGB) {
        setColor(color)
        cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
        cairo_fill(cr)
    }

    func stroke(_ rect: Rect, _ color: RGB, lineWidth: Double, dash: [Double] = []) {
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_MITER)
        setDash(dash)
        cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
        cairo_stroke(cr)
        setDash([])
    }

    func line(from a: (Double, Double), to b: (Double, Double), _ color: RGB, lineWidth: Double, dash: [Double] = []) {
        setColor(color)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT)
        setDash(dash)
        cairo_move_to(cr, a.0, a.1)
        cairo_line_to(cr, b.0, b.1)
        cairo_stroke(cr)
        setDash([])
    }

    func polyline(_ points: [(Double, Double)], _ color: RGB, lineWidth: Double, alpha: Double = 1) {
        guard let first = points.first else { return }
        setColor(color, alpha: alpha)
        cairo_set_line_width(cr, lineWidth)
        cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND)
        cairo_move_to(cr, first.0, first.1)
        for point in points.dropFirst() { cairo_line_to(cr, point.0, point.1) }
        cairo_stroke(cr)
    }

    func circle(center: (Double, Double), radius: Double, fill color: RGB?, stroke: RGB? = nil, lineWidth: Double = 0.3) {
        cairo_new_sub_path(cr)
        cairo_arc(cr, center.0, center.1, radius, 0, 2 * Double.pi)
        if let color {
            setColor(color)
            if stroke == nil { cairo_fill(cr) } else { cairo_fill_preserve(cr) }
        }
        if let stroke {
            setColor(stroke)
            cairo_set_line_width(cr, lineWidth)
            cairo_stroke(cr)
        }
        cairo_new_path(cr)
    }

    /// A disc whose colour runs from `inner` at the centre to `outer` at the edge.
    func radialGradientCircle(center: (Double, Double), radius: Double, inner: RGB, outer: RGB, stroke: RGB?, lineWidth: Double) {
        guard radius > 0 else { return }
        let pattern = cairo_pattern_create_radial(center.0, center.1, 0, center.0, center.1, radius)
        cairo_pattern_add_color_stop_rgb(pattern, 0, inner.red, inner.green, inner.blue)
        cairo_pattern_add_color_stop_rgb(pattern, 1, outer.red, outer.green, outer.blue)
        cairo_new_sub_path(cr)
        cairo_arc(cr, center.0, center.1, radius, 0, 2 * Double.pi)
        cairo_set_source(cr, pattern)
        cairo_fill_preserve(cr)
        cairo_pattern_destroy(pattern)
        if let stroke {
            setColor(stroke)
            cairo_set_line_width(cr, lineWidth)
            cairo_stroke(cr)
        }
        cairo_new_path(cr)
    }

    /// A vertical bar whose colour follows `colorAt` from the bottom (0) to the top (1).
    func verticalGradient(_ rect: Rect, steps: Int, colorAt: (Double) -> RGB) {
        let pattern = cairo_pattern_create_linear(0, rect.maxY, 0, rect.y)
        for step in 0 ... steps {
            let t = Double(step) / Double(steps)
            let color = colorAt(t)
            cairo_pattern_add_color_stop_rgb(pattern, t, color.red, color.green, color.blue)
        }
        cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
        cairo_set_source(cr, pattern)
        cairo_fill(cr)
        cairo_pattern_destroy(pattern)
    }

    /// Draws `rows × columns` colours (row-major) as an image scaled into `rect` without smoothing,
    /// so that dense matrices stay small in PDF and SVG and show no seams between cells.
    func cellImage(_ colors: [RGB], rows: Int, columns: Int, in rect: Rect) {
        guard rows > 0, columns > 0, colors.count == rows * columns else { return }
        let image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(columns), Int32(rows))
        defer { cairo_surface_destroy(image) }
        cairo_surface_flush(image)
        guard let data = cairo_image_surface_get_data(image) else { return }
        let stride = Int(cairo_image_surface_get_stride(image))
        for r in 0 ..< rows {
            let row = (data + r * stride).withMemoryRebound(to: UInt32.self, capacity: columns) { $0 }
            for c in 0 ..< columns {
                let color = colors[r * columns + c]
                let red = UInt32((color.red * 255).rounded()), green = UInt32((color.green * 255).rounded())
                let blue = UInt32((color.blue * 255).rounded())
                row[c] = 0xFF00_0000 | red << 16 | green << 8 | blue
            }
        }
        cairo_surface_mark_dirty(image)
        cairo_save(cr)
        cairo_rectangle(cr, rect.x, rect.y, rect.width, rect.height)
        cairo_clip(cr)
        cairo_translate(cr, rect.x, rect.y)
        cairo_scale(cr, rect.width / Double(columns), rect.height / Double(rows))
        cairo_set_source_surface(cr, image, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST)
        cairo_paint(cr)
        cairo_restore(cr)
    }

    private func setDash(_ dash: [Double]) {
        if dash.isEmpty {
            cairo_set_dash(cr, nil, 0, 0)
        } else {
            dash.withUnsafeBufferPointer { cairo_set_dash(cr, $0.baseAddress, Int32(dash.count), 0) }
        }
    }

    // MARK: text

    /// Draws `text` with its anchor at (x, y): `anchor` places it along the baseline, and the text
    /// is centred vertically on y (the middle of its lower-case letters and digits), then the
    /// whole is rotated by `rotation` degrees clockwise around (x, y).
    func text(_ text: String, x: Double, y: Double, size: Double, anchor: TextAnchor = .start,
              rotation: Double = 0, color: RGB = .ink, bold: Bool = false) {
        guard !text.isEmpty else { return }
        configureFont(cr, size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, text, &extents)
        let advance = extents.x_advance
        let offset: Double = switch anchor {
        case .start: 0
        case .middle: -advance / 2
        case .end: -advance
        }
        // DejaVu Sans: digits and capitals are about 0.73 em tall; centring on 0.36 em looks centred.
        let baselineShift = 0.36 * size
        cairo_save(cr)
        cairo_translate(cr, x, y)
        cairo_rotate(cr, rotation * .pi / 180)
        setColor(color)
        cairo_move_to(cr, offset, baselineShift)
        cairo_show_text(cr, text)
        cairo_new_path(cr)
        cairo_restore(cr)
        texts.append(PlacedText(text: text, x: x, y: y, size: size, bold: bold, rotation: rotation,
                                offset: offset, baseline: baselineShift, advance: advance))
    }

    // MARK: output

    /// Finishes the page and returns the file's bytes.
    func finish() throws -> Data {
        guard !finished else { return sink.data }
        finished = true
        cairo_show_page(cr)
        let drawingStatus = cairo_status(cr)
        guard drawingStatus == CAIRO_STATUS_SUCCESS else {
            throw FigureError("cairo failed while drawing (\(String(cString: cairo_status_to_string(drawingStatus))))")
        }
        switch format {
        case .png:
            cairo_surface_flush(surface)
            return try PNGEncoder.encode(surface)
        case .pdf, .svg:
            cairo_surface_finish(surface)
            let status = cairo_surface_status(surface)
            guard status == CAIRO_STATUS_SUCCESS else {
                throw FigureError("cairo cannot write the \(format.rawValue) (\(String(cString: cairo_status_to_string(status))))")
            }
        }
        if format == .svg { return SVGText.addSelectableText(texts, to: sink.data) }
        return sink.data
    }
}
