import AttnCore
import Foundation

/// `rope_scaling` (or transformers 5's `rope_parameters`) of a config.json: the RoPE variant and its
/// parameters, as transformers' `modeling_rope_utils` reads them.
public struct RopeScaling: Codable, Sendable, Equatable {
    /// `default`, `linear`, `llama3` or `yarn` (`rope_type`, or the older `type`).
    public var ropeType: String?
    public var type: String?
    public var factor: Double?
    public var lowFreqFactor: Double?
    public var highFreqFactor: Double?
    public var originalMaxPositionEmbeddings: Int?
    public var attentionFactor: Double?
    public var betaFast: Double?
    public var betaSlow: Double?
    public var mscale: Double?
    public var mscaleAllDim: Double?
    public var truncate: Bool?
    /// transformers 5 keeps the base here too.
    public var ropeTheta: Double?
    public var partialRotaryFactor: Double?

    enum CodingKeys: String, CodingKey {
        case ropeType = "rope_type", type, factor, lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings", attentionFactor = "attention_factor"
        case betaFast = "beta_fast", betaSlow = "beta_slow", mscale, mscaleAllDim = "mscale_all_dim", truncate
        case ropeTheta = "rope_theta", partialRotaryFactor = "partial_rotary_factor"
    }

    /// The variant's name (`default` when none is given).
    public var kind: String { ropeType ?? type ?? "default" }
}

/// Rotary position embeddings as transformers' `*RotaryEmbedding` computes them: inverse
/// frequencies from the base and the scaling variant (in float32, as PyTorch does), angles
/// `position · inverseFrequency`, and each head's first `rotaryDim` columns turned as
/// `x·cos + rotate_half(x)·sin` (cos and sin times the variant's attention factor).
struct RotaryEmbedding: Sendable {
    /// `[rotaryDim / 2]`
    var inverseFrequencies: [Float]
    var attentionScaling: Float
    var rotaryDim: Int

    /// `headDim` is the width of one head; `partialFactor` the share of it that rotates.
    init(headDim: Int, theta: Double, scaling: RopeScaling?, maxPositions: Int, partialFactor: Double = 1, path: String) throws {
        let dim = Int(Double(headDim) * partialFactor)
        guard dim >= 2, dim % 2 == 0, dim <= headDim else {
            throw ModelError("the rotary width \(dim) of a \(headDim)-wide head is not an even number from 2 to \(headDim)", location: path)
        }
        guard theta > 0, theta.isFinite else { throw ModelError("rope_theta \(theta) is not a positive number", location: path) }
        rotaryDim = dim
        let base = Float(theta)
        // base ** (arange(0, dim, 2) / dim), in float32.
        let powers = stride(from: 0, to: dim, by: 2).map { Foundation.pow(base, Float($0) / Float(dim)) }
        var inverse = powers.map { 1 / $0 }
        var attentionFactor: Float = 1
        let kind = scaling?.kind ?? "default"
        func required(_ value: Double?, _ key: String) throws -> Double {
            guard let value, value.isFinite else {
                throw ModelError("rope_scaling of type \"\(kind)\" needs a numeric \"\(key)\"", location: path)
            }
            return value
        }
        switch kind {
        case "default":
            break
        case "linear":
            let factor = Float(try required(scaling?.factor, "factor"))
            guard factor > 0 else { throw ModelError("rope_scaling.factor must be positive", location: path) }
            inverse = inverse.map { $0 / factor }
        case "llama3":
            let factor = try required(scaling?.factor, "factor")
            let low = try required(scaling?.lowFreqFactor, "low_freq_factor")
            let high = try required(scaling?.highFreqFactor, "high_freq_factor")
            let original = Double(try required(scaling?.originalMaxPositionEmbeddings.map(Double.init), "original_max_position_embeddings"))
            guard factor > 0, high != low else { throw ModelError("rope_scaling's llama3 factors are degenerate", location: path) }
            let (lowWavelength, highWavelength) = (Float(original / low), Float(original / high))
            inverse = inverse.map { frequency in
                let wavelength = 2 * Float.pi / frequency
                let scaled = wavelength > lowWavelength ? frequency / Float(factor) : frequency
                guard !(wavelength < highWavelength), !(wavelength > lowWavelength) else { return scaled }
                let smooth = (Float(original) / wavelength - Float(low)) / Float(high - low)
                return (1 - smooth) * scaled / Float(factor) + smooth * scaled
            }
        case "yarn":
            let original = scaling?.originalMaxPositionEmbeddings ?? maxPositions
            let factor = scaling?.factor ?? Double(maxPositions) / Double(original)
            guard factor > 0, original > 0 else { throw ModelError("rope_scaling's yarn factor is not positive", location: path) }
            func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * Foundation.log(scale) + 1 }
            if let given = scaling?.attentionFactor {
                attentionFactor = Float(given)
            } else if let m = scaling?.mscale, let all = scaling?.mscaleAllDim, m != 0, all != 0 {
                attentionFactor = Float(mscale(factor, m) / mscale(factor, all))
            } else {
                attentionFactor = Float(mscale(factor))
            }
            let fast = scaling?.betaFast ?? 32, slow = scaling?.betaSlow ?? 1
            func correctionDim(_ rotations: Double) -> Double {
                Double(dim) * Foundation.log(Double(original) / (rotations * 2 * Double.pi)) / (2 * Foundation.log(theta))
            }
            var (low, high) = (correctionDim(fast), correctionDim(slow))
            if scaling?.truncate ?? true { (low, high) = (low.rounded(.down), high.rounded(.up)) }
            (low, high) = (max(low, 0), min(high, Double(dim - 1)))
            if low == high { high += 0.001 }
            inverse = powers.indices.map { i in
                let ramp = min(max((Float(i) - Float(low)) / Float(high - low), 0), 1)
                let extrapolation = 1 - ramp
                let interpolated = 1 / (Float(factor) * powers[i]), extrapolated = 1 / powers[i]
                return interpolated * (1 - extrapolation) + extrapolated * extrapolation
            }
        default:
            throw ModelError("rope_scaling type \"\(kind)\" is not supported", location: path,
                             hint: "AttnLab runs default, linear, llama3 and yarn rotary embeddings")
        }
        inverseFrequencies = inverse
        attentionScaling = attentionFactor
    }

    /// cos and sin `[positions, rotaryDim / 2]` for positions `0 ..< count`.
    func table(positions count: Int) -> (cos: [Float], sin: [Float]) {
        let half = rotaryDim / 2
        var cosines = [Float](repeating: 0, count: count * half), sines = cosines
        for p in 0 ..< count {
            for i in 0 ..< half {
                let angle = Float(p) * inverseFrequencies[i]
                cosines[p * half + i] = Foundation.cos(angle) * attentionScaling
                sines[p * half + i] = Foundation.sin(angle) * attentionScaling
            }
        }
        return (cosines, sines)
    }

    /// Rotates `heads` heads of `rows` rows (`[rows, ld]`, head `h` at column `h·headDim`) in place;
    /// row `r` is at position `r`.
    func rotate(_ x: UnsafeMutablePointer<Float>, ld: Int, rows: Int, heads: Int, headDim: Int,
                table: (cos: [Float], sin: [Float])) {
        let half = rotaryDim / 2
        table.cos.withUnsafeBufferPointer { cosines in
            table.sin.withUnsafeBufferPointer { sines in
                for r in 0 ..< rows {
                    let (c, s) = (cosines.baseAddress! + r * half, sines.baseAddress! + r * half)
                    for h in 0 ..< heads {
                        let head = x + r * ld + h * headDim
                        for i in 0 ..< half {
                            // [x1, x2] → [x1·cos − x2·sin, x2·cos + x1·sin]
                            let (a, b) = (head[i], head[i + half])
                            head[i] = a * c[i] - b * s[i]
                            head[i + half] = b * c[i] + a * s[i]
                        }
                    }
                }
            }
        }
    }
}
