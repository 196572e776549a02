import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import Foundation

/// The figures (and views) an experiment asks for, written into its run folder, and the links the
/// report shows for each variant.
public enum RunArtifacts {
    /// Writes `figures/<model>/<input>/<variant>-<kind>.png` for each figure kind the experiment
    /// lists: for a perturbed variant, its most-changed head (heatmap) and that head against the
    /// base (compare); for a base variant, the mean of the last layer. Returns the report's links.
    public static func writeFigures(_ experiment: Experiment, result: RunResult) throws -> [String: [(String, String)]] {
        var links: [String: [(String, String)]] = [:]
        guard !experiment.figures.isEmpty else { return links }
        for subject in result.subjects {
            let base = result.subjects.first { $0.model == subject.model && $0.variant.input == subject.variant.input && $0.variant.isBase }
            var selection = HeadSelection.default
            if let base, !subject.variant.isBase, let top = try TraceDiff.compare(base.trace, subject.trace).heads.first {
                selection = HeadSelection(layer: top.layer, heads: .list([top.head]))
            }
            for kind in experiment.figures {
                let sources: [AttentionSource]
                let figureKind: FigureKind
                switch kind {
                case "compare":
                    guard let base, !subject.variant.isBase else { continue }
                    figureKind = .compare
                    sources = [.trace(subject.trace, name: subject.variant.path), .trace(base.trace, name: base.variant.path)]
                case "overview":
                    figureKind = .overview
                    sources = [.trace(subject.trace, name: subject.variant.path)]
                case "regions":
                    figureKind = .regions
                    sources = [.trace(subject.trace, name: subject.variant.path)]
                default:
                    figureKind = .heatmap
                    sources = [.trace(subject.trace, name: subject.variant.path)]
                }
                let relative = "figures/\(subject.model)/\(subject.variant.input)/\(subject.variant.name)-\(kind).png"
                var options = FigureOptions()
                options.dpi = 150
                let input = try FigureInputs.make(kind: figureKind, sources: sources,
                                                  selections: figureKind == .overview ? [] : [selection])
                try FigureRenderer.write(figureKind, input, options: options, to: result.folder.appendingPathComponent(relative))
                links[RunReport.Options.key(model: subject.model, variant: subject.variant.path), default: []].append((kind, relative))
            }
        }
        return links
    }
}
