import AttnCore
import Foundation

/// The traces the page has been shown, by id, so that views, scans and downloads read them again
/// without running the model; kept within a byte budget, the least recently used dropped first.
/// A key (the model and the exact request) finds a trace already computed, so an unchanged base
/// is not traced again when only the perturbation changes.
final class TraceStore: @unchecked Sendable {
    private struct Entry {
        var trace: Trace
        var bytes: Int
        var key: String?
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var byKey: [String: String] = [:]
    private var total = 0
    private var counter = 0
    private let budget: Int
    private let salt = UUID().uuidString.prefix(8).lowercased()

    init(budgetBytes: Int) { budget = budgetBytes }

    /// Keeps `trace` and returns its id.
    func add(_ trace: Trace, key: String? = nil) -> String {
        let bytes = Self.size(of: trace)
        return lock.withLock {
            counter += 1
            let id = "t\(counter)-\(salt)"
            entries[id] = Entry(trace: trace, bytes: bytes, key: key)
            order.append(id)
            total += bytes
            if let key { byKey[key] = id }
            // Keep at least the newest few whatever their size: a page shows up to four at once.
            while total > budget, order.count > 4 { remove(order[0]) }
            return id
        }
    }

    func trace(_ id: String) -> Trace? {
        lock.withLock {
            guard let entry = entries[id] else { return nil }
            order.removeAll { $0 == id }
            order.append(id)
            return entry.trace
        }
    }

    /// The id and trace stored under `key`, if still kept.
    func find(key: String) -> (id: String, trace: Trace)? {
        lock.withLock {
            guard let id = byKey[key], let entry = entries[id] else { return nil }
            order.removeAll { $0 == id }
            order.append(id)
            return (id, entry.trace)
        }
    }

    var count: Int { lock.withLock { entries.count } }
    var bytes: Int { lock.withLock { total } }

    private func remove(_ id: String) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        order.removeAll { $0 == id }
        total -= entry.bytes
        if let key = entry.key, byKey[key] == id { byKey[key] = nil }
    }

    static func size(of trace: Trace) -> Int {
        trace.stacks.values.reduce(4096) { total, stack in
            total + 4 * ([stack.attention] + [stack.query, stack.key, stack.value, stack.hidden].compactMap { $0 })
                .reduce(0) { $0 + $1.scalars.count }
        }
    }
}
