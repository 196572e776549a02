import AttnCore
import Foundation

/// A model folder on disk and the name it was asked for by.
public struct ModelFolder: Sendable, Equatable {
    /// The id the user gave (`sentence-transformers/all-MiniLM-L6-v2`) or the folder path.
    public var id: String
    public var url: URL
}

/// Finds model folders: a path, an id or name under `Models/` (and `$ATTNLAB_MODELS`), or a
/// Hugging Face id in the HF cache (`$HF_HOME/hub` or `~/.cache/huggingface/hub`). Never the network.
public struct ModelLocator: Sendable {
    /// Folders searched for ids and names, in order.
    public var roots: [URL]
    /// Hugging Face hub caches searched for `models--ORG--NAME/snapshots/*/`.
    public var hubCaches: [URL]
    /// The hub revision to take from the HF cache (a branch or tag under `refs/`, or a commit
    /// hash); nil means `main`.
    public var revision: String?

    public init(roots: [URL], hubCaches: [URL], revision: String? = nil) {
        self.roots = roots
        self.hubCaches = hubCaches
        self.revision = revision
    }

    /// The locations a user expects: `$ATTNLAB_MODELS` (colon-separated), `./Models`, the
    /// repository's `Models/` found from the binary's own location (so that the binary works from any
    /// folder), and the HF cache.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment,
                                workingDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                                executable: URL? = Self.runningExecutable(),
                                revision: String? = nil) -> ModelLocator {
        var roots: [URL] = []
        if let extra = environment["ATTNLAB_MODELS"] {
            roots += extra.split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        }
        roots.append(workingDirectory.appendingPathComponent("Models"))
        if let repository = executable.flatMap(Self.repositoryModels), !roots.contains(repository) {
            roots.append(repository)
        }
        var caches: [URL] = []
        if let hub = environment["HF_HUB_CACHE"] { caches.append(URL(fileURLWithPath: hub)) }
        if let home = environment["HF_HOME"] { caches.append(URL(fileURLWithPath: home).appendingPathComponent("hub")) }
        let userHome = environment["HOME"] ?? NSHomeDirectory()
        caches.append(URL(fileURLWithPath: userHome).appendingPathComponent(".cache/huggingface/hub"))
        return ModelLocator(roots: roots, hubCaches: caches, revision: revision)
    }

    /// This process's binary, symbolic links resolved (`make install` links it into a prefix).
    public static func runningExecutable() -> URL? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return Bundle.main.executableURL?.resolvingSymlinksInPath()
        }
        return URL(fileURLWithPath: path)
    }

    /// The `Models/` folder of the repository a binary was built in: the nearest ancestor of the
    /// binary holding both `Package.swift` and `Models/` (`REPO/.build/release/attnlab`).
    static func repositoryModels(of executable: URL) -> URL? {
        var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let models = folder.appendingPathComponent("Models")
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path),
               FileManager.default.fileExists(atPath: models.path) {
                return models.standardizedFileURL
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { break }
            folder = parent
        }
        return nil
    }

    /// Resolves what the user typed to a folder with a config.json, a `.gguf` file, or a folder
    /// holding one `.gguf`. A config.json must be a regular file: a FIFO in its place would block
    /// its reader forever.
    public func resolve(_ spec: String) throws -> ModelFolder {
        let folder = try find(spec)
        let config = folder.url.appendingPathComponent("config.json").path
        if FileManager.default.fileExists(atPath: config) {
            do {
                try RegularFile.check(config)
            } catch let error as CoreError {
                throw ModelError("config.json \(error.message)", location: folder.url.path, hint: error.hint)
            }
        }
        return folder
    }

    private func find(_ spec: String) throws -> ModelFolder {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: spec, isDirectory: &isDirectory) {
            let url = URL(fileURLWithPath: spec).standardizedFileURL
            if try GGUFModel.locate(url) != nil { return ModelFolder(id: spec, url: url) }
            guard isDirectory.boolValue else {
                throw ModelError("not a folder", location: spec,
                                 hint: "give the model's folder (the one with config.json) or a .gguf file, not another file")
            }
            guard fm.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
                throw ModelError("no config.json in the model folder", location: spec,
                                 hint: "a model folder holds config.json, the weights and the tokenizer files")
            }
            return ModelFolder(id: spec, url: url)
        }
        for root in roots {
            let direct = root.appendingPathComponent(spec)
            if Self.isModelFolder(direct) { return ModelFolder(id: spec, url: direct) }
        }
        // A bare name (`all-MiniLM-L6-v2`) matches `Models/ORG/NAME`.
        if !spec.contains("/") {
            for root in roots {
                for org in (try? fm.contentsOfDirectory(atPath: root.path))?.sorted() ?? [] {
                    let candidate = root.appendingPathComponent(org).appendingPathComponent(spec)
                    if Self.isModelFolder(candidate) { return ModelFolder(id: "\(org)/\(spec)", url: candidate) }
                }
            }
        }
        if spec.contains("/"), let snapshot = try hubSnapshot(for: spec) {
            return ModelFolder(id: spec, url: snapshot)
        }
        let known = list().map(\.id)
        throw ModelError("unknown model \"\(spec)\"", hint: "looked in " +
            (roots + hubCaches).map(\.path).joined(separator: ", ") +
            (known.isEmpty ? "; no models found there (run `make setup` to fetch the bundled ones)"
                           : "; available: " + known.joined(separator: ", ")))
    }

    /// The snapshot of a hub id in the HF cache that `refs/REVISION` names (`main` unless a revision
    /// is asked for; a revision may also be a commit hash, the snapshot folder's own name). The newest
    /// snapshot folder is not used when a ref exists: a download in progress may have left it incomplete.
    /// Without a `refs/` file (a cache written by hand), the newest complete folder is taken.
    func hubSnapshot(for id: String) throws -> URL? {
        let fm = FileManager.default
        let folderName = "models--" + id.replacingOccurrences(of: "/", with: "--")
        let asked = revision ?? "main"
        for cache in hubCaches {
            let repository = cache.appendingPathComponent(folderName)
            let snapshots = repository.appendingPathComponent("snapshots")
            guard fm.fileExists(atPath: snapshots.path) else { continue }
            let ref = repository.appendingPathComponent("refs").appendingPathComponent(asked)
            if !asked.contains(".."), let data = try? RegularFile.read(ref.path, limit: 1024),
               let hash = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
               !hash.isEmpty, !hash.contains("/") {
                let snapshot = snapshots.appendingPathComponent(hash)
                guard Self.isModelFolder(snapshot) else {
                    throw ModelError("refs/\(asked) names snapshot \(hash), which has no config.json", location: repository.path,
                                     hint: "the download of \(id) is incomplete; download it again")
                }
                return snapshot
            }
            if !asked.contains("/"), !asked.contains(".."), Self.isModelFolder(snapshots.appendingPathComponent(asked)) {
                return snapshots.appendingPathComponent(asked)
            }
            if revision != nil {
                let known = ((try? fm.contentsOfDirectory(atPath: repository.appendingPathComponent("refs").path)) ?? [])
                    + ((try? fm.contentsOfDirectory(atPath: snapshots.path)) ?? [])
                throw ModelError("no revision \"\(asked)\" of \(id) in the Hugging Face cache", location: repository.path,
                                 hint: known.isEmpty ? "the cache holds no revision of it" : "revisions there: " + known.sorted().joined(separator: ", "))
            }
            let revisions = (try? fm.contentsOfDirectory(at: snapshots, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
            let sorted = revisions.filter(Self.isModelFolder).sorted {
                let a = (try? $0.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
                let b = (try? $1.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate) ?? .distantPast
                return a > b
            }
            if let newest = sorted.first { return newest }
        }
        return nil
    }

    /// Every model folder found in the roots (one or two levels deep) and the HF caches.
    public func list() -> [ModelFolder] {
        let fm = FileManager.default
        var found: [ModelFolder] = []
        for root in roots {
            for name in (try? fm.contentsOfDirectory(atPath: root.path))?.sorted() ?? [] where !name.hasPrefix(".") {
                let folder = root.appendingPathComponent(name)
                if Self.isModelFolder(folder) {
                    found.append(ModelFolder(id: name, url: folder))
                    continue
                }
                for inner in (try? fm.contentsOfDirectory(atPath: folder.path))?.sorted() ?? [] {
                    let candidate = folder.appendingPathComponent(inner)
                    if Self.isModelFolder(candidate) { found.append(ModelFolder(id: "\(name)/\(inner)", url: candidate)) }
                }
            }
        }
        for cache in hubCaches {
            for name in (try? fm.contentsOfDirectory(atPath: cache.path))?.sorted() ?? [] where name.hasPrefix("models--") {
                let id = name.dropFirst("models--".count).replacingOccurrences(of: "--", with: "/")
                if let snapshot = try? hubSnapshot(for: id), !found.contains(where: { $0.id == id }) {
                    found.append(ModelFolder(id: id, url: snapshot))
                }
            }
        }
        return found
    }

    /// A folder with config.json, or a GGUF model (a folder holding one `.gguf`).
    static func isModelFolder(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path)
            || (try? GGUFModel.locate(url)) ?? nil != nil
    }
}
