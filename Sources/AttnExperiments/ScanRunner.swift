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
/// layer l starts at layer l, batched with the other cells of that layer; a pass whose tokens are
/// the same in source and target (sentence A of a similarity pair whose B was perturbed) is not
/// run again at all.
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

        // The cells' passes, a batch per layer (split where it would hold too many rows): the
        // cells of one layer all resume there, so each batch reads every weight once for all of
        // them. Batches are fixed by the plan, not by the threads, so the bits are the same on
        // any number of threads; each batch runs whole on one thread.
        let cells = layers.flatMap { layer in columns.indices.map { (layer, $0) } }
        var batches: [[CellPass]] = []
        var skippedCells = Set<Int>()
        for (row, layer) in layers.enumerated() {
            var batch: [CellPass] = [], rows = 0
            // The target's residual stream entering this layer, once per pass: every cell resumes from it.
            var resumes: [PassRole: Tensor] = [:]
            for role in roles where !unchanged.contains(role) {
                let residual = residuals[role]!.recording(Site(spec.stack, layer, .residual))!
                resumes[role] = Tensor(shape: [residual.rows, residual.columns], scalars: residual.values)
            }
            for columnIndex in columns.indices {
                let cell = row * columns.count + columnIndex
                for role in roles where !unchanged.contains(role) {
                    guard let edits = edits(spec, layer: layer, column: columns[columnIndex], role: role,
                                            mapping: mappings[role], source: sourceValues[role]) else {
                        skippedCells.insert(cell)
                        continue
                    }
                    if edits.isEmpty { continue }
                    let pass = passByRole[role]!
                    if !batch.isEmpty, rows + pass.encoding.count > scanBatchRows || batch.count == scanBatchPasses {
                        batches.append(batch)
                        (batch, rows) = ([], 0)
                    }
                    batch.append(CellPass(cell: cell, role: role, pass: pass,
                                          plan: SitePlan(edits: edits, resume: [spec.stack: (layer, resumes[role]!)])))
                    rows += pass.encoding.count
                }
            }
            if !batch.isEmpty { batches.append(batch) }
        }
        let outputs = UnsafeMutableBufferPointer<[PassRole: ModelOutput]>.allocate(capacity: cells.count)
        outputs.initialize(repeating: [:])
        defer {
            _ = outputs.deinitialize()
            outputs.deallocate()
        }
        let errors = ErrorBox()
        let next = CellCounter()
        BLAS.setThreads(1)
        DispatchQueue.concurrentPerform(iterations: min(spec.threads, max(batches.count, 1))) { _ in
            while let index = next.take(below: batches.count) {
                let batch = batches[index]
                do {
                    let results = try model.run(batch: batch.map(\.pass), visitors: batch.map(\.plan), threads: 1)
                    // Each cell is in one batch only: its slot is written by this thread alone. The
                    // outputs read the last hidden states only: the captures are dropped at once.
                    for (cellPass, output) in zip(batch, results) {
                        outputs[cellPass.cell][cellPass.role] = ModelOutput(stacks: [:], lastHidden: output.lastHidden)
                    }
                } catch {
                    errors.keep(error)
                }
            }
        }
        if let error = errors.first { throw error }
        var slots = [Double](repeating: .nan, count: cells.count)
        for index in cells.indices {
            let patched = try value(targetRequest, targetPasses) { pass in outputs[index][pass.role] ?? baseline[pass.role]! }
            slots[index] = patched - targetValue
        }
        let effects = layers.indices.map { row in columns.indices.map { slots[row * columns.count + $0] } }
        let skipped = cells.indices.filter { skippedCells.contains($0) }.map { "\(cells[$0].0),\(cells[$0].1)" }
        return ScanResult(stack: spec.stack, site: spec.site, mode: spec.mode, metric: spec.metric.description,
                          target: names.target, source: spec.mode == .patch ? names.source : nil,
                          targetValue: targetValue, sourceValue: spec.mode == .patch ? sourceValue : nil,
                          layers: layers, columns: columns.map(\.label), effects: effects, skipped: skipped)
    }

    /// One pass of one cell: the pass of a role, with the cell's edits, resuming at its layer.
    struct CellPass {
        var cell: Int
        var role: PassRole
        var pass: PassInput
        var plan: SitePlan
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

/// A batch of a scan's passes holds at most this many token rows and passes: enough rows that a
/// product of the small layers runs near the machine's sgemm speed, few enough that the captures
/// each pass allocates stay small.
let scanBatchRows = 512
let scanBatchPasses = 32

/// Hands out batch indices to the scan's threads.
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
