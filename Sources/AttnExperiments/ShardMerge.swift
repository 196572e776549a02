import AttnCore
import Foundation

/// Merges the shards of a run (`attnlab run x.yaml --shard I/N`) into one run: the variant
/// records, expectation results, scans and attributions in shard order (which is the unsharded
/// run's order), the traces and views linked (or copied), and the manifest summarised again from
/// the merged records, so that it is the unsharded run's but for `timing`. Shards of different
/// experiments, weights, storage or AttnLab versions are refused, as are a missing or a repeated shard.
public enum ShardMerge {
    /// Merges `shards` (their folders) into `output`, written whole under a temporary name and
    /// renamed into place; `finish` adds the report into the staging folder first.
    public static func merge(_ shards: [URL], into output: URL, finish: (@Sendable (RunResult) throws -> Void)? = nil) throws -> RunResult {
        guard !shards.isEmpty else { throw ExperimentError("no shard to merge", hint: "give the shard folders, <run-id>.shard-1-of-N …") }
        let runs = try shards.map { url -> RunFolder in
            let run = try RunFolder(url)
            guard run.manifest.shard != nil else {
                throw ExperimentError("not a shard: its manifest has no shard", location: url.path,
                                      hint: "give the folders `attnlab run --shard I/N` wrote (<run-id>.shard-I-of-N)")
            }
            return run
        }
        let ordered = try check(runs)
        let first = ordered[0].manifest

        let fm = FileManager.default
        let staging = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).partial-\(getpid())")
        try? fm.removeItem(at: staging)
        do {
            try fm.createDirectory(at: staging, withIntermediateDirectories: true)
            let writer = try RunWriter(folder: staging, expectations: first.expectations.map(RunTally.Expectation.init),
                                       models: first.models.map(\.name))
            for run in ordered {
                try run.forEachLine(RunFiles.variants) { (record: Manifest.VariantRecord, line: Data) in
                    try RunFolder.check(record, at: run.url.appendingPathComponent(RunFiles.variants))
                    for path in (record.trace.map { [$0] } ?? []) + (record.files ?? []).map(\.path) {
                        try link(run.url.appendingPathComponent(path), to: staging.appendingPathComponent(path))
                    }
                    try writer.appendVariantLine(line, record)
                    return true
                }
                try run.forEachLine(RunFiles.results) { (result: Manifest.ExpectationResult, line: Data) in
                    try writer.appendResultLine(line, result)
                    return true
                }
                // Each scan's view, when the shard wrote one.
                for scan in run.manifest.scans {
                    let path = try RunPaths.scanView(model: scan.model, scan: scan.id)
                    guard fm.fileExists(atPath: run.url.appendingPathComponent(path).path) else { continue }
                    try link(run.url.appendingPathComponent(path), to: staging.appendingPathComponent(path))
                }
                writer.append(scans: run.manifest.scans, attributions: run.manifest.attributions, failures: run.manifest.failures ?? [])
            }
            try writer.close()
            let tally = writer.tally
            let summaries = tally.summaries()
            let seconds = ordered.map(\.manifest.timing.seconds)
            var manifest = first
            manifest.shard = nil
            manifest.variantCount = tally.variants
            manifest.resultCount = tally.results
            manifest.expectations = summaries
            manifest.mostChanged = tally.mostChanged
            manifest.scans = writer.scans
            manifest.attributions = writer.attributions
            manifest.failures = writer.failures.isEmpty ? nil : writer.failures
            manifest.passed = summaries.allSatisfy(\.passed) && writer.failures.isEmpty
            manifest.timing = .init(runID: output.lastPathComponent, started: ordered.map(\.manifest.timing.started).min() ?? "",
                                    threads: ordered.map(\.manifest.timing.threads).reduce(0, +), seconds: seconds.max() ?? 0,
                                    variantsPerSecond: Double(tally.variants) / max(seconds.max() ?? 0, 1e-9), shards: seconds,
                                    cpuSeconds: ordered.compactMap(\.manifest.timing.cpuSeconds).reduce(0, +))
            try AtomicFile.write(try manifest.encoded(), to: staging.appendingPathComponent(RunFiles.manifest))
            try finish?(RunResult(folder: staging, manifest: manifest))
            if fm.fileExists(atPath: output.path) { try fm.removeItem(at: output) }
            try fm.moveItem(at: staging, to: output)
            return RunResult(folder: output, manifest: manifest)
        } catch {
            try? fm.removeItem(at: staging)
            if error is ExperimentError { throw error }
            throw ExperimentError("cannot write the merged run", location: output.path, cause: error)
        }
    }

    /// The shards in order, after checking that they are the N shards of one run.
    static func check(_ runs: [RunFolder]) throws -> [RunFolder] {
        let reference = runs[0]
        let a = reference.manifest
        func name(_ run: RunFolder) -> String { run.url.lastPathComponent }
        for run in runs.dropFirst() {
            let b = run.manifest
            func refuse(_ what: String, _ x: String, _ y: String) -> ExperimentError {
                ExperimentError("\(name(run)) and \(name(reference)) are not shards of one run: \(what) (\(y) and \(x))",
                                location: run.url.path, hint: "merge the shards of one `attnlab run --shard` of one experiment")
            }
            if b.experiment.name != a.experiment.name { throw refuse("they run different experiments", a.experiment.name, b.experiment.name) }
            if b.experiment.hash != a.experiment.hash {
                throw refuse("the experiment or its inputs changed", String(a.experiment.hash.prefix(12)), String(b.experiment.hash.prefix(12)))
            }
            if b.attnlabVersion != a.attnlabVersion { throw refuse("different AttnLab versions", a.attnlabVersion, b.attnlabVersion) }
            for model in b.models {
                guard let other = a.models.first(where: { $0.name == model.name }) else {
                    throw refuse("different models", a.models.map(\.name).joined(separator: ","), b.models.map(\.name).joined(separator: ","))
                }
                if other.weightsHash != model.weightsHash {
                    throw refuse("different weights of model \(model.name)", String(other.weightsHash.prefix(12)), String(model.weightsHash.prefix(12)))
                }
                if other.tokenizerHash != model.tokenizerHash {
                    throw refuse("different tokenizers of model \(model.name)", String(other.tokenizerHash.prefix(12)), String(model.tokenizerHash.prefix(12)))
                }
            }
            if b.models.count != a.models.count {
                throw refuse("different models", a.models.map(\.name).joined(separator: ","), b.models.map(\.name).joined(separator: ","))
            }
            if b.experiment != a.experiment { throw refuse("they read different inputs", "\(a.experiment.inputs ?? 0) inputs", "\(b.experiment.inputs ?? 0) inputs") }
            if b.storage != a.storage { throw refuse("they keep different traces", a.storage.description, b.storage.description) }
            if b.shard?.count != a.shard?.count || b.shard?.total != a.shard?.total {
                throw refuse("they split the run differently", "\(a.shard?.count ?? 0) shards", "\(b.shard?.count ?? 0) shards")
            }
        }
        let count = a.shard?.count ?? 0
        var byIndex: [Int: RunFolder] = [:]
        for run in runs {
            let shard = run.manifest.shard!
            if let other = byIndex[shard.index] {
                throw ExperimentError("shard \(shard.index) of \(count) is given twice: \(other.url.path) and \(run.url.path)",
                                      hint: "give each shard once")
            }
            let expected = Shard(index: shard.index, count: count).range(of: shard.total)
            guard shard.first == expected.lowerBound, shard.end == expected.upperBound else {
                throw ExperimentError("shard \(shard.index) of \(count) ran groups \(shard.first)..<\(shard.end), not \(expected)",
                                      location: run.url.path, hint: "the shard is damaged; run it again")
            }
            byIndex[shard.index] = run
        }
        let missing = (1 ... max(count, 1)).filter { byIndex[$0] == nil }
        if !missing.isEmpty {
            throw ExperimentError("shard\(missing.count == 1 ? "" : "s") \(missing.map(String.init).joined(separator: ", ")) of \(count) \(missing.count == 1 ? "is" : "are") missing",
                                  hint: "run it with `attnlab run EXPERIMENT --shard \(missing[0])/\(count) --run-id \(reference.manifest.timing.runID)`, then merge all \(count)")
        }
        return (1 ... count).map { byIndex[$0]! }
    }

    /// A hard link from `source` to `destination` (a copy across file systems).
    static func link(_ source: URL, to destination: URL) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        if Foundation.link(source.path, destination.path) == 0 { return }
        do {
            try fm.copyItem(at: source, to: destination)
        } catch {
            throw ExperimentError("cannot copy \(source.path) into the merged run", location: destination.path, cause: error)
        }
    }
}
