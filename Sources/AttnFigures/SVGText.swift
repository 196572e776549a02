import AttnCore
import Foundation

/// Cairo's SVG surface writes every glyph as an outline (`<symbol>` + `<use>`), so a reader cannot
/// select or search the text. This adds each text again as a real `<text>` element, invisible
/// (`fill-opacity="0"`) and stretched to the drawn width (`textLength`), on top of the outlines:
/// the picture is cairo's, and selecting, searching and screen readers find the words.
///
/// It also asks viewers not to smooth embedded images: AttnLab's only images are matrices drawn
/// one pixel per cell, which cairo's SVG surface writes without the `image-rendering` hint that
/// its PDF surface expresses as `/Interpolate false`.
enum SVGText {
    static func addSelectableText(_ texts: [PlacedText], to svg: Data) -> Data {
        guard var document = String(data: svg, encoding: .utf8) else { return svg }
        document = document.replacingOccurrences(of: "<image ", with: "<image style=\"image-rendering:pixelated\" image-rendering=\"optimizeSpeed\" ")
        guard !texts.isEmpty, let close = document.range(of: "</svg>", options: .backwards) else { return Data(document.utf8) }
        var layer = "<g id=\"attnlab-text\" font-family=\"DejaVu Sans, sans-serif\" fill=\"#000000\" fill-opacity=\"0\">\n"
        for text in texts {
            var transform = "translate(\(number(text.x)) \(number(text.y)))"
            if text.rotation != 0 { transform += " rotate(\(number(text.rotation)))" }
            layer += "<text transform=\"\(transform)\" x=\"\(number(text.offset))\" y=\"\(number(text.baseline))\""
            layer += " font-size=\"\(number(text.size))\""
            if text.bold { layer += " font-weight=\"bold\"" }
            if text.advance > 0 { layer += " textLength=\"\(number(text.advance))\" lengthAdjust=\"spacingAndGlyphs\"" }
            layer += ">\(Markup.escape(text.text))</text>\n"
        }
        layer += "</g>\n"
        document.insert(contentsOf: layer, at: close.lowerBound)
        return Data(document.utf8)
    }

    static func number(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() { return String(Int(rounded)) }
        return String(format: "%.2f", rounded)
    }

}
