import ArgumentParser
import AttnCore
import AttnModels
import AttnServe
import AttnViews
import Foundation

/// `attnlab bench`: forward-pass speed and memory, with OpenBLAS's own sgemm speed beside it.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the forward pass with full capture (build with -c release).",
        discussion: """
        For each input length and thread count: median and best of repeated runs, GFLOP/s, the \
        ratio to OpenBLAS sgemm measured in the same run, the cost of capturing q/k/v and hidden \
        states, and the peak resident memory. --views times the HTML views; --scan the case study's \
        head scan against the same scan with PyTorch hooks.
        """)

    @Option(help: "The model to time (a folder, an id under Models/, or a Hugging Face id in the cache).")
    var model = "sentence-transformers/all-MiniLM-L6-v2"

    @Option(help: "Input lengths in tokens, comma-separated.")
    var tokens = "16,32,128,512"

    @Option(help: "Thread counts, comma-separated.")
    var threads = "1,2"

    @Option(help: "Seconds to spend on each measurement (at least 5 runs each).")
    var seconds = 1.0

    @Flag(help: "Time the HTML views instead: page size, time to write it, and time to its first draw in headless Chromium.")
    var views = false

    @Flag(help: "Time the case study's full layer × head scan instead, and the same scan with PyTorch forward hooks in a loop (Tools/bench/scan_hooks.py).")
    var scan = false

    @Option(help: "The Python that runs the PyTorch peer of --scan (torch and transformers; default: $ATTNLAB_REFERENCE_PYTHON, else python3).")
    var python: String?

    @Flag(help: "Time the app of `attnlab serve` instead: from a change of text or perturbation to the outputs and the view, through its HTTP API and in headless Chromium (32 tokens).")
    var serve = false

    @Option(help: "Edits timed by --serve.")
    var edits = 100

    @Flag(help: "Print the figures as one JSON object (seconds and bytes) instead of a table.")
    var json = false

    func validate() throws {
        _ = try Self.integers(tokens, "--tokens")
        _ = try Self.integers(threads, "--threads")
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        if [views, scan, serve].filter({ $0 }).count > 1 { throw ValidationError("--views, --scan and --serve are three benchmarks: choose one") }
        if json && (views || scan || serve) { throw ValidationError("--json prints the forward pass's figures; --views, --scan and --serve print tables") }
        guard edits > 0 else { throw ValidationError("--edits must be at least 1") }
    }

    func run() throws {
        #if DEBUG
        print("warning: this is a debug build; build with `swift build -c release` for real figures\n")
        #endif
        let lengths = try Self.integers(tokens, "--tokens")
        let threadCounts = try Self.integers(threads, "--threads")
        if serve {
            let report = try ServeBench.run(model: model, edits: edits) { print($0) }
            var rows = [["path", "edits", "p50", "p95", "max"]]
            for figures in report.figures {
                rows.append([figures.name, "\(figures.milliseconds.count)", Self.ms(figures.percentile(0.5) / 1000),
                             Self.ms(figures.percentile(0.95) / 1000), Self.ms((figures.milliseconds.max() ?? 0) / 1000)])
            }
            print(Table.render(rows))
            print("\nEach edit changes sentence A's last word or the word replacing \"sick\" in B; timed to the outputs and the head view of base and variant (\(report.workers) workers).")
            return
        }
        let folder = try ModelLocator.standard().resolve(model)
        if views {
            try ViewBench.run(folder: folder, lengths: lengths)
            return
        }
        if scan {
            let python = python ?? ProcessInfo.processInfo.environment["ATTNLAB_REFERENCE_PYTHON"] ?? "python3"
            try ScanBench.run(folder: folder, threadCounts: threadCounts, seconds: seconds, python: python, script: ScanBench.peerScript())
            return
        }
        let loaded = try ModelRegistry.load(folder: folder.url)
        let s = loaded.summary
        if !json { print("model \(folder.id): \(s.architecture), \(s.layers) layers × \(s.heads) heads, hidden \(s.hidden), \(String(format: "%.1f", Double(loaded.parameterCount) / 1e6))M parameters") }

        var sgemm: [Int: Double] = [:], dense: [Int: Double] = [:]
        for t in threadCounts {
            BLAS.setThreads(t)
            sgemm[t] = Self.sgemmGFLOPS(size: 1024, seconds: seconds)
        }
        for t in threadCounts {
            dense[t] = Parallel.run(threads: t) { Self.denseGFLOPS(size: 1024, seconds: seconds) }
        }
        if !json {
            let perThreads = { (figures: [Int: Double]) in
                threadCounts.map { "\($0) thread\($0 == 1 ? "" : "s") \(String(format: "%.1f", figures[$0]!)) GFLOP/s" }.joined(separator: ", ")
            }
            print("OpenBLAS \(BLAS.coreName) kernels, softmax and GELU \(Kernels.usesAVX2 ? "AVX2" : "portable"); sgemm 1024×1024×1024: \(perThreads(sgemm))")
            print("dense layers: AttnLab's product on packed weights (\(Linear.kernelName)), 1024×1024×1024: \(perThreads(dense))\n")
        }

        var records: [[String: Any]] = []
        var rows = [["tokens", "threads", "median", "best", "GFLOP/s", "sgemm", "ratio", "of dense", "attention only", "qkv+hidden cost", "peak RSS", "CPU time"]]
        for n in lengths {
            guard n <= s.maxPositions else {
                if json { continue }
                print("skipping \(n) tokens: the model takes at most \(s.maxPositions)")
                continue
            }
            let input = Self.input(length: n, vocabulary: s.vocabulary)
            let flops = loaded.forwardFLOPs(tokens: n)
            for t in threadCounts {
                ProcessMemory.resetPeak()
                let full = try Self.time(seconds: seconds) { _ = try loaded.forward(input, options: ForwardOptions(capture: [.qkv, .hidden], threads: t)) }
                let bare = try Self.time(seconds: seconds) { _ = try loaded.forward(input, options: ForwardOptions(threads: t)) }
                let gflops = flops / full.median / 1e9
                rows.append(["\(n)", "\(t)", Self.ms(full.median), Self.ms(full.best), String(format: "%.1f", gflops),
                             String(format: "%.1f", sgemm[t]!), String(format: "%.0f%%", 100 * gflops / sgemm[t]!),
                             String(format: "%.0f%%", 100 * gflops / dense[t]!),
                             Self.ms(bare.median), String(format: "%+.1f%%", 100 * (full.median / bare.median - 1)),
                             String(format: "%.0f MB", Double(ProcessMemory.peakResidentBytes()) / 1e6), Self.ms(full.cpu)])
                records.append(["tokens": n, "threads": t, "median": full.median, "best": full.best, "gflops": gflops,
                                "sgemm_gflops": sgemm[t]!, "dense_gflops": dense[t]!, "attention_only_median": bare.median, "cpu_median": full.cpu,
                                "peak_rss_bytes": ProcessMemory.peakResidentBytes()])
            }
        }
        if json {
            let object: [String: Any] = ["model": folder.id, "architecture": s.architecture, "blas": BLAS.coreName,
                                         "parameters": loaded.parameterCount, "rows": records]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(Table.render(rows))
        print("\nGFLOP/s counts the linear layers and the two attention products; \"ratio\" is against OpenBLAS's sgemm, \"of dense\" against the dense layers' own product; \"attention only\" is the same pass capturing attention alone;")
        print("\"CPU time\" is the median CPU time of the process per full pass (all threads), which waiting for a busy machine does not add to.")
    }

    /// `n` token ids, the same on every run: 101 and 102 at the ends (BERT's [CLS] and [SEP]),
    /// others drawn from 1000 ..< 30000; every id taken modulo the vocabulary, so that a small one
    /// works too.
    static func input(length n: Int, vocabulary: Int) -> ModelInput {
        var generator = SplitMix64(seed: 42)
        let ids = (0 ..< n).map { i in
            (i == 0 ? 101 : i == n - 1 ? 102 : 1000 + Int(generator.next() % 29000)) % vocabulary
        }
        return ModelInput(ids: ids)
    }

    /// Wall-clock median and best, and the median CPU time of the whole process (every thread) per run.
    struct Timing { var median: Double; var best: Double; var cpu: Double }

    static func time(seconds: Double, _ body: () throws -> Void) rethrows -> Timing {
        try body()  // warm-up
        var samples: [Double] = [], cpu: [Double] = []
        let start = DispatchTime.now().uptimeNanoseconds
        while samples.count < 5 || (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < seconds && samples.count < 1000) {
            let t0 = DispatchTime.now().uptimeNanoseconds, c0 = processCPUSeconds()
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            cpu.append(processCPUSeconds() - c0)
        }
        samples.sort()
        cpu.sort()
        return Timing(median: samples[samples.count / 2], best: samples[0], cpu: cpu[cpu.count / 2])
    }

    /// CPU time used so far by every thread of this process.
    static func processCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
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

    /// The dense layers' product (`Linear`, weights packed) on `n` rows of `n` inputs and outputs.
    static func denseGFLOPS(size n: Int, seconds: Double) -> Double {
        let layer = Linear(weight: Tensor(shape: [n, n], scalars: [Float](repeating: 0.25, count: n * n)), bias: nil)
        let x = [Float](repeating: 0.5, count: n * n)
        var y = [Float](repeating: 0, count: n * n)
        let timing = time(seconds: seconds) {
            y.withUnsafeMutableBufferPointer { layer.apply(x, rows: n, into: $0.baseAddress!) }
        }
        return 2 * Double(n * n * n) / timing.median / 1e9
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.2f ms", seconds * 1000) }

    static func integers(_ list: String, _ option: String) throws -> [Int] {
        let values = list.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(option) takes positive whole numbers separated by commas, for example 16,32")
        }
        return values.map { $0! }
    }
}

/// This process's own resident memory. `getrusage`'s `ru_maxrss` is kept across `execve`, so a
/// bench started from a large process (Python) would report that process's peak; the kernel's
/// `VmHWM` belongs to this program's image alone, and can be reset between measurements.
enum ProcessMemory {
    /// The peak resident set since the start or the last `resetPeak()`, in bytes (0 if unknown).
    static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    /// Starts a new peak at the current resident set (Linux's `clear_refs` 5; ignored elsewhere).
    static func resetPeak() {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
        try? handle.write(contentsOf: Data("5".utf8))
        try? handle.close()
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

/// `attnlab bench --views`: what BertViz's pages cost and what AttnLab's do.
enum ViewBench {
    static func run(folder: ModelFolder, lengths: [Int]) throws {
        let loaded = try LoadedModel(folder: folder)
        let summary = loaded.model.summary
        print("views of \(folder.id) (\(summary.layers) layers × \(summary.heads) heads), traces with q/k/v; first draw in headless Chromium")
        var rows = [["tokens", "view", "page", "write", "first draw"]]
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-view-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for n in lengths where n <= summary.maxPositions {
            let input = BenchCommand.input(length: n, vocabulary: summary.vocabulary)
            let output = try loaded.model.forward(input, capture: [.qkv])
            let tokens = input.ids.enumerated().map { index, id in
                TraceToken(text: loaded.tokenizer.token(for: id) ?? "?", id: id, start: index, end: index + 1, word: index)
            }
            let trace = Trace(inputs: TraceInputs(a: tokens.map(\.text).joined(separator: " ")), tokens: tokens, stacks: output.stacks,
                              provenance: Provenance(model: folder.id, architecture: summary.architecture, capture: ["qkv"]))
            for kind in ViewKind.traceViews {
                let url = scratch.appendingPathComponent("\(n)-\(kind.rawValue).html")
                let start = DispatchTime.now()
                try ViewRenderer.write(trace, view: kind, options: ViewOptions(), to: url)
                let write = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
                rows.append(["\(n)", kind.rawValue, String(format: "%.2f MB", Double(size) / 1e6), String(format: "%.2f s", write),
                             firstDraw(url).map { String(format: "%.2f s", $0 / 1000) } ?? "no chromium"])
            }
        }
        print(Table.render(rows))
        print("\nBertViz's model view of a 6 × 12 model: 53.5 MB at 128 tokens, 870 MB at 512.")
    }

    /// Milliseconds from navigation to the page's first draw, as the page records it.
    static func firstDraw(_ page: URL) -> Double? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                             "--dump-dom", page.absoluteString]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let dom = String(decoding: pipe.fileHandleForReading.readUntilEnd(), as: UTF8.self)
        process.waitUntilExit()
        guard let range = dom.range(of: #"data-first-draw-ms="(\d+)""#, options: .regularExpression) else { return nil }
        return Double(dom[range].filter(\.isNumber))
    }
}
