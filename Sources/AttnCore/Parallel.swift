import Dispatch
import Foundation

/// How many threads AttnLab's own loops use. The count is not process-wide: a forward pass states
/// it (`Parallel.run(threads:)`), and the loops inside it read it from the calling thread, so two
/// passes with different counts (a test, a server) do not change each other's. Worker threads
/// run their share serially.
///
/// BLAS itself runs single-threaded inside a pass: the large products are cut into column blocks
/// here (`forColumnBlocks`), the small ones (per head) spread over the threads whole. One pool of
/// threads, not two: OpenBLAS's own threads would spin between products while these work. The
/// threads are AttnLab's `WorkerPool`, awake between the regions of a pass.
public enum Parallel {
    /// The thread budget of the calling thread (1 when nobody set one).
    public static var threads: Int {
        guard let value = pthread_getspecific(budgetKey) else { return 1 }
        return Int(bitPattern: value)
    }

    /// Runs `body` with `count` threads for AttnLab's loops, then restores the calling thread's
    /// previous budget. BLAS runs single-threaded meanwhile (a process setting, the same for
    /// every pass).
    public static func run<R>(threads count: Int, _ body: () throws -> R) rethrows -> R {
        let previous = threads
        setBudget(max(1, count))
        if BLAS.threads != 1 { BLAS.setThreads(1) }
        defer { setBudget(previous) }
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
    /// is the same whichever thread does it, so results do not depend on the thread count.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let budget = threads
        if budget <= 1 || count <= 1 {
            for i in 0 ..< count { body(i) }
            return
        }
        setBudget(1)   // the calling thread runs a share too
        defer { setBudget(budget) }
        perform(count, threads: budget, body)
    }

    /// Runs `body(range)` over the `count` columns of a matrix product cut into one block per
    /// thread, each block a multiple of 64 columns wide; `work` is the product's m·n·k. Products
    /// too small to share stay whole, and no block is made so small that BLAS would take its
    /// small-matrix path (under 10⁶ multiply-adds) for it and not for the whole: each column is
    /// summed in the same order whichever block holds it, so the bits do not depend on the threads.
    public static func forColumnBlocks(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, count / 64, work / 2_000_000)
        if parts <= 1 {
            body(0 ..< count)
            return
        }
        let width = ((count + parts - 1) / parts + 63) / 64 * 64
        forEach((count + width - 1) / width) { part in
            body(part * width ..< min(count, (part + 1) * width))
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
        perform(parts, threads: budget) { part in
            let start = part * size
            if start < count { body(start ..< min(count, start + size)) }
        }
    }

    /// `body(0..<count)` on the calling thread and `threads - 1` others: AttnLab's own workers
    /// (awake between the regions of a pass), or Dispatch's while another thread holds them.
    private static func perform(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        if WorkerPool.shared.run(count, helpers: threads - 1, body) { return }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
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
