import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import AttnViews
import Foundation

/// The views and figures an experiment asks for, written into its run folder, and the links the
/// report shows for each variant.
public enum RunArtifacts {
    /// Views, figures and `report.html` of a run, written into its folder: the staging folder
    /// `Executor` renames into place afterwards (`RunOptions.finish`).
    public static func writeAll(_ experiment: Experiment, result: RunResult) throws {
        let comparisons = try RunComparisons(result.subjects)
        var options = RunReport.Options()
        options.viewLinks = try write(experiment, result: result, comparisons: comparisons)
        let report = try RunReport.render(result.manifest, subjects: result.subjects, options: options, comparisons: comparisons)
        try AtomicFile.write(Data(report.utf8), to: result.folder.appendingPathComponent("report.html"))
    }

    /// Views and figures of every variant; the report's links, views first.
    public static func write(_ experiment: Experiment, result: RunResult, comparisons: RunComparisons) throws -> [String: [(String, String)]] {
        let views = try writeViews(experiment, result: result, comparisons: comparisons)
        let figures = try writeFigures(experiment, result: result, comparisons: comparisons)
        return views.merging(figures) { $0 + $1 }
    }

    /// Writes `views/<model>/<input>/<variant>-<view>.html` for each view the experiment lists.
    /// `compare` is a perturbed variant's compare view against its base, opened at the head that
    /// changed most.
    public static func writeViews(_ experiment: Experiment, result: RunResult, comparisons: RunComparisons) throws -> [String: [(String, String)]] {
        var links: [String: [(String, String)]] = [:]
        for subject in result.subjects {
            let comparison = comparisons.of(subject)
            for view in experiment.views {
                var options = ViewOptions(title: "\(experiment.name) · \(subject.model) · \(subject.variant.path)")
                let kind: ViewKind
                switch view {
                case "model": kind = .model
                case "neuron": kind = .neuron
                case "compare":
                    guard let base = comparison?.base else { continue }
                    kind = .compare
                    options.title = "\(experiment.name) · \(subject.model) · \(base.variant.path) → \(subject.variant.path)"
                default: kind = .head
                }
                let relative = try RunPaths.view(model: subject.model, variant: subject.variant, view: view)
                let url = result.folder.appendingPathComponent(relative)
                if kind == .compare, let base = comparison?.base {
                    try ViewRenderer.writeComparison(base: base.trace, variant: subject.trace, options: options,
                                                     names: (base.variant.path, subject.variant.path), to: url)
                } else {
                    try ViewRenderer.write(subject.trace, view: kind, options: options, to: url)
                }
                links[RunReport.Options.key(model: subject.model, variant: subject.variant.path), default: []].append((view, relative))
            }
        }
        return links
    }

    /// Writes `figures/<model>/<input>/<variant>-<kind>.png` for each figure kind the experiment
    /// lists: for a perturbed variant, its most-changed head (heatmap) and that head against the
    /// base (compare); for a base variant, the mean of the last layer. Returns the report's links.
    public static func writeFigures(_ experiment: Experiment, result: RunResult, comparisons: RunComparisons) throws -> [String: [(String, String)]] {
        var links: [String: [(String, String)]] = [:]
        guard !experiment.figures.isEmpty else { return links }
        for subject in result.subjects {
            let comparison = comparisons.of(subject)
            var selection = HeadSelection.default
            if let top = comparison?.diff.heads.first {
                selection = HeadSelection(layer: top.layer, heads: .list([top.head]))
            }
            for kind in experiment.figures {
                let sources: [AttentionSource]
                let figureKind: FigureKind
                switch kind {
                case "compare":
                    guard let base = comparison?.base else { continue }
                    figureKind = .compare
                    // A is the base, B the variant: the cells are the base, the circles the variant.
                    sources = [.trace(base.trace, name: base.variant.path), .trace(subject.trace, name: subject.variant.path)]
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
                let relative = try RunPaths.figure(model: subject.model, variant: subject.variant, kind: kind)
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
