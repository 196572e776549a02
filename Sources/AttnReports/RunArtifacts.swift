import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import AttnViews
import Foundation

/// The views and figures an experiment asks for, written for each variant while its trace is in
/// memory (`RunOptions.artifacts`), the page of every scan (`RunOptions.scanArtifacts`), and the
/// report, written from the run's files once every group is done (`RunOptions.finish`).
public enum RunArtifacts {
    /// What `attnlab run` hands the executor: views and figures for each variant, the scan views,
    /// and the report.
    public static func options(for experiment: Experiment) -> (artifacts: @Sendable (VariantArtifacts) throws -> [ArtifactLink],
                                                               scans: @Sendable (ScanArtifacts) throws -> Void,
                                                               finish: @Sendable (RunResult) throws -> Void) {
        ({ try write(experiment, $0) }, { try writeScanView(experiment, $0) }, { try writeReport($0.run) })
    }

    /// Writes `report.html` into the run folder.
    public static func writeReport(_ run: RunFolder, options: RunReport.Options = .init()) throws {
        let html = try RunReport.render(run, options: options)
        try AtomicFile.write(Data(html.utf8), to: run.url.appendingPathComponent("report.html"))
    }

    /// Writes `views/<model>/<scan>-scan.html` for a scan of the run: its grid, and each cell's
    /// heads for the target and the source side by side (the report links it when it is there).
    public static func writeScanView(_ experiment: Experiment, _ item: ScanArtifacts) throws {
        let record = item.record
        let relative = try RunPaths.scanView(model: record.model, scan: record.id)
        let options = ScanView.Options(title: "\(experiment.name) · \(record.model) · scan \(record.id)")
        try ScanView.write(record.result, target: item.target, source: item.source, options: options,
                           to: item.folder.appendingPathComponent(relative))
    }

    /// The views and figures of one variant; the links the report shows for it, views first.
    public static func write(_ experiment: Experiment, _ item: VariantArtifacts) throws -> [ArtifactLink] {
        try writeViews(experiment, item) + writeFigures(experiment, item)
    }

    /// Writes `views/<model>/<input>/<variant>-<view>.html` for each view the experiment lists.
    /// `compare` is a perturbed variant's compare view against its base, opened at the head that
    /// changed most.
    public static func writeViews(_ experiment: Experiment, _ item: VariantArtifacts) throws -> [ArtifactLink] {
        let subject = item.subject
        var links: [ArtifactLink] = []
        for view in experiment.views {
            var options = ViewOptions(title: "\(experiment.name) · \(subject.model) · \(subject.variant.path)")
            let kind: ViewKind
            switch view {
            case "model": kind = .model
            case "neuron": kind = .neuron
            case "compare":
                guard let base = item.base, item.diff != nil else { continue }
                kind = .compare
                options.title = "\(experiment.name) · \(subject.model) · \(base.variant.path) → \(subject.variant.path)"
            default: kind = .head
            }
            let relative = try RunPaths.view(model: subject.model, variant: subject.variant, view: view)
            let url = item.folder.appendingPathComponent(relative)
            if kind == .compare, let base = item.base {
                try ViewRenderer.writeComparison(base: base.trace, variant: subject.trace, options: options,
                                                 names: (base.variant.path, subject.variant.path), to: url)
            } else {
                try ViewRenderer.write(subject.trace, view: kind, options: options, to: url)
            }
            links.append(ArtifactLink(kind: view, path: relative))
        }
        return links
    }

    /// Writes `figures/<model>/<input>/<variant>-<kind>.png` for each figure kind the experiment
    /// lists: for a perturbed variant, its most-changed head (heatmap) and that head against the
    /// base (compare); for a base variant, the mean of the last layer.
    public static func writeFigures(_ experiment: Experiment, _ item: VariantArtifacts) throws -> [ArtifactLink] {
        let subject = item.subject
        var links: [ArtifactLink] = []
        var selection = HeadSelection.default
        if let top = item.diff?.heads.first {
            selection = HeadSelection(layer: top.layer, heads: .list([top.head]))
        }
        for kind in experiment.figures {
            let sources: [AttentionSource]
            let figureKind: FigureKind
            switch kind {
            case "compare":
                guard let base = item.base, item.diff != nil else { continue }
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
            let input = try FigureInputs.make(kind: figureKind, sources: sources, selections: figureKind == .overview ? [] : [selection])
            try FigureRenderer.write(figureKind, input, options: options, to: item.folder.appendingPathComponent(relative))
            links.append(ArtifactLink(kind: kind, path: relative))
        }
        return links
    }
}
