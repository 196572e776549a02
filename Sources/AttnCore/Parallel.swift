import Dispatch

/// How many threads AttnLab's own loops use (BLAS has its own setting; `setThreads` sets both).
public enum Parallel {
    nonisolated(unsafe) private static var threadCount = 1

    /// Uses `count` threads for BLAS and for AttnLab's loops over heads.
    public static func setThreads(_ count: Int) {
        threadCount = max(1, count)
        BLAS.setThreads(threadCount)
    }

    public static var threads: Int { threadCount }

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
        if threadCount <= 1 || count <= 1 {
            for i in 0 ..< count { body(i) }
            return
        }
        BLAS.setThreads(1)
        defer { BLAS.setThreads(threadCount) }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }

    /// Runs `body(range)` over `0..<count` cut into one range per thread (none shorter than
    /// `minimum`), for element-wise and row-wise kernels.
    public static func forRanges(_ count: Int, minimum: Int = 4096, _ body: (Range<Int>) -> Void) {
        let parts = min(threadCount, max(1, count / max(minimum, 1)))
        if parts <= 1 {
            body(0 ..< count)
            return
        }
        let size = (count + parts - 1) / parts
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let start = part * size
                if start < count { body(start ..< min(count, start + size)) }
            }
        }
    }
}

/// glibc's allocator tuning (malloc.h, which Swift's Glibc module does not export).
@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
