import Foundation

/// Set when a request's result is no longer wanted (a newer request of its lane arrived, or its
/// client went away). Work checks it between forward passes.
public final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    public var isCancelled: Bool { lock.withLock { cancelled } }

    public func cancel() { lock.withLock { cancelled = true } }

    /// Throws `ServeError.superseded` once cancelled.
    public func check() throws {
        if isCancelled { throw ServeError.superseded }
    }
}

/// Runs the model work of requests on a fixed number of worker threads, first come first served,
/// with at most `capacity` jobs waiting: a further job is refused at once (busy). The HTTP side
/// never computes, so a long job (a 512-token input) holds one worker for its own time and every
/// other request is still answered. A job whose flag is cancelled while it waits is dropped.
public final class ComputeQueue: @unchecked Sendable {
    private struct Job {
        var flag: CancelFlag
        var work: () -> Void
        var drop: () -> Void
    }

    private let condition = NSCondition()
    private var waiting: [Job] = []
    private var head = 0
    private var running = 0
    private var stopped = false
    public let capacity: Int
    public let workers: Int

    public init(workers: Int, capacity: Int) {
        self.workers = max(1, workers)
        self.capacity = max(1, capacity)
        for index in 0 ..< self.workers {
            let thread = Thread { [weak self] in self?.serve() }
            thread.name = "attnlab-compute-\(index)"
            // Jinja templates and tokenizers recurse; give workers a main thread's stack.
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// Jobs waiting and running now.
    public var load: (waiting: Int, running: Int) {
        condition.withLock { (waiting.count - head, running) }
    }

    /// Runs `body` on a worker and returns its result; throws `ServeError.busy` when the queue is
    /// full and `ServeError.superseded` when `flag` is cancelled before the job starts.
    public func run<T: Sendable>(_ flag: CancelFlag = CancelFlag(), _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
                let job = Job(flag: flag, work: {
                    do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
                }, drop: {
                    continuation.resume(throwing: ServeError.superseded)
                })
                condition.lock()
                let full = waiting.count - head >= capacity || stopped
                if !full {
                    waiting.append(job)
                    condition.signal()
                }
                condition.unlock()
                if full { continuation.resume(throwing: ServeError.busy) }
            }
        } onCancel: {
            flag.cancel()
        }
    }

    /// Lets the workers finish their current job and end.
    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private func serve() {
        while true {
            condition.lock()
            while head == waiting.count && !stopped { condition.wait() }
            if head == waiting.count {
                condition.unlock()
                return
            }
            let job = waiting[head]
            head += 1
            if head > 64 && head * 2 > waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            running += 1
            condition.unlock()
            if job.flag.isCancelled { job.drop() } else { job.work() }
            condition.withLock { running -= 1 }
        }
    }
}

/// The lanes of each page: a request replaces the one before it in the same lane (typing a
/// letter replaces the trace of the word before), whose flag is then cancelled. Bounded: the
/// oldest lanes are forgotten.
public final class Lanes: @unchecked Sendable {
    private let lock = NSLock()
    private var flags: [String: CancelFlag] = [:]
    private var order: [String] = []
    private let limit: Int

    public init(limit: Int = 1024) { self.limit = limit }

    /// A new flag for `session`/`lane`, cancelling the previous one's. Without a lane, a flag of its own.
    public func begin(session: String?, lane: String?) -> CancelFlag {
        let flag = CancelFlag()
        guard let session, let lane, !session.isEmpty, !lane.isEmpty else { return flag }
        let key = session + "\u{0}" + lane
        lock.withLock {
            if let previous = flags[key] {
                previous.cancel()
                order.removeAll { $0 == key }
            }
            flags[key] = flag
            order.append(key)
            if order.count > limit { flags[order.removeFirst()] = nil }
        }
        return flag
    }

    /// True when `session`/`lane` has a request (its latest) that is not cancelled.
    func isActive(session: String, lane: String) -> Bool {
        lock.withLock { flags[session + "\u{0}" + lane].map { !$0.isCancelled } ?? false }
    }
}
