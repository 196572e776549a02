import AttnCore
import AttnFigures
import Foundation

/// One head before and after a change, as a row of three figures inlined as PNG: its attention
/// before, after (both on one colour scale, so that equal colours are equal weights), and both in
/// one grid (before as the cells' colour, after as the circles). The run report draws a variant
/// against its base with it, the review page revision B against A: A is always the base or the
/// older revision.
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

    /// One figure of the row: its title, kind, matrices and options.
    struct Figure {
        var title: String
        var kind: FigureKind
        var input: FigureInput
        var options: FigureOptions
    }

    /// `<div class="row">` with the head as its heading (and `detail` in small print) and the three figures.
    static func render(layer: Int, head: Int, detail: String? = nil, before: Side, after: Side, dpi: Double = dpi) throws -> String {
        var html = "<div class=\"row\"><h4>layer \(layer), head \(head)"
            + (detail.map { " <span class=\"small\">\(Markup.escape($0))</span>" } ?? "") + "</h4>"
        for figure in try figures(layer: layer, head: head, before: before, after: after, dpi: dpi) {
            let png = try FigureRenderer.render(figure.kind, figure.input, options: figure.options, format: .png)
            html += "<figure><img alt=\"\(Markup.escape(figure.title)), layer \(layer), head \(head)\" src=\"data:image/png;base64,\(png.base64EncodedString())\"></figure>"
        }
        return html + "</div>"
    }

    /// The three figures: before, after, and before (colour) against after (circles). The two
    /// heatmaps share one colour scale, up to the larger of their maxima (the compare figure has
    /// one scale over both by itself).
    static func figures(layer: Int, head: Int, before: Side, after: Side, dpi: Double = dpi) throws -> [Figure] {
        let selection = HeadSelection(layer: layer, heads: .list([head]))
        let sourceBefore = AttentionSource.trace(before.trace, name: before.title)
        let sourceAfter = AttentionSource.trace(after.trace, name: after.title)
        var options = FigureOptions()
        options.dpi = dpi
        options.width = width
        var figures = try [
            (before.title, FigureKind.heatmap, [sourceBefore]),
            (after.title, .heatmap, [sourceAfter]),
            ("\(before.name) (colour) vs \(after.name) (circles)", .compare, [sourceBefore, sourceAfter]),
        ].map { title, kind, sources in
            Figure(title: title, kind: kind, input: try FigureInputs.make(kind: kind, sources: sources, selections: [selection]), options: options)
        }
        let shared = figures.prefix(2).flatMap { $0.input.matrices.flatMap(\.scalars) }.map(Double.init).max()
        for index in figures.indices {
            figures[index].options.title = figures[index].title
            figures[index].options.maximum = shared
        }
        return figures
    }
}
