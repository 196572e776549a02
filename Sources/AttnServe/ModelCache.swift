import AttnModels
import Foundation

/// The models a server keeps loaded between requests: at most `capacity`, the least recently used
/// dropped first. A model is loaded once even when several requests ask for it at the same time,
/// on the compute queue (loading hashes the weights). Only the models `attnlab models` lists can
/// be loaded, so no request names a folder of its own.
actor ModelCache {
    private let locator: ModelLocator
    private let queue: ComputeQueue
    private let capacity: Int
    private var loading: [String: Task<Loaded, Error>] = [:]
    private var recent: [String] = []

    init(locator: ModelLocator, queue: ComputeQueue, capacity: Int) {
        self.locator = locator
        self.queue = queue
        self.capacity = max(1, capacity)
    }

    /// The models a person can pick: what `attnlab models` lists.
    nonisolated func available() -> [ModelFolder] {
        locator.list()
    }

    /// A model and its chat template (nil when it has none, or one AttnLab cannot render).
    struct Loaded: Sendable {
        var model: LoadedModel
        var chat: ChatTemplate?
    }

    /// The loaded model with id `id` (one of `available()`).
    func model(_ id: String) async throws -> Loaded {
        if let task = loading[id] {
            touch(id)
            return try await task.value
        }
        guard let folder = locator.list().first(where: { $0.id == id }) else {
            throw ServeError(.notFound, "no model \"\(id)\"", hint: "pick one of the models `attnlab models` lists")
        }
        let queue = self.queue
        let task = Task {
            try await queue.run {
                Loaded(model: try LoadedModel(folder: folder), chat: (try? ChatTemplate.load(folder: folder.url)) ?? nil)
            }
        }
        loading[id] = task
        touch(id)
        while recent.count > capacity, let oldest = recent.first {
            recent.removeFirst()
            loading[oldest] = nil
        }
        do {
            return try await task.value
        } catch {
            if loading[id].map({ $0 == task }) ?? false {
                loading[id] = nil
                recent.removeAll { $0 == id }
            }
            throw error
        }
    }

    /// The ids loaded (or loading) now, most recent last.
    func loaded() -> [String] { recent }

    private func touch(_ id: String) {
        recent.removeAll { $0 == id }
        recent.append(id)
    }
}
