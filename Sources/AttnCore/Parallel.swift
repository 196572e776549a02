import Dispatch
import Foundation

/// How many threads AttnLab's own loops use. The count is not process-wide: a forward pass states
/// it (`Parallel.run(threads:)`), and the loops inside it read it from the calling thread, so two
/// passes with different counts (a test, a server) do not change each other's. Worker threads
/// run their share serially.
public enum Parallel {
    /// The thread budget of the calling thread (1 when nobody set one).
    public static var threads: Int {
        guard let value = pthread_getspecific(budgetKey) else { return 1 }
        return Int(bitPattern: value)
    }

    /// Runs `body` with `count` threads for AttnLab's loops and for BLAS, then restores the
    /// calling thread's previous budget. BLAS's thread count is a process setting: passes with
    /// different counts at the same time make it a race, which only changes speed, never results.
    public static func run<R>(threads count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        let count = max(1, count)
        setBudget(count)
        if BLAS.threads != count { BLAS.setThreads(count) }
        defer {
            setBudget(previous)
            if BLAS.threads != previous { BLAS.setThreads(previous) }
        }
        return try body()
    }

    /// Keeps freed large buffers in the heap instead of returning them to the kernel, so that
    /// repeated forward passes reuse memory rather than page-faulting 75 MB of fresh attention
    /// buffers each time. Call once at start-up.
    public static func configureAllocator() {
        _ = mallopt(-3 /* M_MMAP_THRESHOLD */, 1 << 30)
        _ = mallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
    }

    /// Runs `body(0..<count)`, spread over the threads when there is more than one. Each index's work
    /// is the same whichever thread does it, so results do not depend on the thread count. BLAS
    /// runs single-threaded inside, so that the two levels of threads do not compete.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let budget = threads
        if budget <= 1 || count <= 1 {
            for i in 0 ..< count { body(i) }
            return
        }
        BLAS.setThreads(1)
        setBudget(1)   // the calling thread runs a share too
        defer {
            setBudget(budget)
            BLAS.setThreads(budget)
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }

    /// Runs `body(range)` over `0..<count` cut into one range per thread (none shorter than
    /// `minimum`), for element-wise and row-wise kernels.
    public static func forRanges(_ count: Int, minimum: Int = 4096, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, max(1, count / max(minimum, 1)))
        if parts <= 1 {
            body(0 ..< count)
            return
        }
        let size = (count + parts - 1) / parts
        let budget = threads
        setBudget(1)
        defer { setBudget(budget) }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = part * size
                if start < count { body(start ..< min(count, start + size)) }
            }
        }
    }

    private static func setBudget(_ count: Int) {
        pthread_setspecific(budgetKey, UnsafeRawPointer(bitPattern: count))
    }

    nonisolated(unsafe) private static let budgetKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()
}

/// glibc's allocator tuning (malloc.h, which Swift's Glibc module does not export).
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
