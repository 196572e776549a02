import Foundation
import Testing
@testable import AttnCore

/// The threads that share a pass's parallel regions: every index of every region runs exactly once,
/// whether the workers are spinning or asleep, and callers on several threads at once each get
/// their whole region (one through the pool, the others through Dispatch).
@Suite struct WorkerPoolTests {
    final class Counts: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Int]
        init(_ count: Int) { values = [Int](repeating: 0, count: count) }
        func add(_ index: Int) { lock.lock(); values[index] += 1; lock.unlock() }
        var all: [Int] { lock.lock(); defer { lock.unlock() }; return values }
    }

    @Test func everyIndexOfEveryRegionRunsOnce() {
        let pool = WorkerPool(workers: 2)
        for count in [1, 2, 3, 7, 64, 500] {
            for round in 0 ..< 200 {
                let counts = Counts(count)
                let ran = pool.run(count, helpers: 2) { counts.add($0) }
                #expect(ran)
                #expect(counts.all == [Int](repeating: 1, count: count), "\(count) indices, round \(round)")
            }
        }
        // After the workers have gone to sleep, a region still wakes them and completes.
        usleep(2_000)
        let counts = Counts(100)
        #expect(pool.run(100, helpers: 2) { index in usleep(50); counts.add(index) })
        #expect(counts.all == [Int](repeating: 1, count: 100))
    }

    @Test func callersOnSeveralThreadsEachGetTheirWholeRegion() {
        let results = Counts(8)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for _ in 0 ..< 50 {
                let counts = Counts(40)
                Parallel.run(threads: 2) { Parallel.forEach(40) { counts.add($0) } }
                if counts.all == [Int](repeating: 1, count: 40) { results.add(caller) }
            }
        }
        #expect(results.all == [Int](repeating: 50, count: 8))
    }
}
