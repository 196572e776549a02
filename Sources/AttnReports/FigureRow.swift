import AttnCore
import AttnFigures
import Foundation

/// One head before and after a change, as a row of three figures inlined as PNG: its attention
/// before, after, and both in one grid (after as the cells' colour, before as the circles). The run
/// report draws a variant against its base with it, the review page revision B against A.
enum FigureRow {
    /// One side of the comparison.
    struct Side {
        /// The figure's title (`capital/france`, `A: HEAD~1 (1a2b3c4)`).
        var title: String
        /// The short name in the compare figure's title (`france`, `A`).
        var name: String
        var trace: Trace
    }

    /// Pixels per inch and width (points) of the figures.
    static let dpi = 110.0
    static let width = 240.0

    /// `<div class="row">` with the head as its heading (and `detail` in small print) and the three figures.
    static func render(layer: Int, head: Int, detail: String? = nil, before: Side, after: Side, dpi: Double = dpi) throws -> String {
        var html = "<div class=\"row\"><h4>layer \(layer), head \(head)"
            + (detail.map { " <span class=\"small\">\(Markup.escape($0))</span>" } ?? "") + "</h4>"
        let selection = HeadSelection(layer: layer, heads: .list([head]))
        let sourceBefore = AttentionSource.trace(before.trace, name: before.title)
        let sourceAfter = AttentionSource.trace(after.trace, name: after.title)
        var options = FigureOptions()
        options.dpi = dpi
        options.width = width
        for (title, kind, sources) in [
            (before.title, FigureKind.heatmap, [sourceBefore]),
            (after.title, .heatmap, [sourceAfter]),
            ("\(after.name) (colour) vs \(before.name) (circles)", .compare, [sourceAfter, sourceBefore]),
        ] {
            options.title = title
            let input = try FigureInputs.make(kind: kind, sources: sources, selections: [selection])
            let png = try FigureRenderer.render(kind, input, options: options, format: .png)
            html += "<figure><img alt=\"\(Markup.escape(title)), layer \(layer), head \(head)\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></figure>"
        }
        return html + "</div>"
    }
}
