import CKernels
import Dispatch
import Foundation
import Synchronization

/// The threads that share a forward pass's parallel regions with the thread that runs it. A
/// region (a matrix product's column blocks, the heads of an attention layer) lasts 20–400 µs, and
/// a pass has about fifty: Dispatch's `concurrentPerform` woke its worker 10–65 µs late on this
/// machine, a tenth of a 128-token pass on two threads. These workers spin for a while after each
/// region (up to `spinTime`) before they sleep, so the next region finds them awake.
///
/// One region at a time: `run` returns false when another thread's region holds the pool, and the
/// caller then uses Dispatch. Region states are numbered: odd while open, even once closed; a
/// worker joins an open region only by registering in `active` and seeing it still open, and the
/// caller closes it, then waits for `active` to drain, before the region's body goes away.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))
    /// How long a worker spins for the next region before it sleeps.
    static let spinTime: UInt64 = 300_000   // ns

    let workers: Int
    private let state = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let active = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let held = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    // The open region: written by the caller before it opens the region, read by workers inside it.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    nonisolated(unsafe) private var count = 0
    nonisolated(unsafe) private var helpers = 0

    init(workers: Int) {
        self.workers = workers
        for index in 0 ..< workers {
            let thread = Thread { [unowned self] in self.work(index) }
            thread.name = "attnlab-worker-\(index)"
            thread.start()
        }
    }

    /// Runs `body(0..<count)` on the calling thread and up to `helpers` workers; false (nothing
    /// run) when the pool is busy with another thread's region or has no workers.
    func run(_ count: Int, helpers: Int, _ body: (Int) -> Void) -> Bool {
        guard workers > 0, helpers > 0,
              held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { held.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            self.count = count
            self.helpers = min(helpers, workers)
            next.store(0, ordering: .relaxed)
            done.store(0, ordering: .relaxed)
            state.add(1, ordering: .sequentiallyConsistent)                  // open
            for _ in 0 ..< min(sleepers.load(ordering: .sequentiallyConsistent), self.helpers) { wake.signal() }
            take(body, count)
            while done.load(ordering: .acquiring) < count { attn_spin_pause() }
            state.add(1, ordering: .sequentiallyConsistent)                  // closed
            while active.load(ordering: .sequentiallyConsistent) > 0 { attn_spin_pause() }
            self.body = nil
        }
        return true
    }

    /// Runs indices of the open region until none is left.
    private func take(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let index = next.add(1, ordering: .relaxed).oldValue
            if index >= count { return }
            body(index)
            done.add(1, ordering: .releasing)
        }
    }

    private func work(_ index: Int) {
        var seen = state.load(ordering: .sequentiallyConsistent)
        while true {
            // Wait for a region opened after `seen`: spin, then sleep.
            var current = state.load(ordering: .acquiring)
            var spinningSince: UInt64 = 0
            var spins = 0
            while current == seen || current & 1 == 0 {
                if current & 1 == 0 { seen = current }
                spins += 1
                if spins & 63 == 0 {
                    let now = DispatchTime.now().uptimeNanoseconds
                    if spinningSince == 0 { spinningSince = now }
                    if now - spinningSince > Self.spinTime {
                        sleepers.add(1, ordering: .sequentiallyConsistent)
                        current = state.load(ordering: .sequentiallyConsistent)
                        if current == seen || current & 1 == 0 { wake.wait() }
                        sleepers.subtract(1, ordering: .sequentiallyConsistent)
                        spinningSince = 0
                    }
                } else {
                    attn_spin_pause()
                }
                current = state.load(ordering: .acquiring)
            }
            seen = current
            active.add(1, ordering: .sequentiallyConsistent)
            if state.load(ordering: .sequentiallyConsistent) == current, index < helpers, let body {
                take(body, count)
            }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
