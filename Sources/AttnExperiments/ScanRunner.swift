import AttnCore
import AttnDiff
import AttnModels
import Dispatch
import Foundation

/// What to scan: which site of which stack, patched from a source variant or ablated, measured by
/// which output, over which layers, on how many threads.
public struct ScanSpec: Sendable, Equatable {
    /// `head` (layer × head), or `resid`, `attn`, `mlp` (layer × word).
    public var site: SiteKind
    public var stack: StackKind
    public var mode: ScanResult.Mode
    public var metric: OutputMetric
    /// The layers scanned (nil: all).
    public var layers: [Int]?
    public var threads: Int

    public init(site: SiteKind = .head, stack: StackKind = .encoder, mode: ScanResult.Mode = .patch, metric: OutputMetric,
                layers: [Int]? = nil, threads: Int = 1) {
        self.site = site
        self.stack = stack
        self.mode = mode
        self.metric = metric
        self.layers = layers
        self.threads = max(1, threads)
    }
}

/// Runs a scan: one patched (or ablated) forward pass per cell, each reusing what the cell cannot
/// change. The target's residual stream is kept at every layer once, so the pass of a cell in
/// layer l starts at layer l; a pass whose tokens are the same in source and target (sentence A of
/// a similarity pair whose B was perturbed) is not run again at all.
public enum ScanRunner {
    public static func run(_ spec: ScanSpec, model: LoadedModel, target: TraceRequest, source: TraceRequest?,
                           names: (target: String, source: String?)) throws -> ScanResult {
        let task = target.task ?? model.defaultTask(for: target)
        try spec.metric.check(task: task, labels: model.model.labels)
        guard [.head, .residual, .attention, .mlp].contains(spec.site) else {
            throw ExperimentError("a scan runs over head, resid, attn or mlp sites, not \(spec.site.rawValue)")
        }
        guard SiteKind.available(in: spec.stack).contains(spec.site) else {
            throw ExperimentError("the \(spec.stack.rawValue) stack has no \(spec.site.rawValue) site")
        }
        let stacks: Set<StackKind> = model.model.taskHeads.contains(.seq2seq) ? [.encoder, .decoder, .cross] : [.encoder]
        guard stacks.contains(spec.stack) else {
            throw ExperimentError("this \(model.modelType) model has no \(spec.stack.rawValue) stack")
        }
        if spec.mode == .patch, source == nil { throw ExperimentError("a patching scan needs a source variant") }
        let summary = model.model.summary
        let layers = spec.layers ?? Array(0 ..< summary.layers)
        if let bad = layers.first(where: { $0 < 0 || $0 >= summary.layers }) {
            throw ExperimentError("layer \(bad) is out of range (the model has layers 0–\(summary.layers - 1))")
        }
        func prepared(_ request: TraceRequest) -> TraceRequest {
            var request = request
            request.task = task
            request.threads = 1
            request.watchedTokens = Array(Set(request.watchedTokens + spec.metric.watchedTokens)).sorted()
            return request
        }
        let targetRequest = prepared(target)
        let sourceRequest = source.map(prepared)
        let targetPasses = try model.passes(for: targetRequest)
        let sourcePasses = try sourceRequest.map { try model.passes(for: $0) }
        let roles = model.outputPasses(targetRequest, targetPasses).map(\.role)

        // The target's residual stream entering every layer, and the source's values at the site.
        var baseline: [PassRole: ModelOutput] = [:], residuals: [PassRole: SitePlan] = [:]
        var sourceOutputs: [PassRole: ModelOutput] = [:], sourceValues: [PassRole: SitePlan] = [:]
        let allLayers = Array(0 ..< summary.layers)
        for pass in targetPasses where roles.contains(pass.role) {
            let plan = SitePlan(record: Set(allLayers.map { Site(spec.stack, $0, .residual) }))
            baseline[pass.role] = try model.run(pass, threads: 1, planner: { _ in plan })
            residuals[pass.role] = plan
        }
        for pass in sourcePasses ?? [] where roles.contains(pass.role) {
            let plan = SitePlan(record: Set(layers.map { Site(spec.stack, $0, spec.site) }))
            sourceOutputs[pass.role] = try model.run(pass, threads: 1, planner: { _ in plan })
            sourceValues[pass.role] = plan
        }
        func value(_ request: TraceRequest, _ passes: [PassInput], _ forward: (PassInput) throws -> ModelOutput) throws -> Double {
            try spec.metric.value(model.outputs(request, passes: passes, forward: forward).outputs, task: task)
        }
        let targetValue = try value(targetRequest, targetPasses) { baseline[$0.role]! }
        let sourceValue = try sourceRequest.map { request in try value(request, sourcePasses!) { sourceOutputs[$0.role]! } }

        // Columns: heads, or the words of the target (for similarity, the words of the two sentences).
        let passByRole = Dictionary(uniqueKeysWithValues: targetPasses.map { ($0.role, $0) })
        let sourceByRole = Dictionary(uniqueKeysWithValues: (sourcePasses ?? []).map { ($0.role, $0) })
        let columns: [ScanColumn]
        if spec.site == .head {
            columns = (0 ..< summary.heads).map { ScanColumn(label: "\($0)", head: $0, positions: [:]) }
        } else {
            columns = wordColumns(roles: roles, passes: passByRole, pair: target.b != nil)
        }
        // Which source token each target token reads, per pass.
        var mappings: [PassRole: [Int: Int]] = [:]
        for role in roles {
            guard let targetPass = passByRole[role] else { continue }
            if let sourcePass = sourceByRole[role] {
                mappings[role] = tokenMapping(target: targetPass, source: sourcePass)
            }
        }
        let unchanged = Set(roles.filter { role in
            spec.mode == .patch && passByRole[role]?.encoding.ids == sourceByRole[role]?.encoding.ids
        })

        // One measurement per cell, spread over the threads (each pass on one thread).
        let cells = layers.flatMap { layer in columns.indices.map { (layer, $0) } }
        let slots = UnsafeMutableBufferPointer<Double>.allocate(capacity: cells.count)
        defer { slots.deallocate() }
        let failures = UnsafeMutableBufferPointer<Bool>.allocate(capacity: cells.count)
        defer { failures.deallocate() }
        failures.initialize(repeating: false)
        let errors = ErrorBox()
        let next = CellCounter()
        BLAS.setThreads(1)
        DispatchQueue.concurrentPerform(iterations: min(spec.threads, max(cells.count, 1))) { _ in
            while let index = next.take(below: cells.count) {
                let (layer, columnIndex) = cells[index]
                let column = columns[columnIndex]
                do {
                    var skipped = false
                    let patched = try value(targetRequest, targetPasses) { pass in
                        guard roles.contains(pass.role), !unchanged.contains(pass.role) else { return baseline[pass.role]! }
                        guard let edits = edits(spec, layer: layer, column: column, role: pass.role,
                                                mapping: mappings[pass.role], source: sourceValues[pass.role]) else {
                            skipped = true
                            return baseline[pass.role]!
                        }
                        if edits.isEmpty { return baseline[pass.role]! }
                        let residual = residuals[pass.role]!.recording(Site(spec.stack, layer, .residual))!
                        let resume = Tensor(shape: [residual.rows, residual.columns], scalars: residual.values)
                        let plan = SitePlan(edits: edits, resume: [spec.stack: (layer, resume)])
                        return try model.run(pass, threads: 1, planner: { _ in plan })
                    }
                    slots[index] = patched - targetValue
                    failures[index] = skipped
                } catch {
                    errors.keep(error)
                    slots[index] = .nan
                }
            }
        }
        if let error = errors.first { throw error }
        let effects = layers.indices.map { row in columns.indices.map { slots[row * columns.count + $0] } }
        let skipped = cells.indices.filter { failures[$0] }.map { "\(cells[$0].0),\(cells[$0].1)" }
        return ScanResult(stack: spec.stack, site: spec.site, mode: spec.mode, metric: spec.metric.description,
                          target: names.target, source: spec.mode == .patch ? names.source : nil,
                          targetValue: targetValue, sourceValue: spec.mode == .patch ? sourceValue : nil,
                          layers: layers, columns: columns.map(\.label), effects: effects, skipped: skipped)
    }

    /// A column of a scan: a head, or a word with its token positions in each pass.
    struct ScanColumn {
        var label: String
        var head: Int?
        var positions: [PassRole: [Int]]
    }

    /// The words of the passes the output reads, each sentence's in order (`A:the`, `B:sick`):
    /// special tokens only where the joint pass is read.
    static func wordColumns(roles: [PassRole], passes: [PassRole: PassInput], pair: Bool) -> [ScanColumn] {
        var columns: [ScanColumn] = []
        for role in roles {
            guard let pass = passes[role] else { continue }
            for word in TraceWords.group(pass.encoding.tokens, inputs: pass.inputs) where role == .joint || !word.special {
                let prefix = pair && !word.special ? (word.segment == 0 ? "A:" : "B:") : ""
                columns.append(ScanColumn(label: prefix + word.text, head: nil, positions: [role: word.tokens]))
            }
        }
        // Repeated words keep their place: a second "the" is "the#2".
        var seen: [String: Int] = [:]
        return columns.map { column in
            var column = column
            seen[column.label, default: 0] += 1
            if seen[column.label]! > 1 { column.label += "#\(seen[column.label]!)" }
            return column
        }
    }

    /// Target token → source token, through the words of the two inputs (same token counts: identity).
    static func tokenMapping(target: PassInput, source: PassInput) -> [Int: Int] {
        if target.encoding.count == source.encoding.count {
            return Dictionary(uniqueKeysWithValues: (0 ..< target.encoding.count).map { ($0, $0) })
        }
        let alignment = WordAlignment(tokensA: source.encoding.tokens, inputsA: source.inputs,
                                      tokensB: target.encoding.tokens, inputsB: target.inputs)
        var mapping: [Int: Int] = [:]
        for pair in alignment.pairs {
            guard let a = pair.a, let b = pair.b else { continue }
            let (from, to) = (alignment.wordsA[a].tokens, alignment.wordsB[b].tokens)
            if from.count == to.count { for (s, t) in zip(from, to) { mapping[t] = s } }
        }
        return mapping
    }

    /// The edits of one cell in one pass: empty when the cell does not touch this pass (a word of
    /// the other sentence); nil when it cannot be patched (a word without a counterpart).
    static func edits(_ spec: ScanSpec, layer: Int, column: ScanColumn, role: PassRole, mapping: [Int: Int]?,
                      source: SitePlan?) -> [SiteEdit]? {
        let site = Site(spec.stack, layer, spec.site)
        if let head = column.head {
            switch spec.mode {
            case .ablate:
                return [.headOutput(stack: spec.stack, layer: layer, head: head, change: .zero)]
            case .patch:
                guard let values = source?.recording(site), let mapping else { return nil }
                let rows = mapping.keys.sorted().map { RowMapping(target: $0, source: mapping[$0]!) }
                return [.copy(site: site, heads: [head], rows: rows, from: values)]
            }
        }
        guard let positions = column.positions[role] else { return [] }
        switch spec.mode {
        case .ablate:
            return [.zeroRows(site: site, rows: positions)]
        case .patch:
            guard let values = source?.recording(site), let mapping, positions.allSatisfy({ mapping[$0] != nil }) else { return nil }
            return [.copy(site: site, heads: nil, rows: positions.map { RowMapping(target: $0, source: mapping[$0]!) }, from: values)]
        }
    }
}

/// Hands out cell indices to the scan's threads.
private final class CellCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    func take(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        defer { next += 1 }
        return next
    }
}

/// The first error any thread met.
private final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var first: Error?

    func keep(_ error: Error) {
        lock.lock()
        defer { lock.unlock() }
        if first == nil { first = error }
    }
}
