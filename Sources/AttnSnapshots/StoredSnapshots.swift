import AttnCore
import Foundation

/// One variant's snapshot as stored: its JSON, read, and the bytes of its attention file.
public struct StoredVariant: Sendable {
    public var snapshot: VariantSnapshot
    /// The JSON file's bytes.
    public var json: Data
    /// The `.safetensors` file's bytes; nil when it is missing.
    public var attention: Data?
    /// Where the JSON and the attention file were read from, for messages
    /// (`Snapshots/x/minilm/eminem/sick.json at HEAD~1`).
    public var location: String
    public var attentionLocation: String
    /// What repairs a damaged or missing file where it was read (`StoredSnapshots.repairHint`).
    var repairHint = StoredSnapshots.repairHint(revision: nil)

    /// The attention file read as a trace (attention in float16 widened to float32, tokens, outputs).
    public func trace() throws -> Trace {
        guard let attention else {
            throw SnapshotError("the attention file is missing", location: attentionLocation, hint: repairHint)
        }
        return try StoredSnapshots.decodeTrace(attention, location: attentionLocation, hint: repairHint)
    }
}

/// The snapshot files of one experiment as found somewhere (the working tree, a commit, or just
/// built in memory), read and checked.
public struct StoredSnapshots: Sendable {
    /// The experiment's name (its folder under `Snapshots/`).
    public var name: String
    /// Every file, by path relative to the experiment's folder.
    public var files: [String: Data]
    /// `experiment.json`, when there is one.
    public var experiment: ExperimentSnapshot?
    /// The variants, by `model/input/variant`.
    public var variants: [String: StoredVariant]
    /// The scans, by `model/scan`.
    public var scans: [String: ScanSnapshot] = [:]
    /// Files that belong to no variant (`x.safetensors` without `x.json`, anything else).
    public var strayFiles: [String]
    /// A suite's variants, model by model in run order (nil for a snapshot per variant).
    public var suiteOutputs: [SuiteOutput]?

    /// Reads the files of one experiment's folder.
    ///
    /// - Parameters:
    ///   - folder: the folder's path, for messages (`Snapshots/x`).
    ///   - revision: the revision the files were read from, for messages; nil for the working tree.
    public init(name: String, files: [String: Data], folder: String, revision: String? = nil) throws {
        self.name = name
        self.files = files
        experiment = nil
        variants = [:]
        strayFiles = []
        func where_(_ path: String) -> String { "\(folder)/\(path)" + (revision.map { " at \($0)" } ?? "") }
        let repair = Self.repairHint(revision: revision)
        if let data = files["experiment.json"] {
            experiment = try Self.decode(ExperimentSnapshot.self, data, location: where_("experiment.json"), hint: repair)
        }
        if experiment?.suite != nil {
            var outputs: [SuiteOutput] = []
            for model in experiment?.models.map(\.name) ?? [] {
                let path = model + SnapshotBuilder.outputsSuffix
                guard let data = files[path] else { continue }
                outputs += try SuiteOutput.read(data, model: model, location: where_(path))
            }
            suiteOutputs = outputs
        }
        for (path, data) in files where ScanSnapshot.isScanPath(path) {
            let scan = try Self.decode(ScanSnapshot.self, data, location: where_(path), hint: repair)
            guard scan.path == path else {
                throw SnapshotError("the file says it is the snapshot of scan \(scan.key)", location: where_(path),
                                    hint: "scan snapshot files are named <model>/<scan>.scan.json; \(repair)")
            }
            scans[scan.key] = scan
        }
        for (path, data) in files where path.hasSuffix(".json") && path != "experiment.json" && !ScanSnapshot.isScanPath(path) {
            let key = String(path.dropLast(".json".count))
            let snapshot = try Self.decode(VariantSnapshot.self, data, location: where_(path), hint: repair)
            guard snapshot.key == key else {
                throw SnapshotError("the file says it is the snapshot of \(snapshot.key)", location: where_(path),
                                    hint: "snapshot files are named <model>/<input>/<variant>.json; \(repair)")
            }
            variants[key] = StoredVariant(snapshot: snapshot, json: data, attention: files["\(key).safetensors"],
                                          location: where_(path), attentionLocation: where_("\(key).safetensors"), repairHint: repair)
        }
        let suiteFiles = Set((experiment?.suite == nil ? [] : experiment?.models ?? []).map { $0.name + SnapshotBuilder.outputsSuffix })
        strayFiles = files.keys.filter { path in
            if path == "experiment.json" || path.hasSuffix(".json") || suiteFiles.contains(path) { return false }
            if path.hasSuffix(".safetensors") { return variants[String(path.dropLast(".safetensors".count))] == nil }
            return true
        }.sorted()
    }

    /// The scans in key order.
    public var orderedScanKeys: [String] { scans.keys.sorted() }

    /// True when the folder holds nothing.
    public var isEmpty: Bool { files.isEmpty }

    /// The variants in the order `experiment.json` lists them, then any others by key.
    public var orderedKeys: [String] {
        let listed = (experiment?.variants ?? []).filter { variants[$0] != nil }
        return listed + variants.keys.filter { !listed.contains($0) }.sorted()
    }

    /// What repairs a damaged snapshot file read from `revision` (nil: the working tree). Recording
    /// replaces damaged files whatever they hold, so it is the fix in both places; a commit's file
    /// is repaired by committing new ones.
    static func repairHint(revision: String?) -> String {
        guard let revision, revision != "the new run" else {
            return "record the snapshots again with `attnlab snapshot record EXPERIMENT`, which replaces damaged files"
        }
        return "the file is damaged at \(revision); record and commit the snapshots again (`attnlab snapshot record EXPERIMENT --commit`), which replaces it, or compare other revisions"
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, location: String, hint: String = repairHint(revision: nil)) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as SnapshotError {
            throw SnapshotError(error.message, location: location, hint: error.hint)
        } catch {
            let text = String(decoding: data.prefix(1 << 20), as: UTF8.self)
            if text.contains("\n<<<<<<< ") || text.hasPrefix("<<<<<<< ") {
                throw SnapshotError("the file has merge conflict markers", location: location,
                                    hint: "snapshots are generated: resolve the conflict by recording them again (`attnlab snapshot record EXPERIMENT`), then `git add` them")
            }
            throw SnapshotError("not a snapshot file: \(TraceFile.describe(error))", location: location, hint: hint)
        }
    }

    /// Reads a snapshot's attention file from its bytes (through a temporary file, as the
    /// safetensors reader maps files).
    static func decodeTrace(_ data: Data, location: String, hint: String = repairHint(revision: nil)) throws -> Trace {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("attnlab-snapshot-\(getpid())-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            try data.write(to: url)
        } catch {
            throw SnapshotError("cannot write a temporary file to read the attention (\(error.localizedDescription))",
                                location: url.path, hint: "check that the temporary folder is writable")
        }
        do {
            return try TraceFile.read(url)
        } catch let error as CoreError {
            throw SnapshotError("not a snapshot attention file: \(error.message)", location: location, hint: hint)
        }
    }
}
