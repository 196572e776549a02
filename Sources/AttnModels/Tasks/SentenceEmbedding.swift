import AttnCore
import Foundation

/// How sentence-transformers turns token states into one sentence vector: the folder's
/// `1_Pooling/config.json` (mean, CLS or max pooling) and whether a `Normalize` module follows.
public struct SentencePooling: Sendable, Equatable {
    public enum Mode: String, Sendable { case mean, cls, max }

    public var mode: Mode
    public var normalize: Bool

    public init(mode: Mode = .mean, normalize: Bool = true) {
        self.mode = mode
        self.normalize = normalize
    }

    /// Reads the folder's sentence-transformers configuration; nil when it has none.
    public static func read(folder: URL) throws -> SentencePooling? {
        let poolingURL = folder.appendingPathComponent("1_Pooling/config.json")
        guard let data = FileManager.default.contents(atPath: poolingURL.path) else { return nil }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError("the pooling configuration is not a JSON object", location: poolingURL.path)
        }
        let mode: Mode
        if object["pooling_mode_mean_tokens"] as? Bool == true {
            mode = .mean
        } else if object["pooling_mode_cls_token"] as? Bool == true {
            mode = .cls
        } else if object["pooling_mode_max_tokens"] as? Bool == true {
            mode = .max
        } else {
            throw ModelError("no supported pooling mode is set", location: poolingURL.path,
                             hint: "AttnLab reads pooling_mode_mean_tokens, pooling_mode_cls_token and pooling_mode_max_tokens")
        }
        var normalize = false
        if let modules = FileManager.default.contents(atPath: folder.appendingPathComponent("modules.json").path),
           let list = (try? JSONSerialization.jsonObject(with: modules)) as? [[String: Any]] {
            normalize = list.contains { ($0["type"] as? String)?.hasSuffix("Normalize") == true }
        }
        return SentencePooling(mode: mode, normalize: normalize)
    }

    /// The sentence vector of `hidden` (`[n, dim]`) over the positions where `mask` is true.
    public func pool(_ hidden: Tensor, mask: [Bool]? = nil) -> [Double] {
        let (n, dim) = (hidden.shape[0], hidden.shape[1])
        let keep = mask ?? [Bool](repeating: true, count: n)
        var vector = [Double](repeating: 0, count: dim)
        switch mode {
        case .cls:
            for j in 0 ..< dim { vector[j] = Double(hidden.scalars[j]) }
        case .mean:
            let count = max(1, keep.filter { $0 }.count)
            for i in 0 ..< n where keep[i] {
                for j in 0 ..< dim { vector[j] += Double(hidden.scalars[i * dim + j]) }
            }
            for j in 0 ..< dim { vector[j] /= Double(count) }
        case .max:
            vector = [Double](repeating: -.infinity, count: dim)
            for i in 0 ..< n where keep[i] {
                for j in 0 ..< dim { vector[j] = Swift.max(vector[j], Double(hidden.scalars[i * dim + j])) }
            }
        }
        if normalize {
            let norm = max(1e-12, vector.reduce(0) { $0 + $1 * $1 }.squareRoot())
            vector = vector.map { $0 / norm }
        }
        return vector
    }

    /// Cosine similarity of two vectors.
    public static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        let na = a.reduce(0) { $0 + $1 * $1 }.squareRoot(), nb = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return dot / max(1e-12, na * nb)
    }
}
