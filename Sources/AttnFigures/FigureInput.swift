import AttnCore
import AttnDiff
import Foundation

/// What a figure draws: its matrices and the labels of their rows and columns.
public struct FigureInput: Sendable {
    /// One matrix `[rows, columns]` for heatmap, cross and regions; two for compare; N for stability
    /// and evolution. Unused by the overview.
    public var matrices: [Tensor]
    /// How each matrix is named in errors and titles.
    public var matrixNames: [String]
    public var rowLabels: [String]
    public var columnLabels: [String]
    /// The segment (0 = sentence A, 1 = sentence B) of each row and column, for question-context mode.
    public var rowSegments: [Int]?
    public var columnSegments: [Int]?
    /// Rows and columns to mark as changed (compare of two traces whose words differ).
    public var markedRows: Set<Int> = []
    public var markedColumns: Set<Int> = []
    /// Lines written under the figure (what was left out, how words were read).
    public var notes: [String] = []
    /// The title drawn when the options give none.
    public var defaultTitle: String = ""
    public var rowAxisTitle: String = FigureInput.selfAttentionAxisTitles.rows
    public var columnAxisTitle: String = FigureInput.selfAttentionAxisTitles.columns
    /// The overview's attention `[layers, heads, queries, keys]`.
    public var stack: Tensor?
    /// The scan a scan figure draws (`FigureInputs.scan`).
    public var scan: ScanFigureData?

    /// The axis titles of self-attention and of cross-attention.
    public static let selfAttentionAxisTitles = (rows: "Tokens attending (queries)", columns: "Tokens attended to (keys)")
    public static let crossAttentionAxisTitles = (rows: "Decoder tokens (queries)", columns: "Encoder tokens (keys)")

    public init(matrices: [Tensor], matrixNames: [String]? = nil, rowLabels: [String]? = nil, columnLabels: [String]? = nil,
                rowSegments: [Int]? = nil, columnSegments: [Int]? = nil, stack: Tensor? = nil) {
        self.matrices = matrices
        self.matrixNames = matrixNames ?? matrices.indices.map { matrices.count == 1 ? "the matrix" : "matrix \($0 + 1)" }
        let shape = stack.map { Array($0.shape.suffix(2)) } ?? matrices.first?.shape ?? [0, 0]
        let rows = shape.count == 2 ? shape[0] : 0, columns = shape.count == 2 ? shape[1] : 0
        self.rowLabels = rowLabels ?? (0 ..< rows).map(String.init)
        self.columnLabels = columnLabels ?? (0 ..< columns).map(String.init)
        self.rowSegments = rowSegments
        self.columnSegments = columnSegments
        self.stack = stack
    }
}

/// Where attention comes from: a trace, or an array saved from Python.
public enum AttentionSource: Sendable {
    case trace(Trace, name: String)
    /// `[q, k]`, `[n, q, k]`, `[layers, heads, q, k]` or `[n, layers, heads, q, k]`.
    case array(Tensor, name: String)

    public var name: String {
        switch self {
        case .trace(_, let name), .array(_, let name): name
        }
    }
}

/// One layer and one head, or the mean of several heads.
public struct HeadSelection: Sendable, Equatable {
    public enum Heads: Sendable, Equatable {
        /// The mean of every head of the layer.
        case all
        /// One head, or the mean of several.
        case list([Int])
    }

    /// 0-based; negative counts from the last layer (-1 is the last).
    public var layer: Int
    public var heads: Heads

    public init(layer: Int, heads: Heads) {
        self.layer = layer
        self.heads = heads
    }

    /// The last layer, mean of all heads: what is drawn when no head is named.
    public static let `default` = HeadSelection(layer: -1, heads: .all)

    /// Parses `--head`: a number, numbers separated by commas (their mean), or `mean` / `all`.
    public static func parseHeads(_ text: String) throws -> Heads {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "mean" || trimmed == "all" { return .all }
        let parts = trimmed.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else {
            throw FigureError("cannot read the head \"\(text)\"", location: "--head",
                              hint: "write a head number (0-based), several separated by commas, or mean")
        }
        return .list(parts.map { $0! })
    }

    /// Resolves the selection against a stack of `layers × heads` and returns the layer index and
    /// head indices, or an error naming what exists.
    func resolve(layers: Int, heads headCount: Int, source: String) throws -> (layer: Int, heads: [Int]) {
        let resolvedLayer = layer < 0 ? layers + layer : layer
        guard resolvedLayer >= 0, resolvedLayer < layers else {
            throw FigureError("layer \(layer) does not exist: there are \(layers) layers (0…\(layers - 1))", location: source,
                              hint: "pass --layer between 0 and \(layers - 1), or -1 for the last")
        }
        switch heads {
        case .all:
            return (resolvedLayer, Array(0 ..< headCount))
        case .list(let list):
            for head in list where head < 0 || head >= headCount {
                throw FigureError("head \(head) does not exist: layer \(resolvedLayer) has \(headCount) heads (0…\(headCount - 1))",
                                  location: source, hint: "pass --head between 0 and \(headCount - 1), or mean")
            }
            return (resolvedLayer, list)
        }
    }

    /// "layer 3, head 5", "layer 3, heads 1+2", "layer 5, mean of 12 heads".
    func describe(layer resolvedLayer: Int, heads resolved: [Int], headCount: Int) -> String {
        if resolved.count == 1 { return "layer \(resolvedLayer), head \(resolved[0])" }
        if resolved.count == headCount, heads == .all { return "layer \(resolvedLayer), mean of \(headCount) heads" }
        return "layer \(resolvedLayer), mean of heads \(resolved.map(String.init).joined(separator: "+"))"
    }
}

/// Builds the input of each kind of figure from traces and arrays.
public enum FigureInputs {
    /// The matrices and labels of a figure of `kind`.
    ///
    /// - `sources`: traces and arrays; every matrix is taken from each source for each selection.
    /// - `selections`: layers and heads (empty: the last layer, mean of all heads). A 2-D or 3-D
    ///   array has no layers or heads and takes no selection.
    /// - `stack`: the stack of the traces (default: `cross` for the cross figure, otherwise the
    ///   encoder, or the decoder of a decoder-only trace).
    /// - `labels`: token labels for arrays (default: the first trace's tokens, or indices).
    ///
    /// Compare of two traces whose tokens differ aligns them by words first (`WordAlignment`) and
    /// marks the changed words.
    public static func make(kind: FigureKind, sources: [AttentionSource], selections: [HeadSelection] = [],
                            stack: StackKind? = nil, labels: [String]? = nil) throws -> FigureInput {
        guard !sources.isEmpty else {
            throw FigureError("no attention to draw", hint: "give a trace file, or arrays with --array")
        }
        if kind == .overview { return try overview(sources: sources, selections: selections, stack: stack, labels: labels) }
        if kind == .scan {
            throw FigureError("the scan figure draws a scan, not attention", hint: "give a scan file (`attnlab scan --out scan.json`), or use FigureInputs.scan(…)")
        }

        let traces = sources.compactMap { source -> (Trace, String)? in
            if case .trace(let trace, let name) = source { return (trace, name) }
            return nil
        }
        let stackKind = try resolveStack(kind: kind, requested: stack, traces: traces)

        if kind == .compare, sources.count == 2, traces.count == 2,
           traces[0].0.queryTokens(stackKind).map(\.text) != traces[1].0.queryTokens(stackKind).map(\.text) {
            guard selections.count <= 1 else {
                throw FigureError("two traces with \(selections.count) selections make \(2 * selections.count) matrices; compare draws two",
                                  location: "--layer/--head", hint: "give one --layer and --head for both traces")
            }
            return try wordAlignedCompare(traces[0], traces[1], selection: selections.first ?? .default, stack: stackKind)
        }

        var matrices: [Tensor] = [], names: [String] = [], descriptions: [String] = []
        for source in sources {
            let extracted = try extract(source, selections: selections, stack: stackKind)
            for item in extracted {
                matrices.append(item.matrix)
                names.append(item.name)
                descriptions.append(item.description)
            }
        }
        try checkCount(kind: kind, matrices.count, sources: sources)
        try MatrixCheck.sameShape(matrices, names: names)

        var input = FigureInput(matrices: matrices, matrixNames: names)
        let rows = matrices[0].shape[0], columns = matrices[0].shape[1]
        if let (trace, name) = traces.first {
            let queries = trace.queryTokens(stackKind), keys = trace.keyTokens(stackKind)
            for (other, otherName) in traces.dropFirst() where other.queryTokens(stackKind).map(\.text) != queries.map(\.text) {
                throw FigureError("\(otherName) has other tokens than \(name)",
                                  hint: kind == .compare ? "compare aligns words only between exactly two traces"
                                      : "\(kind.rawValue) figures need traces of the same input")
            }
            guard queries.count == rows, keys.count == columns else {
                throw FigureError("the matrices are \(rows) × \(columns) but \(name) has \(queries.count) × \(keys.count) tokens",
                                  hint: "arrays drawn with a trace's labels must have its token count")
            }
            input.rowLabels = queries.map(label)
            input.columnLabels = keys.map(label)
            input.rowSegments = queries.map(\.segment)
            input.columnSegments = keys.map(\.segment)
        }
        if let labels {
            guard labels.count == rows, labels.count == columns || rows != columns else {
                throw FigureError("\(labels.count) labels for a \(rows) × \(columns) matrix", location: "--labels",
                                  hint: "give one label per row (and column) of the matrix")
            }
            input.rowLabels = labels
            input.columnLabels = labels.count == columns ? labels : (0 ..< columns).map(String.init)
        }
        if stackKind == .cross {
            (input.rowAxisTitle, input.columnAxisTitle) = FigureInput.crossAttentionAxisTitles
        }
        input.defaultTitle = title(kind: kind, descriptions: descriptions, sources: sources, count: matrices.count)
        return input
    }

    // MARK: pieces

    /// A file name without the extensions AttnLab's files carry, for titles.
    static func shortName(_ name: String) -> String {
        for suffix in [".trace.safetensors", ".safetensors", ".npy"] where name.lowercased().hasSuffix(suffix) {
            return String(name.dropLast(suffix.count))
        }
        return name
    }

    static func label(_ token: TraceToken) -> String {
        let display = token.display.trimmingCharacters(in: .whitespaces)
        return display.isEmpty ? token.text : display
    }

    static func resolveStack(kind: FigureKind, requested: StackKind?, traces: [(Trace, String)]) throws -> StackKind {
        if let requested {
            if kind == .cross && requested != .cross {
                throw FigureError("the cross figure draws the cross stack, not \(requested.rawValue)", location: "--stack")
            }
            return requested
        }
        if kind == .cross {
            for (trace, name) in traces where trace.stacks[.cross] == nil {
                throw FigureError("\(name) has no cross-attention (stacks: \(trace.stacks.keys.sorted().map(\.rawValue).joined(separator: ", ")))",
                                  hint: "the cross figure needs an encoder-decoder trace; use --kind heatmap for self-attention")
            }
            return .cross
        }
        if let first = traces.first?.0, first.stacks[.encoder] == nil, first.stacks[.decoder] != nil { return .decoder }
        return .encoder
    }

    struct Extracted {
        var matrix: Tensor
        var name: String
        var description: String
    }

    /// The matrices one source gives for the selections.
    static func extract(_ source: AttentionSource, selections: [HeadSelection], stack: StackKind) throws -> [Extracted] {
        switch source {
        case .trace(let trace, let name):
            guard let attention = trace.stacks[stack]?.attention else {
                throw FigureError("the trace has no \(stack.rawValue) attention (stacks: \(trace.stacks.keys.sorted().map(\.rawValue).joined(separator: ", ")))",
                                  location: name, hint: "choose one of its stacks with --stack")
            }
            return try (selections.isEmpty ? [.default] : selections).map { selection in
                let (matrix, description) = try select(attention, selection: selection, source: name)
                return Extracted(matrix: matrix, name: "\(description) of \(name)", description: description)
            }
        case .array(let array, let name):
            switch array.rank {
            case 2, 3:
                guard selections.isEmpty else {
                    throw FigureError("a \(array.rank)-D array \(array.shape) has no layers or heads", location: name,
                                      hint: "drop --layer and --head, or save the array as [layers, heads, queries, keys]")
                }
                if array.rank == 2 { return [Extracted(matrix: array, name: name, description: name)] }
                return (0 ..< array.shape[0]).map { Extracted(matrix: array[$0], name: "\(name)[\($0)]", description: "\(name)[\($0)]") }
            case 4:
                return try (selections.isEmpty ? [.default] : selections).map { selection in
                    let (matrix, description) = try select(array, selection: selection, source: name)
                    return Extracted(matrix: matrix, name: "\(description) of \(name)", description: description)
                }
            case 5:
                return try (0 ..< array.shape[0]).flatMap { index in
                    try (selections.isEmpty ? [.default] : selections).map { selection in
                        let (matrix, description) = try select(array[index], selection: selection, source: "\(name)[\(index)]")
                        return Extracted(matrix: matrix, name: "\(description) of \(name)[\(index)]", description: description)
                    }
                }
            default:
                throw FigureError("the array has shape \(array.shape)", location: name,
                                  hint: "give [queries, keys], [runs, queries, keys], [layers, heads, queries, keys] or [runs, layers, heads, queries, keys]")
            }
        }
    }

    /// One layer's chosen head, or the mean of its chosen heads, of `[layers, heads, q, k]`.
    static func select(_ attention: Tensor, selection: HeadSelection, source: String) throws -> (Tensor, String) {
        guard attention.rank == 4 else {
            throw FigureError("attention has shape \(attention.shape), not [layers, heads, queries, keys]", location: source)
        }
        let (layers, headCount, rows, columns) = (attention.shape[0], attention.shape[1], attention.shape[2], attention.shape[3])
        guard layers > 0, headCount > 0 else {
            throw FigureError("attention has shape \(attention.shape): no layers or no heads", location: source)
        }
        let (layer, heads) = try selection.resolve(layers: layers, heads: headCount, source: source)
        let size = rows * columns
        var scalars = [Float](repeating: 0, count: size)
        attention.withUnsafeBufferPointer { all in
            for head in heads {
                let base = (layer * headCount + head) * size
                for i in 0 ..< size { scalars[i] += all[base + i] }
            }
        }
        if heads.count > 1 {
            let scale = 1 / Float(heads.count)
            for i in 0 ..< size { scalars[i] *= scale }
        }
        return (Tensor(shape: [rows, columns], scalars: scalars), selection.describe(layer: layer, heads: heads, headCount: headCount))
    }

    static func checkCount(kind: FigureKind, _ count: Int, sources: [AttentionSource]) throws {
        let from = sources.map(\.name).joined(separator: ", ")
        switch kind {
        case .heatmap, .cross, .regions:
            guard count == 1 else {
                throw FigureError("the \(kind.rawValue) figure draws one matrix, but \(from) gave \(count)",
                                  hint: "pass one trace with one --layer/--head, or use --kind compare, stability or evolution")
            }
        case .compare:
            guard count == 2 else {
                throw FigureError("the compare figure needs two matrices, but \(from) gave \(count)",
                                  hint: "pass two traces, two arrays, or one trace with two --layer/--head selections")
            }
        case .stability, .evolution:
            guard count >= 2 else {
                throw FigureError("the \(kind.rawValue) figure needs two or more matrices, but \(from) gave \(count)",
                                  hint: "pass several traces, several arrays, or one array of shape [n, queries, keys]")
            }
        case .overview, .scan:
            break
        }
    }

    static func title(kind: FigureKind, descriptions: [String], sources: [AttentionSource], count: Int) -> String {
        let model: String = {
            for source in sources {
                if case .trace(let trace, _) = source, trace.provenance.model != "imported" {
                    return String(trace.provenance.model.split(separator: "/").last ?? "")
                }
            }
            return shortName(sources[0].name)
        }()
        var unique: [String] = []
        for description in descriptions where !unique.contains(description) { unique.append(description) }
        let what = unique.count == 1 ? unique[0] : ""
        switch kind {
        case .heatmap, .cross, .regions:
            return ([model, what] + (kind == .regions ? ["key regions"] : [])).filter { !$0.isEmpty }.joined(separator: " · ")
        case .compare:
            if sources.count == 1, descriptions.count == 2 {
                return "\(model) · A: \(descriptions[0]) · B: \(descriptions[1])"
            }
            return "A: \(shortName(sources[0].name)) · B: \(shortName(sources[sources.count - 1].name))" + (what.isEmpty ? "" : " · \(what)")
        case .stability:
            return "Stability over \(count) runs" + (what.isEmpty ? "" : " · \(what)")
        case .evolution:
            return "Evolution over \(count) checkpoints" + (what.isEmpty ? "" : " · \(what)")
        case .overview, .scan:
            return model
        }
    }

    /// Compare of two traces whose words differ: both read word by word over the words they share.
    static func wordAlignedCompare(_ a: (Trace, String), _ b: (Trace, String), selection: HeadSelection,
                                   stack: StackKind) throws -> FigureInput {
        guard stack == .encoder else {
            throw FigureError("traces with different tokens can be compared only on the encoder stack", location: "--stack")
        }
        for (trace, name) in [a, b] where trace.stacks[.encoder] == nil {
            throw FigureError("the trace has no encoder attention", location: name)
        }
        let alignment = WordAlignment(a.0, b.0)
        let (matrixA, descriptionA) = try select(a.0.stacks[.encoder]!.attention, selection: selection, source: a.1)
        let (matrixB, descriptionB) = try select(b.0.stacks[.encoder]!.attention, selection: selection, source: b.1)
        try MatrixCheck.matrix(matrixA, name: "\(descriptionA) of \(a.1)")
        try MatrixCheck.matrix(matrixB, name: "\(descriptionB) of \(b.1)")
        let wordsA: Tensor, wordsB: Tensor
        do {
            wordsA = try alignment.wordMatrix(matrixA, side: .a)
            wordsB = try alignment.wordMatrix(matrixB, side: .b)
        } catch let error as CoreError {
            throw FigureError(error.message, hint: error.hint)
        }
        let common = alignment.commonPairs
        var labels: [String] = [], marked: Set<Int> = []
        for (index, pair) in common.enumerated() {
            let left = alignment.wordsA[pair.a!], right = alignment.wordsB[pair.b!]
            if pair.status == .changed {
                labels.append("\(left.text)→\(right.text)")
                marked.insert(index)
            } else {
                labels.append(left.text)
            }
        }
        var input = FigureInput(matrices: [wordsA, wordsB],
                                matrixNames: ["\(descriptionA) of \(a.1) (by words)", "\(descriptionB) of \(b.1) (by words)"],
                                rowLabels: labels, columnLabels: labels,
                                rowSegments: common.map { alignment.wordsA[$0.a!].segment },
                                columnSegments: common.map { alignment.wordsA[$0.a!].segment })
        input.markedRows = marked
        input.markedColumns = marked
        input.rowAxisTitle = "Words attending (queries)"
        input.columnAxisTitle = "Words attended to (keys)"
        input.defaultTitle = "A: \(shortName(a.1)) · B: \(shortName(b.1)) · \(descriptionA)"
        input.notes.append("Aligned by words: a row averages its word's tokens, a column sums them.")
        let deleted = alignment.pairs.filter { $0.status == .deleted }.map { alignment.wordsA[$0.a!].text }
        let inserted = alignment.pairs.filter { $0.status == .inserted }.map { alignment.wordsB[$0.b!].text }
        if !deleted.isEmpty { input.notes.append("Only in A, not drawn: \(deleted.joined(separator: ", ")).") }
        if !inserted.isEmpty { input.notes.append("Only in B, not drawn: \(inserted.joined(separator: ", ")).") }
        return input
    }

    static func overview(sources: [AttentionSource], selections: [HeadSelection], stack: StackKind?, labels: [String]?) throws -> FigureInput {
        guard sources.count == 1 else {
            throw FigureError("the overview draws one trace, got \(sources.count) sources", hint: "pass one trace or one [layers, heads, q, k] array")
        }
        guard selections.isEmpty else {
            throw FigureError("the overview draws every layer and head", location: "--layer/--head", hint: "drop --layer and --head")
        }
        switch sources[0] {
        case .trace(let trace, let name):
            let kind = try resolveStack(kind: .overview, requested: stack, traces: [(trace, name)])
            guard let attention = trace.stacks[kind]?.attention else {
                throw FigureError("the trace has no \(kind.rawValue) attention", location: name, hint: "choose one of its stacks with --stack")
            }
            try checkStack(attention, name: name)
            var input = FigureInput(matrices: [], matrixNames: [], rowLabels: trace.queryTokens(kind).map(label),
                                    columnLabels: trace.keyTokens(kind).map(label), stack: attention)
            input.defaultTitle = "\(title(kind: .overview, descriptions: [], sources: sources, count: 0)) · \(kind.rawValue) attention, every layer × head"
            return input
        case .array(let array, let name):
            try checkStack(array, name: name)
            var input = FigureInput(matrices: [], matrixNames: [], rowLabels: labels, columnLabels: labels, stack: array)
            input.defaultTitle = "\(shortName(name)) · every layer × head"
            return input
        }
    }

    static func checkStack(_ attention: Tensor, name: String) throws {
        guard attention.rank == 4 else {
            throw FigureError("the overview needs [layers, heads, queries, keys], got shape \(attention.shape)", location: name)
        }
        guard attention.shape.allSatisfy({ $0 > 0 }) else {
            throw FigureError("the attention is empty (shape \(attention.shape))", location: name)
        }
        if let bad = attention.scalars.firstIndex(where: { !$0.isFinite }) {
            let s = attention.shape
            let k = bad % s[3], q = (bad / s[3]) % s[2], h = (bad / (s[3] * s[2])) % s[1], l = bad / (s[3] * s[2] * s[1])
            throw FigureError("the attention holds \(attention.scalars[bad].isNaN ? "NaN" : "an infinite value") at layer \(l), head \(h), row \(q), column \(k)",
                              location: name)
        }
    }
}
