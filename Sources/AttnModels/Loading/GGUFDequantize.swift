import AttnCore
import Foundation

/// ggml's tensor types, by their number in a GGUF file, with their block layout. Every type ggml
/// defines is known (so that a file's sizes can be checked); `readable` are the ones AttnLab
/// dequantises.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// The types AttnLab dequantises.
    public static let readable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1,
                                              .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    public var isReadable: Bool { Self.readable.contains(self) }

    /// The name ggml and llama.cpp use (`Q4_K`, `IQ2_XXS`).
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f64: "F64"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        default: String(describing: self).uppercased()
        }
    }

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        default: 256
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q8_1: 40
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_XXS: 66
        case .iq2_XS: 74
        case .iq3_XXS: 98
        case .iq1_S: 50
        case .iq4_NL: 18
        case .iq3_S: 110
        case .iq2_S: 82
        case .iq4_XS: 136
        case .iq1_M: 56
        case .tq1_0: 54
        case .tq2_0: 66
        case .mxfp4: 17
        case .nvfp4: 36
        case .q1_0: 18
        }
    }
}

/// Dequantisation to Float32, element for element as ggml's reference `dequantize_row_*`
/// functions (ggml-quants.c) compute it: the same products, in the same order, never fused into
/// one multiply-add, so the results are bitwise those of the reference (and of gguf-py's numpy
/// dequantisers, which follow it).
enum GGUFDequantize {
    /// `count` elements of `type` from `raw`, which holds exactly their blocks.
    static func floats(_ raw: UnsafeRawBufferPointer, type: GGMLType, count: Int, tensor: String, path: String) throws -> [Float] {
        guard type.isReadable else {
            throw ModelError("tensor \(tensor) is \(type.name), a type AttnLab does not dequantise", location: path,
                             hint: "AttnLab reads " + GGMLType.readable.map(\.name).joined(separator: ", ")
                                 + "; re-quantise the model to one of them with llama.cpp's llama-quantize, or use its safetensors checkpoint")
        }
        precondition(raw.count == count / type.blockSize * type.typeSize, "validated by GGUFFile")
        var out = [Float](repeating: 0, count: count)
        let blocks = count / type.blockSize
        out.withUnsafeMutableBufferPointer { y in
            guard let source = raw.baseAddress, let target = y.baseAddress else { return }
            Parallel.forRanges(blocks, minimum: 2048) { range in
                for block in range {
                    let x = source + block * type.typeSize
                    let out = target + block * type.blockSize
                    switch type {
                    case .f32: out[0] = Float(bitPattern: x.loadUnaligned(as: UInt32.self).littleEndian)
                    case .f16: out[0] = half(x)
                    case .bf16: out[0] = Float(bitPattern: UInt32(x.loadUnaligned(as: UInt16.self).littleEndian) << 16)
                    case .q8_0: q8_0(x, out)
                    case .q4_0: q4_0(x, out)
                    case .q4_1: q4_1(x, out)
                    case .q5_0: q5_0(x, out)
                    case .q5_1: q5_1(x, out)
                    case .q2_K: q2_K(x, out)
                    case .q3_K: q3_K(x, out)
                    case .q4_K: q4_K(x, out)
                    case .q5_K: q5_K(x, out)
                    case .q6_K: q6_K(x, out)
                    default: break
                    }
                }
            }
        }
        return out
    }

    /// An IEEE half-precision value (ggml's `GGML_FP16_TO_FP32`, exact).
    @inline(__always) static func half(_ x: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: x.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian))
    }

    @inline(__always) static func byte(_ x: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        x.load(fromByteOffset: offset, as: UInt8.self)
    }

    // MARK: 32-element blocks

    /// `block_q8_0`: d (f16), 32 × int8. y = q·d.
    static func q8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: byte(x, 2 + j))) * d }
    }

    /// `block_q4_0`: d, 16 bytes of nibbles (low nibbles are elements 0–15, high ones 16–31). y = (q − 8)·d.
    static func q4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x)
        for j in 0..<16 {
            let q = byte(x, 2 + j)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    /// `block_q4_1`: d, m, 16 bytes of nibbles. y = q·d + m.
    static func q4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x), m = half(x, 2)
        for j in 0..<16 {
            let q = byte(x, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// `block_q5_0`: d, 32 high bits (u32), 16 bytes of nibbles. y = (q − 16)·d.
    static func q5_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x)
        let qh = x.loadUnaligned(fromByteOffset: 2, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = byte(x, 6 + j)
            let high0 = Int((qh >> UInt32(j)) & 1) << 4, high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = Float((Int(q & 0x0F) | high0) - 16) * d
            y[j + 16] = Float((Int(q >> 4) | high1) - 16) * d
        }
    }

    /// `block_q5_1`: d, m, 32 high bits, 16 bytes of nibbles. y = q·d + m.
    static func q5_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x), m = half(x, 2)
        let qh = x.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        for j in 0..<16 {
            let q = byte(x, 8 + j)
            let high0 = Int((qh >> UInt32(j)) & 1) << 4, high1 = Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = Float(Int(q & 0x0F) | high0) * d + m
            y[j + 16] = Float(Int(q >> 4) | high1) * d + m
        }
    }

    // MARK: 256-element super-blocks (k-quants)

    /// `block_q2_K`: 16 scale bytes (low nibble scale, high nibble min), 64 bytes of 2-bit quants,
    /// d, dmin. Element e of 16-element group g: (d·scale_g)·q − dmin·min_g.
    static func q2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 80), dmin = half(x, 82)
        var out = 0
        for half128 in 0..<2 {
            let q = 16 + 32 * half128
            for shiftIndex in 0..<4 {
                let shift = UInt8(2 * shiftIndex)
                for part in 0..<2 {
                    let scale = byte(x, half128 * 8 + shiftIndex * 2 + part)
                    let dl = d * Float(scale & 0x0F), ml = dmin * Float(scale >> 4)
                    for l in 0..<16 {
                        y[out] = dl * Float((byte(x, q + l + 16 * part) >> shift) & 3) - ml
                        out += 1
                    }
                }
            }
        }
    }

    /// `block_q3_K`: 32 bytes of high bits, 64 bytes of 2-bit quants, 12 bytes of 6-bit scales, d.
    /// y = (d·(scale − 32))·(q − (high bit set ? 0 : 4)).
    static func q3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 108)
        // The 16 scales: low 4 bits from bytes 96–103 (nibbles), high 2 bits from bytes 104–107.
        var scales = [Int](repeating: 0, count: 16)
        for index in 0..<16 {
            let low = index < 8 ? byte(x, 96 + index) & 0x0F : byte(x, 96 + index - 8) >> 4
            let high = (byte(x, 104 + index % 4) >> UInt8(2 * (index / 4))) & 3
            scales[index] = Int(Int8(bitPattern: low | (high << 4))) - 32
        }
        var out = 0
        var mask: UInt8 = 1
        for half128 in 0..<2 {
            let q = 32 + 32 * half128
            for shiftIndex in 0..<4 {
                let shift = UInt8(2 * shiftIndex)
                for part in 0..<2 {
                    let dl = d * Float(scales[half128 * 8 + shiftIndex * 2 + part])
                    for l in 0..<16 {
                        let low = Int((byte(x, q + l + 16 * part) >> shift) & 3)
                        let high = byte(x, l + 16 * part) & mask != 0 ? 0 : 4
                        y[out] = dl * Float(low - high)
                        out += 1
                    }
                }
                mask <<= 1
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0–7) of a Q4_K / Q5_K block's 12 scale bytes.
    @inline(__always) static func scaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
        if j < 4 {
            return (byte(scales, j) & 63, byte(scales, j + 4) & 63)
        }
        return ((byte(scales, j + 4) & 0x0F) | ((byte(scales, j - 4) >> 6) << 4),
                (byte(scales, j + 4) >> 4) | ((byte(scales, j) >> 6) << 4))
    }

    /// `block_q4_K`: d, dmin, 12 scale bytes, 128 bytes of nibbles. y = (d·scale)·q − dmin·min.
    static func q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x), dmin = half(x, 2)
        let scales = x + 4
        for chunk in 0..<4 {
            let (s1, m1) = scaleMin(scales, 2 * chunk), (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            let q = 16 + 32 * chunk
            for l in 0..<32 { y[64 * chunk + l] = d1 * Float(byte(x, q + l) & 0x0F) - min1 }
            for l in 0..<32 { y[64 * chunk + 32 + l] = d2 * Float(byte(x, q + l) >> 4) - min2 }
        }
    }

    /// `block_q5_K`: d, dmin, 12 scale bytes, 32 bytes of high bits, 128 bytes of nibbles.
    static func q5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x), dmin = half(x, 2)
        let scales = x + 4
        for chunk in 0..<4 {
            let (s1, m1) = scaleMin(scales, 2 * chunk), (s2, m2) = scaleMin(scales, 2 * chunk + 1)
            let d1 = d * Float(s1), min1 = dmin * Float(m1)
            let d2 = d * Float(s2), min2 = dmin * Float(m2)
            let bit1 = UInt8(1) << UInt8(2 * chunk), bit2 = UInt8(2) << UInt8(2 * chunk)
            let q = 48 + 32 * chunk
            for l in 0..<32 {
                let high = byte(x, 16 + l) & bit1 != 0 ? 16 : 0
                y[64 * chunk + l] = d1 * Float(Int(byte(x, q + l) & 0x0F) + high) - min1
            }
            for l in 0..<32 {
                let high = byte(x, 16 + l) & bit2 != 0 ? 16 : 0
                y[64 * chunk + 32 + l] = d2 * Float(Int(byte(x, q + l) >> 4) + high) - min2
            }
        }
    }

    /// `block_q6_K`: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales, d.
    /// y = (d·scale)·(q − 32).
    static func q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(x, 208)
        for half128 in 0..<2 {
            let ql = 64 * half128, qh = 128 + 32 * half128, sc = 192 + 8 * half128
            let out = y + 128 * half128
            for l in 0..<32 {
                let group = l / 16
                let high = byte(x, qh + l)
                let q1 = Int((byte(x, ql + l) & 0x0F) | ((high & 3) << 4)) - 32
                let q2 = Int((byte(x, ql + l + 32) & 0x0F) | (((high >> 2) & 3) << 4)) - 32
                let q3 = Int((byte(x, ql + l) >> 4) | (((high >> 4) & 3) << 4)) - 32
                let q4 = Int((byte(x, ql + l + 32) >> 4) | (((high >> 6) & 3) << 4)) - 32
                func scale(_ k: Int) -> Float { Float(Int8(bitPattern: byte(x, sc + group + k))) }
                out[l] = d * scale(0) * Float(q1)
                out[l + 32] = d * scale(2) * Float(q2)
                out[l + 64] = d * scale(4) * Float(q3)
                out[l + 96] = d * scale(6) * Float(q4)
            }
        }
    }
}
