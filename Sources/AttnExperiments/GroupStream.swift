import Foundation

/// Runs groups on worker threads as a producer makes them, and hands each outcome on in group
/// order, one at a time, as soon as it and every group before it are done. At most `window`
/// groups are made but not yet handed on, so memory does not grow with the run: a producer that
/// gets ahead waits.
final class GroupStream<Item: Sendable, Outcome: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private let deliveryLock = NSLock()
    private var queue: [(Int, Item)] = []
    private var finished: [Int: Outcome] = [:]
    private var pending = 0
    private var nextDelivery: Int
    private var producing = true
    private var failure: Error?
    private let window: Int

    /// `first` is the index of the first item the producer makes; items come in order of index.
    init(first: Int, window: Int) {
        nextDelivery = first
        self.window = max(1, window)
    }

    /// Runs it: `produce` calls its argument with each item (index, item) in order; `work` runs on
    /// `workers` threads; `deliver` is called in order, never on two threads at once.
    func run(workers: Int, produce: ((Int, Item) throws -> Void) throws -> Void,
             work: @escaping @Sendable (Item) throws -> Outcome, deliver: @escaping @Sendable (Outcome) throws -> Void) throws {
        let group = DispatchGroup()
        for _ in 0 ..< max(1, workers) {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                workerLoop(work: work, deliver: deliver)
            }
            thread.stackSize = 8 << 20  // as the main thread's: tokenizers and forward passes recurse little, but safely
            thread.start()
        }
        do {
            try produce { index, item in
                condition.lock()
                defer { condition.unlock() }
                while pending >= window && failure == nil { condition.wait() }
                if let failure { throw failure }
                queue.append((index, item))
                pending += 1
                condition.broadcast()
            }
        } catch {
            fail(error)
        }
        condition.lock()
        producing = false
        condition.broadcast()
        condition.unlock()
        group.wait()
        if let failure { throw failure }
    }

    private func fail(_ error: Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    private func workerLoop(work: @Sendable (Item) throws -> Outcome, deliver: @Sendable (Outcome) throws -> Void) {
        while true {
            condition.lock()
            while queue.isEmpty && producing && failure == nil { condition.wait() }
            if failure != nil || (queue.isEmpty && !producing) {
                condition.unlock()
                return
            }
            let (index, item) = queue.removeFirst()
            condition.unlock()
            do {
                let outcome = try work(item)
                condition.lock()
                finished[index] = outcome
                condition.unlock()
                try deliverReady(deliver)
            } catch {
                fail(error)
                return
            }
        }
    }

    /// Hands on every finished outcome whose predecessors are all handed on.
    private func deliverReady(_ deliver: @Sendable (Outcome) throws -> Void) throws {
        deliveryLock.lock()
        defer { deliveryLock.unlock() }
        while true {
            condition.lock()
            guard failure == nil, let outcome = finished.removeValue(forKey: nextDelivery) else {
                condition.unlock()
                return
            }
            condition.unlock()
            try deliver(outcome)
            condition.lock()
            nextDelivery += 1
            pending -= 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
