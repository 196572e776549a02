import CBLAS
import CKernels
import Foundation

/// Matrix products through OpenBLAS.
public enum BLAS {
    /// Sets the number of threads OpenBLAS uses (it reads OPENBLAS_NUM_THREADS only when loaded).
    public static func setThreads(_ count: Int) {
        chooseKernels()
        openblas_set_num_threads(Int32(max(1, count)))
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// The kernel family OpenBLAS is using (`Haswell`, `SkylakeX`, `Prescott`, …).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Switches OpenBLAS to the kernels `betterCore` names for this CPU, once per process, before
    /// the first product (`setThreads` and `Parallel.run` call it). OpenBLAS reads OPENBLAS_CORETYPE
    /// only when it loads, so the kernels are chosen again in place through its own entry points
    /// (present in every build that chooses kernels at run time; without them nothing changes). A
    /// user's own OPENBLAS_CORETYPE is left alone.
    public static func chooseKernels() { _ = kernelChoice }

    private static let kernelChoice: Void = {
        // Only a generic choice is ever replaced: the CPU's flags are read only then.
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              genericCores.contains(coreName.lowercased()),
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        guard let core = betterCore(current: coreName, cpuFlags: flags),
              let process = dlopen(nil, RTLD_LAZY),   // the process's global symbols, OpenBLAS's among them
              let quit = dlsym(process, "gotoblas_dynamic_quit"),
              let initialise = dlsym(process, "gotoblas_dynamic_init") else { return }
        typealias EntryPoint = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", core, 1)
        unsafeBitCast(quit, to: EntryPoint.self)()
        unsafeBitCast(initialise, to: EntryPoint.self)()
        unsetenv("OPENBLAS_CORETYPE")   // child processes choose for themselves
    }()

    /// The kernel family this CPU should get, or nil when OpenBLAS's choice (`current`) is fine:
    /// inside some virtual machines OpenBLAS does not recognise the CPU and falls back to SSE3
    /// kernels ("Prescott") that are three times slower.
    ///
    /// On AMD's AVX-512 CPUs (Zen 4) OpenBLAS picks its Intel AVX-512 kernels, and its AVX2
    /// ("Haswell") sgemm is 4–16% faster there; it is not chosen, because it rounds a row
    /// differently depending on how many rows share the call (its 12-row tiles): a batch would no
    /// longer give each input the bits it gets alone, nor two threads the bits of one. The
    /// AVX-512 kernels give the same bits either way. `OPENBLAS_CORETYPE=Haswell` trades that for
    /// the speed.
    public static func betterCore(current: String, cpuFlags: Set<String>) -> String? {
        guard genericCores.contains(current.lowercased()) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// OpenBLAS's kernel families for CPUs it does not know (SSE-era kernels).
    static let genericCores: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai",
                                            "coppermine", "northwood", "banias", "unknown"]

    /// `C[m, n] = alpha · op(A) · op(B) + beta · C`, all row-major; `op` transposes when asked.
    @inline(__always)
    public static func gemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                            alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Element-wise and row-wise kernels written so that the compiler vectorises them.
public enum Kernels {
    /// Softmax of each row of `[rows, cols]` in place, with the maximum subtracted first; scores at
    /// or below -87.3 (masked ones) get exactly 0. (C, with an AVX2 version chosen at run time.)
    public static func softmaxRows(_ p: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        attn_softmax_rows(p, rows, cols)
    }

    /// The sum of `count` floats, in eight interleaved partial sums so that it vectorises (and is
    /// the same on every run: the order is fixed).
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }

    /// `eˣ` in place: Cephes' polynomial after range reduction by ln 2, relative error about 1e-7;
    /// 0 at or below -87.3.
    public static func exp(_ p: UnsafeMutablePointer<Float>, count: Int) {
        attn_exp(p, count)
    }

    /// GELU with the exact error function, `x · Φ(x)`, as BERT's `"gelu"`, in place.
    public static func gelu(_ p: UnsafeMutablePointer<Float>, count: Int) {
        attn_gelu_erf(p, count)
    }

    /// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`), in place.
    public static func geluTanh(_ p: UnsafeMutablePointer<Float>, count: Int) {
        attn_gelu_tanh(p, count)
    }

    /// ReLU in place.
    public static func relu(_ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { p[i] = max(p[i], 0) }
    }

    /// The error function in single precision: a rational approximation on [-4, 4] (as in Eigen's
    /// fast float erf), absolute error below 1e-6, and ±1 outside.
    public static func erf(_ value: Float) -> Float { attn_erf(value) }

    /// Whether the AVX2 + FMA versions of the kernels run on this CPU.
    public static var usesAVX2: Bool { attn_kernels_use_avx2() != 0 }

    /// Layer normalisation of each row of `[rows, dim]` in place: `(x - mean) / √(var + eps) · γ + β`.
    public static func layerNorm(_ p: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                                 gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>?, eps: Float) {
        for r in 0 ..< rows {
            let row = p + r * dim
            let mean = sum(row, count: dim) / Float(dim)
            var squares: Float = 0
            for j in 0 ..< dim {
                let d = row[j] - mean
                squares += d * d
            }
            let inverse = 1 / (squares / Float(dim) + eps).squareRoot()
            if let beta {
                for j in 0 ..< dim { row[j] = (row[j] - mean) * inverse * gamma[j] + beta[j] }
            } else {
                for j in 0 ..< dim { row[j] = (row[j] - mean) * inverse * gamma[j] }
            }
        }
    }

    /// T5's RMS norm of each row in place: `x / √(mean(x²) + eps) · γ` (no mean, no bias).
    public static func rmsNorm(_ p: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                               gamma: UnsafePointer<Float>, eps: Float) {
        for r in 0 ..< rows {
            let row = p + r * dim
            var squares: Float = 0
            for j in 0 ..< dim { squares += row[j] * row[j] }
            let inverse = 1 / (squares / Float(dim) + eps).squareRoot()
            for j in 0 ..< dim { row[j] = row[j] * inverse * gamma[j] }
        }
    }

    /// `a += b`, element-wise.
    public static func add(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        for i in 0 ..< count { a[i] += b[i] }
    }
}

extension Tensor {
    /// Applies a pointer kernel to all scalars in place.
    public mutating func apply(_ kernel: (UnsafeMutablePointer<Float>, Int) -> Void) {
        let n = count
        withUnsafeMutableBufferPointer { kernel($0.baseAddress!, n) }
    }
}
