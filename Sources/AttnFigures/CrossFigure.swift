import AttnCore
import Foundation

/// Cross-attention of an encoder-decoder trace: decoder tokens (queries, rows) × encoder tokens
/// (keys, columns). It is drawn as the heatmap is (top cells, gamma, boxes); the axes may differ
/// in length, and question-context mode does not apply.
enum CrossFigure {
    static func draw(_ input: FigureInput, options: FigureOptions, format: FigureFormat) throws -> RenderedFigure {
        guard options.mode == .selfAttention else {
            throw FigureError("question-context mode splits a sentence pair; the cross figure's axes are decoder and encoder tokens",
                              location: "--mode", hint: "drop --mode")
        }
        var input = input
        // An input built by hand keeps the self-attention titles unless it names its own.
        if (input.rowAxisTitle, input.columnAxisTitle) == FigureInput.selfAttentionAxisTitles {
            (input.rowAxisTitle, input.columnAxisTitle) = FigureInput.crossAttentionAxisTitles
        }
        return try HeatmapFigure.draw(input, options: options, format: format)
    }
}
