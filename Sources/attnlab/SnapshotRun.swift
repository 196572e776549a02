import AttnCore
import AttnExperiments
import AttnModels
import AttnSnapshots
import Foundation

/// Runs an experiment for `snapshot record` and `snapshot check` and hands its records, traces and
/// summaries to the snapshot code (AttnSnapshots never runs a model).
enum SnapshotRun {
    /// Runs `experiment` (into a temporary runs folder, removed afterwards) with the models found
    /// from the workspace's root, and returns its snapshot files: per variant with its attention,
    /// or, for a suite, its aggregates and every variant's outputs (no trace is kept for a suite).
    static func files(_ experiment: Experiment, workspace: SnapshotWorkspace, threads: Int,
                      progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> ExperimentSnapshotFiles {
        let runs = FileManager.default.temporaryDirectory
            .appendingPathComponent("attnlab-snapshot-runs-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: runs) }
        var experiment = experiment
        experiment.storage = experiment.snapshotKind == .suite ? TraceStorage(attention: .none) : TraceStorage()
        let result = try Executor.run(experiment, options: RunOptions(threads: threads, runsFolder: runs,
                                                                      locator: .standard(workingDirectory: workspace.root),
                                                                      progress: progress, runID: "snapshot"))
        return try files(of: result.run, kind: experiment.snapshotKind,
                         experimentFile: workspace.recordedPath(of: URL(fileURLWithPath: experiment.file)))
    }

    /// The snapshot files of a finished run.
    ///
    /// - Parameter experimentFile: the experiment file's path as it is recorded (relative to the
    ///   repository's working tree, so that it does not depend on where the repository is).
    static func files(of run: RunFolder, kind: SnapshotKind, experimentFile: String) throws -> ExperimentSnapshotFiles {
        let manifest = run.manifest
        // Snapshots of part of an experiment would read as variants removed.
        if let failures = manifest.failures, !failures.isEmpty {
            throw ExperimentError("\(failures.count) of the experiment's variants could not be run, so no snapshot is taken: "
                                  + failures.map { "\($0.subject) [\($0.model)]: \($0.message)" }.joined(separator: "; "),
                                  location: experimentFile, hint: "fix or remove what failed, then run it again")
        }
        func record(_ result: Manifest.ExpectationResult) -> ExpectationRecord {
            ExpectationRecord(line: result.line, expectation: result.expectation, passed: result.passed, measured: result.actual)
        }
        let unmatched = manifest.expectations.compactMap { summary in
            summary.problem.map { ExpectationRecord(line: summary.line, expectation: summary.expectation, passed: false, measured: $0) }
        }
        var experiment = ExperimentSnapshot(
            attnlabVersion: manifest.attnlabVersion, name: manifest.experiment.name, description: manifest.experiment.description,
            file: experimentFile, hash: manifest.experiment.hash,
            models: manifest.models.map {
                .init(name: $0.name, id: $0.id, architecture: $0.architecture, task: $0.task, layers: $0.layers, heads: $0.heads,
                      weightsHash: $0.weightsHash, tokenizerHash: $0.tokenizerHash)
            },
            unmatchedExpectations: unmatched)

        if kind == .suite {
            experiment.suite = manifest.expectations.map { summary in
                SuiteExpectation(line: summary.line, expectation: summary.expectation, variant: summary.variant, model: summary.model,
                                 allowed: summary.allowed?.description, checked: summary.checked, failed: summary.failed, passed: summary.passed,
                                 byModel: summary.byModel.map { .init(name: $0.name, checked: $0.checked, failed: $0.failed) },
                                 byPerturbation: summary.byPerturbation.map { .init(name: $0.name, checked: $0.checked, failed: $0.failed) })
            }
            // Each variant's failed expectations, by model and path (results come group by group, as the records do).
            var failed: [String: [Int]] = [:]
            try run.forEachResult { result in
                if !result.passed { failed["\(result.model) \(result.variant)", default: []].append(result.line) }
                return true
            }
            var outputs: [SuiteOutput] = []
            try run.forEachRecord { record in
                outputs.append(SuiteOutput(model: record.model, variant: record.variant.path, perturbation: record.variant.family,
                                           outputs: SnapshotOutputs(record.outputs), label: record.label,
                                           failed: Array(Set(failed["\(record.model) \(record.variant.path)"] ?? [])).sorted()))
                return true
            }
            return try SnapshotBuilder.suiteFiles(experiment: experiment, outputs: outputs)
        }

        var results: [String: [ExpectationRecord]] = [:]
        try run.forEachResult { result in
            results["\(result.model) \(result.variant)", default: []].append(record(result))
            return true
        }
        var subjects: [SnapshotBuilder.Subject] = []
        try run.forEachRecord { variant in
            subjects.append(SnapshotBuilder.Subject(model: variant.model, input: variant.variant.input, variant: variant.variant.name,
                                                    perturbation: variant.variant.perturbation, trace: try run.trace(variant), label: variant.label,
                                                    expectations: results.removeValue(forKey: "\(variant.model) \(variant.variant.path)") ?? [],
                                                    intervention: variant.variant.intervention?.description,
                                                    attribution: manifest.attributions.filter { $0.model == variant.model && $0.variant == variant.variant.path }.map {
                                                        AttributionSnapshot(method: $0.method.rawValue, metric: $0.metric, baseline: $0.baseline,
                                                                            words: $0.words, scores: $0.scores)
                                                    }))
            return true
        }
        // Results that name no variant of the run (a scan's target that did not apply).
        experiment.unmatchedExpectations += results.keys.sorted().flatMap { results[$0] ?? [] }
        return try SnapshotBuilder.files(experiment: experiment, subjects: subjects,
                                         scans: manifest.scans.map { ScanSnapshot(model: $0.model, id: $0.id, result: $0.result) })
    }
}
