import ArgumentParser
import AttnCore
import AttnDiff
import AttnExperiments
import Foundation

extension AblationMode: ExpressibleByArgument {}
extension ScanResult.Mode: ExpressibleByArgument {}
extension SiteKind: ExpressibleByArgument {}

/// The interventions a command line asks for: `--ablate 5.4 --ablation mean`,
/// `--knockout "terrific>awesome@5"`, `--scale 5.4=2`.
struct InterventionOptions: ParsableArguments {
    @Option(name: .customLong("ablate"), help: ArgumentHelp("Ablate a head's output (repeatable).", valueName: "LAYER.HEAD"))
    var ablate: [String] = []

    @Option(help: "What replaces an ablated head's output: zeros, or its mean over the input's tokens.")
    var ablation: AblationMode = .zero

    @Option(name: .customLong("knockout"),
            help: ArgumentHelp("Cut attention from words X to words Y: X>Y, X>Y@LAYER, X>Y@FIRST-LAST or X>Y@LAYER.HEAD; comma-separated words (repeatable).",
                               valueName: "X>Y@L"))
    var knockout: [String] = []

    @Option(name: .customLong("scale"), help: ArgumentHelp("Multiply a head's output by a factor (repeatable).", valueName: "LAYER.HEAD=FACTOR"))
    var scale: [String] = []

    @Option(help: "The stack the interventions act on (encoder-decoders).")
    var stack: StackKind = .encoder

    func validate() throws {
        if ablation != .zero, ablate.isEmpty {
            throw ValidationError("--ablation \(ablation.rawValue) says how --ablate replaces a head's output; give --ablate LAYER.HEAD too")
        }
        _ = try interventions()
    }

    /// The interventions, in the order: ablations, scalings, knockouts.
    func interventions() throws -> [Intervention] {
        var result: [Intervention] = []
        if !ablate.isEmpty {
            result.append(.ablate(try ablate.map(Self.head), mode: ablation, stack: stack))
        }
        for item in scale {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let factor = Double(parts[1]), factor.isFinite else {
                throw ValidationError("--scale \(item): write LAYER.HEAD=FACTOR, for example 5.4=2")
            }
            result.append(.scale([try Self.head(parts[0])], by: factor, stack: stack))
        }
        for item in knockout { result.append(try Self.knockout(item, stack: stack)) }
        return result
    }

    static func head(_ text: String) throws -> HeadRef {
        guard let head = HeadRef(parsing: text.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\"\(text)\" is not a head; write LAYER.HEAD, both from 0 (5.4)")
        }
        return head
    }

    /// `X>Y`, `X>Y@5`, `X>Y@3-5`, `X>Y@5.4`, with comma-separated word lists.
    static func knockout(_ text: String, stack: StackKind) throws -> Intervention {
        let usage = "--knockout \(text): write FROM>TO, FROM>TO@LAYER, FROM>TO@FIRST-LAST or FROM>TO@LAYER.HEAD"
        let placeSplit = text.split(separator: "@", maxSplits: 1).map(String.init)
        let edge = placeSplit[0].split(separator: ">", omittingEmptySubsequences: false).map(String.init)
        guard edge.count == 2 else { throw ValidationError(usage) }
        let words = { (list: String) in list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        let (from, to) = (words(edge[0]), words(edge[1]))
        guard !from.isEmpty, !to.isEmpty else { throw ValidationError(usage) }
        guard placeSplit.count == 2 else { return .knockout(from: from, to: to, stack: stack) }
        let place = placeSplit[1]
        if let head = HeadRef(parsing: place) { return .knockout(from: from, to: to, heads: [head], stack: stack) }
        if let layer = Int(place), layer >= 0 { return .knockout(from: from, to: to, layers: [layer], stack: stack) }
        let range = place.split(separator: "-").compactMap { Int($0) }
        guard range.count == 2, range[0] >= 0, range[0] <= range[1] else { throw ValidationError(usage) }
        return .knockout(from: from, to: to, layers: Array(range[0] ... range[1]), stack: stack)
    }
}
