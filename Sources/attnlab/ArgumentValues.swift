import ArgumentParser
import AttnCore
import AttnFigures
import AttnModels
import AttnViews

// Options with a fixed set of values are read as enums: `--help` lists the values, and a value not
// among them is bad usage (exit 2, with the values listed). The library's enums are declared
// `ExpressibleByArgument` here, where the command line is, so that no library module depends on
// the argument parser.

extension ModelTask: ExpressibleByArgument {}
extension StackKind: ExpressibleByArgument {}
extension ViewKind: ExpressibleByArgument {}
extension DisplayMode: ExpressibleByArgument {}
extension SinkDisplay: ExpressibleByArgument {}
extension FigureKind: ExpressibleByArgument {}
extension HeatmapMode: ExpressibleByArgument {}
extension StabilityInterval: ExpressibleByArgument {}

extension SentenceFilter: ExpressibleByArgument {
    /// `A-B` reads as `a-b`.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension ColorMapName: ExpressibleByArgument {
    /// `Viridis` reads as `viridis`.
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `attnlab trace --format`.
enum TraceFormat: String, CaseIterable, ExpressibleByArgument {
    case safetensors, json
}

/// `attnlab diff --format`.
enum DiffFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

/// `attnlab figure --format`: a figure format, or the detected regions as JSON.
enum FigureOutputFormat: String, CaseIterable, ExpressibleByArgument {
    case png, pdf, svg, json
}
