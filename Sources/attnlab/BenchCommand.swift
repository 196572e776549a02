import ArgumentParser
import AttnCore
import AttnModels
import Foundation

/// `attnlab bench`: forward-pass speed and memory, with OpenBLAS's own sgemm speed beside it.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the forward pass with full capture (build with -c release).",
        discussion: """
        For each input length and thread count: median and best of repeated runs, GFLOP/s, the \
        ratio to OpenBLAS sgemm measured in the same run, the cost of capturing q/k/v and hidden \
        states, and the peak resident memory.
        """)

    @Option(help: "The model to time (a folder, an id under Models/, or a Hugging Face id in the cache).")
    var model = "sentence-transformers/all-MiniLM-L6-v2"

    @Option(help: "Input lengths in tokens, comma-separated.")
    var tokens = "16,32,128,512"

    @Option(help: "Thread counts, comma-separated.")
    var threads = "1,2"

    @Option(help: "Seconds to spend on each measurement (at least 5 runs each).")
    var seconds = 1.0

    func validate() throws {
        _ = try Self.integers(tokens, "--tokens")
        _ = try Self.integers(threads, "--threads")
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
    }

    func run() throws {
        #if DEBUG
        print("warning: this is a debug build; build with `swift build -c release` for real figures\n")
        #endif
        let lengths = try Self.integers(tokens, "--tokens")
        let threadCounts = try Self.integers(threads, "--threads")
        let folder = try ModelLocator.standard().resolve(model)
        let loaded = try ModelRegistry.load(folder: folder.url)
        let s = loaded.summary
        print("model \(folder.id): \(s.architecture), \(s.layers) layers × \(s.heads) heads, hidden \(s.hidden), \(String(format: "%.1f", Double(s.parameters) / 1e6))M parameters")

        var sgemm: [Int: Double] = [:]
        for t in threadCounts {
            Parallel.setThreads(t)
            sgemm[t] = Self.sgemmGFLOPS(size: 1024, seconds: seconds)
        }
        print("OpenBLAS \(BLAS.coreName) kernels; sgemm 1024×1024×1024: " + threadCounts.map { "\($0) thread\($0 == 1 ? "" : "s") \(String(format: "%.1f", sgemm[$0]!)) GFLOP/s" }.joined(separator: ", "))
        print("")

        var rows = [["tokens", "threads", "median", "best", "GFLOP/s", "sgemm", "ratio", "attention only", "qkv+hidden cost", "peak RSS"]]
        for n in lengths {
            guard n <= s.maxPositions else {
                print("skipping \(n) tokens: the model takes at most \(s.maxPositions)")
                continue
            }
            let input = Self.input(length: n, vocabulary: s.vocabulary)
            let flops = loaded.forwardFLOPs(tokens: n)
            for t in threadCounts {
                Parallel.setThreads(t)
                let full = try Self.time(seconds: seconds) { _ = try loaded.forward(input, capture: [.qkv, .hidden]) }
                let bare = try Self.time(seconds: seconds) { _ = try loaded.forward(input, capture: []) }
                let gflops = flops / full.median / 1e9
                rows.append(["\(n)", "\(t)", Self.ms(full.median), Self.ms(full.best), String(format: "%.1f", gflops),
                             String(format: "%.1f", sgemm[t]!), String(format: "%.0f%%", 100 * gflops / sgemm[t]!),
                             Self.ms(bare.median), String(format: "%+.1f%%", 100 * (full.median / bare.median - 1)),
                             String(format: "%.0f MB", Double(Self.peakResidentBytes()) / 1e6)])
            }
        }
        print(Table.render(rows))
        print("\nGFLOP/s counts the linear layers and the two attention products; \"attention only\" is the same pass capturing attention alone.")
    }

    static func input(length n: Int, vocabulary: Int) -> ModelInput {
        var generator = SplitMix64(seed: 42)
        let ids = (0 ..< n).map { i in i == 0 ? 101 % vocabulary : i == n - 1 ? 102 % vocabulary : Int(generator.next() % UInt64(min(vocabulary, 30000 - 1000))) + 1000 % vocabulary }
        return ModelInput(ids: ids)
    }

    struct Timing { var median: Double; var best: Double }

    static func time(seconds: Double, _ body: () throws -> Void) rethrows -> Timing {
        try body()  // warm-up
        var samples: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while samples.count < 5 || (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds && samples.count < 1000) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        samples.sort()
        return Timing(median: samples[samples.count / 2], best: samples[0])
    }

    static func sgemmGFLOPS(size n: Int, seconds: Double) -> Double {
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let timing = time(seconds: seconds) {
            c.withUnsafeMutableBufferPointer { cs in
                BLAS.gemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: cs.baseAddress!, ldc: n)
            }
        }
        return 2 * Double(n * n * n) / timing.median / 1e9
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1000) }

    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    static func integers(_ list: String, _ option: String) throws -> [Int] {
        let values = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(option) takes positive whole numbers separated by commas, for example 16,32")
        }
        return values.map { $0! }
    }
}

/// A small deterministic random generator.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
