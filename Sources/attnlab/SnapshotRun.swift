import AttnExperiments
import AttnModels
import AttnSnapshots
import Foundation

/// Runs an experiment for `snapshot record` and `snapshot check` and hands its traces and manifest
/// to the snapshot code (AttnSnapshots never runs a model).
enum SnapshotRun {
    /// Runs `experiment` (into a temporary runs folder, removed afterwards) with the models found
    /// from the workspace's root, and returns its snapshot files.
    static func files(_ experiment: Experiment, workspace: SnapshotWorkspace, threads: Int,
                      progress: (@Sendable (Int, Int, String) -> Void)? = nil) throws -> ExperimentSnapshotFiles {
        let runs = FileManager.default.temporaryDirectory
            .appendingPathComponent("attnlab-snapshot-runs-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: runs) }
        let result = try Executor.run(experiment, options: RunOptions(threads: threads, runsFolder: runs,
                                                                      locator: .standard(workingDirectory: workspace.root),
                                                                      progress: progress, runID: "snapshot"))
        return try files(of: result, experimentFile: workspace.recordedPath(of: URL(fileURLWithPath: experiment.file)))
    }

    /// The snapshot files of a finished run.
    ///
    /// - Parameter experimentFile: the experiment file's path as it is recorded (relative to the
    ///   repository's working tree, so that it does not depend on where the repository is).
    static func files(of run: RunResult, experimentFile: String) throws -> ExperimentSnapshotFiles {
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
        let subjects = run.subjects.map { subject in
            SnapshotBuilder.Subject(model: subject.model, input: subject.variant.input, variant: subject.variant.name,
                                    perturbation: subject.variant.perturbation, trace: subject.trace, label: subject.label,
                                    expectations: manifest.expectations.filter { $0.model == subject.model && $0.variant == subject.variant.path }.map(record))
        }
        let known = Set(run.subjects.map { "\($0.model) \($0.variant.path)" })
        let experiment = ExperimentSnapshot(
            attnlabVersion: manifest.attnlabVersion, name: manifest.experiment.name, description: manifest.experiment.description,
            file: experimentFile, hash: manifest.experiment.hash,
            models: manifest.models.map {
                .init(name: $0.name, id: $0.id, architecture: $0.architecture, task: $0.task, layers: $0.layers, heads: $0.heads,
                      weightsHash: $0.weightsHash, tokenizerHash: $0.tokenizerHash)
            },
            unmatchedExpectations: manifest.expectations.filter { !known.contains("\($0.model) \($0.variant)") }.map(record))
        return try SnapshotBuilder.files(experiment: experiment, subjects: subjects)
    }
}
