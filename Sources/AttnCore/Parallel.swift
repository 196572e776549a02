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

    /// Runs `body(0..<count)`, spread over the threads when there is more than one. Each index's work
    /// is the same whichever thread does it, so results do not depend on the thread count.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if threadCount <= 1 || count <= 1 {
            for i in 0 ..< count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count, execute: body)
        }
    }
}
