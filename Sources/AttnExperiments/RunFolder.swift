import AttnCore
import Foundation

/// A run folder on disk: its manifest, its variant records and expectation results (read line by
/// line, never all at once), and its traces, read on demand.
public struct RunFolder: Sendable {
    public let url: URL
    public let manifest: Manifest

    public init(_ url: URL) throws {
        self.url = url
        manifest = try Manifest.read(url.appendingPathComponent(RunFiles.manifest))
    }

    public init(url: URL, manifest: Manifest) {
        self.url = url
        self.manifest = manifest
    }

    /// True when `url` is a folder with a manifest.
    public static func isRun(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent(RunFiles.manifest).path)
    }

    /// Calls `body` with each variant record in run order; `body` returns false to stop.
    public func forEachRecord(_ body: (Manifest.VariantRecord) throws -> Bool) throws {
        try forEachLine(RunFiles.variants) { (record: Manifest.VariantRecord, _) in
            try Self.check(record, at: url.appendingPathComponent(RunFiles.variants))
            return try body(record)
        }
    }

    /// Calls `body` with each expectation result in run order; `body` returns false to stop.
    public func forEachResult(_ body: (Manifest.ExpectationResult) throws -> Bool) throws {
        try forEachLine(RunFiles.results) { (result: Manifest.ExpectationResult, _) in try body(result) }
    }

    /// Every variant record (for runs small enough to hold).
    public func records() throws -> [Manifest.VariantRecord] {
        var all: [Manifest.VariantRecord] = []
        try forEachRecord { all.append($0); return true }
        return all
    }

    /// Every expectation result (for runs small enough to hold).
    public func results() throws -> [Manifest.ExpectationResult] {
        var all: [Manifest.ExpectationResult] = []
        try forEachResult { all.append($0); return true }
        return all
    }

    /// The record of a variant (`input/variant`) of a model.
    public func record(model: String, variant path: String) throws -> Manifest.VariantRecord? {
        var found: Manifest.VariantRecord?
        try forEachRecord { record in
            if record.model == model && record.variant.path == path { found = record; return false }
            return true
        }
        return found
    }

    /// The trace of a record; a run that keeps none says how to write it.
    public func trace(_ record: Manifest.VariantRecord) throws -> Trace {
        guard let path = record.trace else {
            throw ExperimentError("the run keeps no trace of \(record.variant.path) on model \(record.model) (capture: attention: none)",
                                  location: url.path,
                                  hint: "write it with: attnlab trace --from-run \(url.path) \(record.variant.path) --model \(record.model)")
        }
        return try TraceFile.read(url.appendingPathComponent(path))
    }

    /// Decodes each line of one of the run's files.
    func forEachLine<T: Decodable>(_ name: String, _ body: (T, Data) throws -> Bool) throws {
        let file = url.appendingPathComponent(name)
        let reader = try LineReader(file)
        let decoder = JSONDecoder()
        while let line = try reader.next() {
            let value: T
            do {
                value = try decoder.decode(T.self, from: line)
            } catch {
                throw ExperimentError("line \(reader.lineNumber) is not a run record: \(TraceFile.describe(error))", location: file.path,
                                      hint: "the run is damaged or was not written by attnlab run")
            }
            guard try body(value, line) else { return }
        }
    }

    /// Names in a record become paths (`attnlab view RUN --out DIR`) and its trace path is read:
    /// each must be one a run writes.
    static func check(_ record: Manifest.VariantRecord, at file: URL) throws {
        do {
            let expected = try RunPaths.trace(model: record.model, variant: record.variant)
            if let trace = record.trace, trace != expected {
                throw CoreError("its trace is \(JSONText.quote(trace)), not \(expected)")
            }
        } catch let error as CoreError {
            throw ExperimentError("variant \(JSONText.quote(record.variant.path)) of model \(JSONText.quote(record.model)): \(error.message)",
                                  location: file.path, hint: "the run is damaged or was not written by attnlab run")
        }
    }
}
