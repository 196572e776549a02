import AttnCore
import Foundation

/// A run folder on disk: its manifest and its traces, read on demand.
public struct RunFolder: Sendable {
    public let url: URL
    public let manifest: Manifest

    public init(_ url: URL) throws {
        self.url = url
        manifest = try Manifest.read(url.appendingPathComponent("manifest.json"))
    }

    /// True when `url` is a folder with a manifest.
    public static func isRun(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("manifest.json").path)
    }

    public func record(model: String, variant path: String) -> Manifest.VariantRecord? {
        manifest.variants.first { $0.model == model && $0.variant.path == path }
    }

    public func trace(_ record: Manifest.VariantRecord) throws -> Trace {
        try TraceFile.read(url.appendingPathComponent(record.trace))
    }
}
