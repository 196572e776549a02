import Foundation

/// What one target's campaign did.
public struct FuzzReport: Sendable {
    public var target: String
    /// Inputs read: regression files and seeds, then mutations.
    public var cases = 0
    /// Inputs the reader refused with an error (the expected outcome of most mutations).
    public var errors = 0
    /// The longest time one input took, and that input.
    public var slowest: TimeInterval = 0
    public var slowestInput = Data()
}

/// Runs a target on its regression files, its seeds, then seeded mutations of them, on a thread of
/// its own with the main thread's 8 MB stack, timing every input. An input that crashes the process
/// is written to `<crashFolder>/crash-<target>.bin` by a signal handler before the process dies,
/// and one that runs longer than `hangLimit` seconds to `hang-<target>.bin`, and the process is
/// stopped: a campaign never hangs.
public enum FuzzCampaign {
    public static func run(_ target: FuzzTarget, cases: Int, seconds: Double, seed: UInt64, regressions: [Data] = [],
                           scratch: URL, crashFolder: URL, hangLimit: Double = 60) throws -> FuzzReport {
        let scratchFolder = try FuzzScratch(folder: scratch)
        try FileManager.default.createDirectory(at: crashFolder, withIntermediateDirectories: true)
        let box = ReportBox(FuzzReport(target: target.name))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            var report = box.report
            defer { box.report = report }
            FuzzRecorder.installOnThisThread()
            let seeds = target.seeds()
            var mutator = Mutator(seed: seed ^ stableHash(target.name))
            let deadline = Date().addingTimeInterval(seconds)
            var index = 0
            while true {
                let input: Data
                if index < regressions.count {
                    input = regressions[index]
                } else if index < regressions.count + seeds.count {
                    input = seeds[index - regressions.count]
                } else {
                    guard index < cases, Date() < deadline, !seeds.isEmpty else { break }
                    input = mutator.mutate(seeds[mutator.below(seeds.count)], splice: seeds, dictionary: target.dictionary)
                }
                FuzzRecorder.begin(target: target.name, input: input, folder: crashFolder, hangLimit: hangLimit)
                let start = Date()
                do {
                    try target.read(input, scratchFolder)
                } catch {
                    report.errors += 1
                }
                let elapsed = Date().timeIntervalSince(start)
                FuzzRecorder.end()
                if elapsed > report.slowest { (report.slowest, report.slowestInput) = (elapsed, input) }
                report.cases += 1
                index += 1
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
        done.wait()
        try? FileManager.default.removeItem(at: scratch)
        return box.report
    }

    private final class ReportBox: @unchecked Sendable {
        var report: FuzzReport
        init(_ report: FuzzReport) { self.report = report }
    }

    /// FNV-1a of the name, so that each target gets its own mutations from one campaign seed.
    static func stableHash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}

/// Keeps the input being read where a signal handler can write it out, and watches for hangs.
enum FuzzRecorder {
    private static let capacity = Mutator.maximumSize + (1 << 20)
    private static let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    private static var length = 0
    private static let pathCapacity = 4096
    private static let crashPath = UnsafeMutablePointer<CChar>.allocate(capacity: pathCapacity)
    private static let lock = NSLock()
    private static var started: Date?
    private static var hangPath = ""
    private static var limit = 60.0
    private static var installed = false
    /// The thread that reads the inputs: a crash elsewhere (another test) is not the input's.
    private static var readingThread = pthread_self()
    /// The handlers in place before (the Swift runtime's backtracer), by signal number, restored
    /// before the signal is raised again.
    private static let previousActions = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)

    /// Signal handlers for crashes (installed once), run on an alternate stack of this thread so
    /// that a stack overflow can be reported; this thread becomes the one whose crashes are kept.
    static func installOnThisThread() {
        readingThread = pthread_self()
        let stackSize = 1 << 16
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stackSize, alignment: 16)
        stack.ss_size = stackSize
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        lock.withLock {
            guard !installed else { return }
            installed = true
            for signal in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
                var action = sigaction()
                #if os(Linux)
                action.__sigaction_handler.sa_handler = crashHandler
                #else
                action.__sigaction_u.__sa_handler = crashHandler
                #endif
                action.sa_flags = Int32(SA_ONSTACK)
                sigaction(signal, &action, previousActions + Int(signal))
            }
            Thread.detachNewThread { watch() }
        }
    }

    static func begin(target: String, input: Data, folder: URL, hangLimit: Double) {
        length = min(input.count, capacity)
        input.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: length) }
        let path = folder.appendingPathComponent("crash-\(safeName(target)).bin").path
        _ = path.withCString { strncpy(crashPath, $0, pathCapacity - 1) }
        crashPath[pathCapacity - 1] = 0
        lock.withLock {
            hangPath = folder.appendingPathComponent("hang-\(safeName(target)).bin").path
            limit = hangLimit
            started = Date()
        }
    }

    static func end() {
        lock.withLock { started = nil }
    }

    static func safeName(_ name: String) -> String {
        String(name.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
    }

    private static func watch() {
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            let (start, path, hangLimit) = lock.withLock { (started, hangPath, limit) }
            guard let start, Date().timeIntervalSince(start) > hangLimit else { continue }
            let data = Data(bytes: buffer, count: length)
            try? data.write(to: URL(fileURLWithPath: path))
            FileHandle.standardError.write(Data("fuzz: an input ran longer than \(Int(hangLimit)) s; it is in \(path)\n".utf8))
            abort()
        }
    }

    /// Writes the input to the crash file with async-signal-safe calls, then dies of the signal.
    private static let crashHandler: @convention(c) (Int32) -> Void = { signal in
        guard pthread_equal(pthread_self(), readingThread) != 0 else {
            sigaction(signal, previousActions + Int(signal), nil)
            raise(signal)
            return
        }
        let descriptor = open(crashPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if descriptor >= 0 {
            var written = 0
            while written < length {
                let n = write(descriptor, buffer + written, length - written)
                if n <= 0 { break }
                written += n
            }
            close(descriptor)
        }
        let message: StaticString = "fuzz: the input that crashed the reader is in "
        _ = write(STDERR_FILENO, message.utf8Start, message.utf8CodeUnitCount)
        _ = write(STDERR_FILENO, crashPath, strlen(crashPath))
        _ = write(STDERR_FILENO, "\n", 1)
        sigaction(signal, previousActions + Int(signal), nil)
        raise(signal)
    }
}
