import AttnCore
import AttnModels
import Foundation
import Yams

/// How much of each variant's trace a run keeps on disk, from `capture:`. Every variant is traced
/// in full (its expectations, diffs and views read all of it); this says what is written after.
public struct TraceStorage: Sendable, Equatable, Codable {
    public enum Attention: String, Sendable, Codable, CaseIterable {
        /// Every layer and head.
        case all
        /// The heads an expectation, the `heads:`/`layers:` lists or a diff need: the heads named,
        /// the head where an "any head" check found its value, and each perturbed variant's
        /// `most_changed` heads (kept in its base too, so the two compare).
        case needed
        /// No trace file: the variant's outputs and per-head summaries are in `variants.jsonl`,
        /// and `attnlab trace --from-run` writes its trace when asked.
        case none
    }

    public enum Precision: String, Sendable, Codable, CaseIterable {
        case float32, float16
        /// One byte per weight, b = round(255·√a), as the views store it.
        case uint8
    }

    public var attention: Attention = .all
    public var heads: [HeadRef] = []
    public var layers: [Int] = []
    public var mostChanged = 3
    public var precision: Precision = .float32

    public init(attention: Attention = .all, heads: [HeadRef] = [], layers: [Int] = [], mostChanged: Int = 3, precision: Precision = .float32) {
        self.attention = attention
        self.heads = heads
        self.layers = layers
        self.mostChanged = mostChanged
        self.precision = precision
    }

    enum CodingKeys: String, CodingKey {
        case attention, heads, layers, precision
        case mostChanged = "most_changed"
    }

    /// What the storage keeps, in words (`heads needed, float16`).
    public var description: String {
        switch attention {
        case .all: return "all heads, \(precision.rawValue)"
        case .none: return "outputs and per-head summaries only"
        case .needed: return "the heads needed (most changed \(mostChanged)\(heads.isEmpty ? "" : ", \(heads.map(\.description).joined(separator: ", "))")\(layers.isEmpty ? "" : ", layers \(layers.map(String.init).joined(separator: ","))")), \(precision.rawValue)"
        }
    }

    /// The stored form of the attention of `precision`.
    public var storedType: SafeTensorsWriter.StoredType {
        switch precision {
        case .float32: .f32
        case .float16: .f16
        case .uint8: .sqrtU8
        }
    }
}

extension SpecReader {
    static let captureKeys = ["attention", "heads", "layers", "most_changed", "precision", "qkv", "hidden"]

    /// `capture: [attention, qkv]` (every head, float32), or a mapping:
    /// `{attention: needed, heads: [5.4], layers: [5], most_changed: 3, precision: float16, qkv: false, hidden: false}`.
    func capture(_ node: Node) -> (CaptureOptions, TraceStorage) {
        var capture: CaptureOptions = []
        var storage = TraceStorage()
        if case .mapping = node {
            guard let entries = mapping(node, "capture", allowed: Self.captureKeys) else { return (capture, storage) }
            let value = { (name: String) in entries.first { $0.key == name }?.node }
            if let node = value("attention") {
                storage.attention = choice(node, "capture.attention", TraceStorage.Attention.allCases.map(\.rawValue))
                    .flatMap(TraceStorage.Attention.init(rawValue:)) ?? .all
            }
            if let node = value("precision") {
                storage.precision = choice(node, "capture.precision", TraceStorage.Precision.allCases.map(\.rawValue))
                    .flatMap(TraceStorage.Precision.init(rawValue:)) ?? .float32
            }
            if let node = value("heads") { storage.heads = headList(node, "capture.heads") ?? [] }
            if let node = value("layers") { storage.layers = layerList(node, "capture.layers") ?? [] }
            if let node = value("most_changed") { storage.mostChanged = integer(node, "capture.most_changed") ?? 3 }
            for (name, option) in [("qkv", CaptureOptions.qkv), ("hidden", CaptureOptions.hidden)] {
                guard let node = value(name) else { continue }
                guard let flag = choice(node, "capture.\(name)", ["true", "false"]) else { continue }
                if flag == "true" { capture.insert(option) }
            }
            if storage.attention != .all {
                for name in ["qkv", "hidden"] where capture.contains(name == "qkv" ? .qkv : .hidden) {
                    problem(value(name), "capture.\(name)", "\(name) is stored with every head only; set attention: all, or leave \(name) out")
                }
                if storage.attention == .none {
                    for name in ["heads", "layers", "most_changed", "precision"] where value(name) != nil {
                        problem(value(name), "capture.\(name)", "attention: none stores no attention; \(name) has nothing to choose from")
                    }
                }
            } else {
                for name in ["heads", "layers", "most_changed"] where value(name) != nil {
                    problem(value(name), "capture.\(name)", "\(name) chooses heads for attention: needed; with attention: all every head is kept")
                }
            }
            return (capture, storage)
        }
        guard let items = strings(node, "capture") else { return (capture, storage) }
        for item in items {
            switch item {
            case "attention": break
            case "qkv": capture.insert(.qkv)
            case "hidden": capture.insert(.hidden)
            default: problem(node, "capture", "unknown capture \"\(item)\"; allowed: attention, qkv, hidden (or a mapping: attention: all|needed|none, precision: float32|float16|uint8, …)")
            }
        }
        return (capture, storage)
    }
}
