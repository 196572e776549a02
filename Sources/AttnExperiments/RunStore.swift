import AttnCore
import Foundation

/// The files of a run besides its traces: `manifest.json` (what was run, the expectations'
/// summaries, the variants that changed most), `variants.jsonl` (one variant record a line, in run
/// order) and `results.jsonl` (one expectation result a line). Records are written as groups
/// finish, so a run of any size holds only its summaries in memory.
public enum RunFiles {
    public static let manifest = "manifest.json"
    public static let variants = "variants.jsonl"
    public static let results = "results.jsonl"

    /// One JSON line: sorted keys, so that the same record always gives the same bytes.
    static func line<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data([0x0A])
    }
}

/// Appends lines to a file through a buffer.
final class LineWriter {
    private let handle: FileHandle
    private var buffer = Data()
    let url: URL

    init(_ url: URL) throws {
        self.url = url
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let handle = FileHandle(forWritingAtPath: url.path) else {
            throw ExperimentError("cannot create the file", location: url.path, hint: "check that the folder is writable")
        }
        self.handle = handle
    }

    func append(_ line: Data) throws {
        buffer.append(line)
        if buffer.count >= 1 << 20 { try flush() }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw ExperimentError("cannot write the file (\(error.localizedDescription))", location: url.path,
                                  hint: "check that the disk has room")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        try handle.close()
    }
}

/// Reads a file line by line, in chunks.
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    let url: URL
    /// The line last returned, from 1.
    private(set) var lineNumber = 0

    init(_ url: URL) throws {
        self.url = url
        do {
            handle = FileHandle(fileDescriptor: try RegularFile.open(url.path).descriptor, closeOnDealloc: true)
        } catch let error as CoreError {
            throw ExperimentError("cannot read the file: \(error.message)", location: url.path, hint: "give a run folder written by attnlab run")
        }
    }


    /// The next line without its newline, or nil at the end.
    func next() throws -> Data? {
        var line: [UInt8] = []
        var sawAny = false
        while true {
            if position >= buffer.count {
                if atEnd { break }
                let chunk: Data
                do { chunk = try handle.read(upToCount: 1 << 16) ?? Data() } catch {
                    throw ExperimentError("cannot read the file (\(error.localizedDescription))", location: url.path)
                }
                if chunk.isEmpty { atEnd = true; break }
                buffer = [UInt8](chunk)
                position = 0
            }
            sawAny = true
            if let newline = buffer[position...].firstIndex(of: 0x0A) {
                line += buffer[position ..< newline]
                position = newline + 1
                lineNumber += 1
                return Data(line)
            }
            line += buffer[position...]
            position = buffer.count
        }
        guard sawAny, !line.isEmpty else { return nil }
        lineNumber += 1
        return Data(line)
    }
}

/// Writes a run's record files as groups finish, and tallies what the manifest summarises.
final class RunWriter {
    private let variants: LineWriter
    private let results: LineWriter
    private(set) var tally: RunTally
    private(set) var scans: [Manifest.ScanRecord] = []
    private(set) var attributions: [Manifest.AttributionRecord] = []
    /// What could not be run (variants, scans, attributions); the others still ran.
    private(set) var failures: [Manifest.Failure] = []

    init(folder: URL, expectations: [RunTally.Expectation], models: [String]) throws {
        variants = try LineWriter(folder.appendingPathComponent(RunFiles.variants))
        results = try LineWriter(folder.appendingPathComponent(RunFiles.results))
        tally = RunTally(expectations: expectations, models: models)
    }

    func append(_ outcome: GroupOutcome) throws {
        for record in outcome.records {
            try variants.append(try RunFiles.line(record))
            tally.add(record)
        }
        for result in outcome.results {
            try results.append(try RunFiles.line(result))
            tally.add(result)
        }
        scans += outcome.scans
        attributions += outcome.attributions
        failures += outcome.failures
    }

    /// Appends a record line as it is (merging shards), tallying it.
    func appendVariantLine(_ line: Data, _ record: Manifest.VariantRecord) throws {
        try variants.append(line + Data([0x0A]))
        tally.add(record)
    }

    func appendResultLine(_ line: Data, _ result: Manifest.ExpectationResult) throws {
        try results.append(line + Data([0x0A]))
        tally.add(result)
    }

    func append(scans: [Manifest.ScanRecord], attributions: [Manifest.AttributionRecord], failures: [Manifest.Failure] = []) {
        self.scans += scans
        self.attributions += attributions
        self.failures += failures
    }

    func close() throws {
        try variants.close()
        try results.close()
    }
}
