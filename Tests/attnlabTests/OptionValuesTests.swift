import Foundation
import Testing

/// Options with a fixed set of values: `--help` lists them, and any other value is bad usage (exit 2)
/// that names the option and its values, before anything is read or run.
@Suite struct OptionValuesTests {
    /// A command line with one bad value, the option as the message names it, and its values.
    static let badValues: [(arguments: [String], option: String, values: [String])] = [
        (["trace", "--model", "m", "--text", "hi", "--task", "translation"], "--task <task>",
         ["similarity", "classification", "masked-lm", "causal-lm", "seq2seq", "attention"]),
        (["trace", "--model", "m", "--text", "hi", "--format", "xml"], "--format <format>", ["safetensors", "json"]),
        (["view", "t.safetensors", "--out", "v.html", "--view", "graph"], "--view <view>", ["head", "model", "neuron", "compare"]),
        (["view", "t.safetensors", "--out", "v.html", "--mode", "dim"], "--mode <mode>", ["dark", "light"]),
        (["view", "t.safetensors", "--out", "v.html", "--stack", "middle"], "--stack <stack>", ["encoder", "decoder", "cross"]),
        (["view", "t.safetensors", "--out", "v.html", "--sentences", "c-d"], "--sentences <sentences>", ["all", "a-a", "b-b", "a-b", "b-a"]),
        (["figure", "t.safetensors", "--out", "f.png", "--kind", "pie"], "--kind <kind>",
         ["heatmap", "cross", "compare", "stability", "evolution", "regions", "overview"]),
        (["figure", "t.safetensors", "--kind", "heatmap", "--format", "gif"], "--format <format>", ["png", "pdf", "svg", "json"]),
        (["figure", "t.safetensors", "--out", "f.png", "--kind", "heatmap", "--stack", "middle"], "--stack <stack>", ["encoder", "decoder", "cross"]),
        (["figure", "t.safetensors", "--out", "f.png", "--kind", "heatmap", "--colormap", "jet"], "--colormap <map>", ["blues", "viridis"]),
        (["figure", "t.safetensors", "--out", "f.png", "--kind", "heatmap", "--mode", "qa"], "--mode <mode>", ["self-attention", "question-context"]),
        (["figure", "t.safetensors", "--out", "f.png", "--kind", "stability", "--interval", "iqr"], "--interval <interval>", ["ci95", "se", "sd"]),
        (["diff", "a.safetensors", "b.safetensors", "--format", "yaml"], "--format <format>", ["text", "json"]),
    ]

    @Test(arguments: badValues)
    func aValueNotAmongThemIsBadUsage(_ arguments: [String], option: String, values: [String]) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 2, "\(arguments): \(result.stderr)")
        let value = arguments.last!
        #expect(result.stderr.contains("The value '\(value)' is invalid for '\(option)'"), "\(result.stderr)")
        for name in values { #expect(result.stderr.contains("'\(name)'") || result.stderr.contains("- \(name)\n"), "\(name): \(result.stderr)") }
        #expect(!result.stderr.contains("error: "), "bad usage, not a failure: \(result.stderr)")
    }

    /// `--help` with its lines joined, as one string.
    static func help(_ command: String) throws -> String {
        let result = try CLI.run([command, "--help"])
        #expect(result.status == 0)
        return result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    @Test func helpListsTheValuesAndTheDefault() throws {
        let view = try Self.help("view")
        #expect(view.contains("--view <view> The view to write (default: head for a trace, scan for a scan file). (values: head, model, neuron, scan, compare)"), "\(view)")
        #expect(view.contains("(values: dark, light; default: dark)"))
        #expect(view.contains("(values: encoder, decoder, cross)"))
        #expect(view.contains("(values: all, a-a, b-b, a-b, b-a; default: all)"))
        let figure = try Self.help("figure")
        #expect(figure.contains("(values: heatmap, cross, compare, stability, evolution, regions, overview, scan)"), "\(figure)")
        #expect(figure.contains("(values: png, pdf, svg, json)"))
        #expect(figure.contains("(values: blues, greens, oranges, purples, reds, greys, ylorrd, viridis, rdbu; default: blues)"))
        #expect(figure.contains("(values: self-attention, question-context; default: self-attention)"))
        #expect(figure.contains("(values: ci95, se, sd; default: ci95)"))
        let trace = try Self.help("trace")
        #expect(trace.contains("(values: similarity, classification, masked-lm, causal-lm, seq2seq, attention)"), "\(trace)")
        #expect(trace.contains("(values: safetensors, json)"))
        #expect(try Self.help("diff").contains("(values: text, json; default: text)"))
    }

    @Test func sentencesAndColourMapsReadInAnyCase() throws {
        // Parsed (the run then fails on the missing file: exit 1, not 2).
        let view = try CLI.run(["view", "/no/such.safetensors", "--out", "v.html", "--sentences", "B-A"])
        #expect(view.status == 1 && view.stderr.hasPrefix("error: "), "\(view.stderr)")
        let figure = try CLI.run(["figure", "/no/such.safetensors", "--out", "f.png", "--kind", "heatmap", "--colormap", "Viridis"])
        #expect(figure.status == 1 && figure.stderr.hasPrefix("error: "), "\(figure.stderr)")
    }
}
