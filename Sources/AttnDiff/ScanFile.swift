import AttnCore
import Foundation

/// A scan as one JSON file (`attnlab scan --out scan.json`): the `ScanResult`'s keys, and under
/// `traces` the target's and the source's traces (attention only, float16), each a trace file in
/// base64, so that `attnlab view scan.json` can draw both sides' heads without the model.
///
/// ```json
/// {"columns": ["0", …], "effects": [[…]], "metric": "similarity", …,
///  "traces": {"source": "<trace file, base64>", "target": "<trace file, base64>"}}
/// ```
public struct ScanFile: Sendable {
    public var result: ScanResult
    /// The unpatched target's trace, and the source's (nil for an ablation scan, or when not kept).
    public var target: Trace?
    public var source: Trace?

    public init(result: ScanResult, target: Trace? = nil, source: Trace? = nil) {
        self.result = result
        self.target = target
        self.source = source
    }

    /// Key-sorted JSON; the traces keep only their attention, in float16.
    public func encoded() throws -> Data {
        var traces: [String: String] = [:]
        for (name, trace) in [("target", target), ("source", source)] {
            guard var trace else { continue }
            trace.logits = nil
            trace.stacks = trace.stacks.mapValues { AttentionStack(attention: $0.attention, geometry: $0.geometry) }
            traces[name] = try TraceFile.encode(trace, attention: .f16).base64EncodedString()
        }
        return try TraceFile.stableJSON(Stored(result: result, traces: traces.isEmpty ? nil : traces)) + Data("\n".utf8)
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws {
        try AtomicFile.write(try encoded(), to: url)
    }

    /// Reads a scan file, or any JSON with a scan's keys (a snapshot's `scans/<id>.json`).
    public static func read(_ url: URL) throws -> ScanFile {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CoreError("cannot read the file", location: url.path, hint: "check that it exists and is readable")
        }
        return try decode(data, location: url.path)
    }

    public static func decode(_ data: Data, location: String) throws -> ScanFile {
        let stored: Stored
        do {
            stored = try JSONDecoder().decode(Stored.self, from: data)
        } catch {
            throw CoreError("not a scan: \(TraceFile.describe(error))", location: location,
                            hint: "write one with `attnlab scan --out scan.json`")
        }
        let result = stored.result
        let rows = result.layers.count, columns = result.columns.count
        guard rows > 0, columns > 0, result.effects.count == rows, result.effects.allSatisfy({ $0.count == columns }),
              result.normalized.count == rows, result.normalized.allSatisfy({ $0.count == columns }) else {
            throw CoreError("not a scan: \(rows) layers and \(columns) columns, but effects of \(result.effects.count) rows",
                            location: location, hint: "effects and normalized must be [layers][columns]")
        }
        func trace(_ name: String) throws -> Trace? {
            guard let text = stored.traces?[name] else { return nil }
            guard let bytes = Data(base64Encoded: text) else {
                throw CoreError("traces.\(name) is not base64", location: location, hint: "write the scan again with `attnlab scan --out`")
            }
            let temporary = FileManager.default.temporaryDirectory
                .appendingPathComponent("attnlab-scan-\(getpid())-\(UUID().uuidString).safetensors")
            defer { try? FileManager.default.removeItem(at: temporary) }
            do {
                try bytes.write(to: temporary)
            } catch {
                throw CoreError("cannot write a temporary file to read traces.\(name)", location: temporary.path,
                                hint: "check that the temporary folder is writable")
            }
            do {
                return try TraceFile.read(temporary)
            } catch let error as CoreError {
                throw CoreError("traces.\(name) is not a trace: \(error.message)", location: location,
                                hint: "write the scan again with `attnlab scan --out`")
            }
        }
        return ScanFile(result: result, target: try trace("target"), source: try trace("source"))
    }

    /// The result's keys and, beside them, `traces`.
    struct Stored: Codable {
        var result: ScanResult
        var traces: [String: String]?

        init(result: ScanResult, traces: [String: String]?) {
            self.result = result
            self.traces = traces
        }

        init(from decoder: Decoder) throws {
            result = try ScanResult(from: decoder)
            traces = try decoder.container(keyedBy: Keys.self).decodeIfPresent([String: String].self, forKey: .traces)
        }

        func encode(to encoder: Encoder) throws {
            try result.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encodeIfPresent(traces, forKey: .traces)
        }

        enum Keys: String, CodingKey { case traces }
    }
}

extension ScanResult {
    /// What was scanned, in words: `head outputs`, `residual stream by word`, …
    public var siteDescription: String {
        switch site {
        case .head: "head outputs"
        case .residual: "residual stream by word"
        case .attention: "attention output by word"
        case .mlp: "feed-forward output by word"
        default: "\(site.rawValue) by word"
        }
    }
}
