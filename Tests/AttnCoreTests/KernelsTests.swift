import Foundation
import Testing
@testable import AttnCore

@Suite struct KernelsTests {
    @Test func expIsAccurateAcrossTheRange() {
        var xs = stride(from: -87.0 as Float, through: 88, by: 0.013).map { $0 }
        let reference = xs.map { Foundation.exp(Double($0)) }
        xs.withUnsafeMutableBufferPointer { Kernels.exp($0.baseAddress!, count: $0.count) }
        for (value, expected) in zip(xs, reference) {
            #expect(abs(Double(value) - expected) <= 3e-7 * expected, "exp: \(value) vs \(expected)")
        }
    }

    @Test func expOfMaskedScoresIsZero() {
        var xs: [Float] = [-Float.greatestFiniteMagnitude, -1e30, -100]
        xs.withUnsafeMutableBufferPointer { Kernels.exp($0.baseAddress!, count: 3) }
        #expect(xs == [0, 0, 0])
    }

    @Test func erfIsAccurate() {
        for x in stride(from: -6.0, through: 6, by: 0.001) {
            #expect(abs(Double(Kernels.erf(Float(x))) - Foundation.erf(x)) < 1e-6, "erf(\(x))")
        }
    }

    @Test func softmaxRowsSumToOne() {
        var rows: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1e9, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        rows.withUnsafeMutableBufferPointer { Kernels.softmaxRows($0.baseAddress!, rows: 2, cols: 10) }
        #expect(abs(rows[0 ..< 10].reduce(0, +) - 1) < 1e-6)
        #expect(rows[10] == 0)
        #expect(abs(rows[11] - 1.0 / 9) < 1e-6)
    }

    /// The BLAS kernels a CPU gets: OpenBLAS's own choice unless it fell back to generic kernels.
    @Test func openBLASKernelsAreChosenForTheCPU() {
        let avx2: Set<String> = ["sse2", "avx", "avx2", "fma"]
        let avx512 = avx2.union(["avx512f", "avx512bw", "avx512vl", "avx512dq"])
        #expect(BLAS.betterCore(current: "Prescott", cpuFlags: avx512) == "SkylakeX")
        #expect(BLAS.betterCore(current: "Prescott", cpuFlags: avx2) == "Haswell")
        #expect(BLAS.betterCore(current: "Prescott", cpuFlags: ["sse2", "sse3"]) == nil)
        // Kept: the AVX-512 kernels give a row the same bits whichever rows share its product.
        #expect(BLAS.betterCore(current: "Cooperlake", cpuFlags: avx512) == nil)
        #expect(BLAS.betterCore(current: "Haswell", cpuFlags: avx2) == nil)
        // This process: once chosen, OpenBLAS does not run generic kernels on an AVX2 CPU.
        BLAS.chooseKernels()
        #expect(!["prescott", "unknown"].contains(BLAS.coreName.lowercased()) || !avx2.isSubset(of: Self.cpuFlags))
    }

    private static var cpuFlags: Set<String> {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        return Set(line.split(separator: " ").map(String.init))
    }

    @Test func linearMatchesTheDefinition() {
        let layer = Linear(weight: Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), bias: Tensor(shape: [2], scalars: [0.5, -1]))
        let y = layer(Tensor(shape: [2, 3], scalars: [1, 0, -1, 2, 1, 0]))
        let expected: [Float] = [-1.5, -3, 4.5, 12]   // [1·1 + 3·(-1) + 0.5, 4 - 6 - 1, 2 + 2 + 0.5, 8 + 5 - 1]
        #expect(y.scalars == expected)
    }
}
