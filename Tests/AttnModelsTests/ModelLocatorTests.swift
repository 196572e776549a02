import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Model folders are found by path, under Models/ or $ATTNLAB_MODELS, and in the Hugging Face cache.
@Suite struct ModelLocatorTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-locator-\(UUID().uuidString)")

    func copyTinyModel(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("tiny-bert-classifier"), to: folder)
    }

    @Test func findsAnIdUnderModelsAndABareName() throws {
        try copyTinyModel(to: root.appendingPathComponent("Models/acme/tiny-bert"))
        let locator = ModelLocator.standard(environment: ["HOME": root.path], workingDirectory: root, executable: nil)
        #expect(try locator.resolve("acme/tiny-bert").url.lastPathComponent == "tiny-bert")
        #expect(try locator.resolve("tiny-bert").id == "acme/tiny-bert")
        #expect(locator.list().map(\.id) == ["acme/tiny-bert"])
    }

    @Test func findsModelsInAttnlabModels() throws {
        try copyTinyModel(to: root.appendingPathComponent("elsewhere/tiny"))
        let locator = ModelLocator.standard(environment: ["HOME": root.path, "ATTNLAB_MODELS": root.appendingPathComponent("elsewhere").path],
                                            workingDirectory: root, executable: nil)
        #expect(try locator.resolve("tiny").url.path.hasSuffix("elsewhere/tiny"))
    }

    @Test func findsTheNewestSnapshotInTheHuggingFaceCache() throws {
        let hub = root.appendingPathComponent("hf/hub/models--acme--tiny-bert/snapshots")
        try copyTinyModel(to: hub.appendingPathComponent("aaaa"))
        try copyTinyModel(to: hub.appendingPathComponent("bbbb"))
        // Copies keep the fixture's own date, so give both snapshots theirs.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)],
                                              ofItemAtPath: hub.appendingPathComponent("aaaa").path)
        try FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: hub.appendingPathComponent("bbbb").path)
        let locator = ModelLocator.standard(environment: ["HOME": root.path, "HF_HOME": root.appendingPathComponent("hf").path],
                                            workingDirectory: root, executable: nil)
        let folder = try locator.resolve("acme/tiny-bert")
        #expect(folder.url.lastPathComponent == "bbbb")   // no refs/ folder: a cache written by hand
        #expect(locator.list().map(\.id) == ["acme/tiny-bert"])
        _ = try ModelRegistry.load(folder: folder.url)
    }

    @Test func anUnknownModelListsWhereItLookedAndWhatExists() throws {
        try copyTinyModel(to: root.appendingPathComponent("Models/acme/tiny-bert"))
        let locator = ModelLocator.standard(environment: ["HOME": root.path], workingDirectory: root, executable: nil)
        #expect { try locator.resolve("acme/nothing") } throws: { error in
            let text = "\(error)"
            return text.contains("unknown model \"acme/nothing\"") && text.contains(root.appendingPathComponent("Models").path)
                && text.contains("available: acme/tiny-bert")
        }
    }

    @Test func aFileIsNotAModelFolder() throws {
        let file = root.appendingPathComponent("model.safetensors")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data().write(to: file)
        #expect { try ModelLocator.standard().resolve(file.path) } throws: { "\($0)".contains("give the model's folder") }
    }

    @Test func shardedWeightsLoadThroughTheirIndex() throws {
        // Split the tiny model into two shards with an index, as large checkpoints are saved.
        let folder = root.appendingPathComponent("sharded")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.url("tiny-bert-classifier/config.json"), to: folder.appendingPathComponent("config.json"))
        let file = try SafeTensorsFile(path: Fixtures.url("tiny-bert-classifier/model.safetensors").path)
        var first = SafeTensorsWriter(), second = SafeTensorsWriter()
        var map: [String: String] = [:]
        for (index, name) in file.names.enumerated() {
            if index % 2 == 0 { first.add(name, try file.tensor(name)) } else { second.add(name, try file.tensor(name)) }
            map[name] = index % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"
        }
        try first.write(to: folder.appendingPathComponent("model-00001-of-00002.safetensors"))
        try second.write(to: folder.appendingPathComponent("model-00002-of-00002.safetensors"))
        try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
            .write(to: folder.appendingPathComponent("model.safetensors.index.json"))
        let sharded = try ModelRegistry.load(folder: folder)
        let whole = try ModelRegistry.load(folder: Fixtures.url("tiny-bert-classifier"))
        let input = ModelInput(ids: [2, 17, 45, 3])
        #expect(try sharded.forward(input, capture: []).stacks[.encoder]!.attention == whole.forward(input, capture: []).stacks[.encoder]!.attention)
    }

    /// A cache as huggingface_hub leaves it: refs/main names the complete snapshot, and a newer
    /// folder is a download that stopped half-way.
    func cacheWithRefs() throws {
        let repository = root.appendingPathComponent("hf/hub/models--acme--tiny-bert")
        try copyTinyModel(to: repository.appendingPathComponent("snapshots/1111"))
        try copyTinyModel(to: repository.appendingPathComponent("snapshots/2222"))
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("snapshots/3333"), withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: repository.appendingPathComponent("snapshots/3333/config.json"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)],
                                              ofItemAtPath: repository.appendingPathComponent("snapshots/1111").path)
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try Data("1111".utf8).write(to: repository.appendingPathComponent("refs/main"))
        try Data("2222\n".utf8).write(to: repository.appendingPathComponent("refs/v2"))
    }

    func hubLocator(revision: String? = nil) -> ModelLocator {
        ModelLocator.standard(environment: ["HOME": root.path, "HF_HOME": root.appendingPathComponent("hf").path],
                              workingDirectory: root, executable: nil, revision: revision)
    }

    @Test func theCacheIsReadThroughRefsMainNotTheNewestFolder() throws {
        try cacheWithRefs()
        #expect(try hubLocator().resolve("acme/tiny-bert").url.lastPathComponent == "1111")
        #expect(try hubLocator(revision: "v2").resolve("acme/tiny-bert").url.lastPathComponent == "2222")
        #expect(try hubLocator(revision: "2222").resolve("acme/tiny-bert").url.lastPathComponent == "2222")
        #expect { try hubLocator(revision: "v3").resolve("acme/tiny-bert") } throws: { error in
            "\(error)".contains("no revision \"v3\" of acme/tiny-bert") && "\(error)".contains("1111, 2222, 3333, main, v2")
        }
    }

    @Test func aRefNamingAnIncompleteSnapshotSaysSo() throws {
        let repository = root.appendingPathComponent("hf/hub/models--acme--tiny-bert")
        try copyTinyModel(to: repository.appendingPathComponent("snapshots/1111"))
        try FileManager.default.createDirectory(at: repository.appendingPathComponent("refs"), withIntermediateDirectories: true)
        try Data("9999".utf8).write(to: repository.appendingPathComponent("refs/main"))
        #expect { try hubLocator().resolve("acme/tiny-bert") } throws: { "\($0)".contains("download of acme/tiny-bert is incomplete") }
    }

    @Test func theBinaryFindsItsRepositorysModelsFromAnyFolder() throws {
        let repository = root.appendingPathComponent("repo")
        try copyTinyModel(to: repository.appendingPathComponent("Models/acme/tiny-bert"))
        try Data().write(to: repository.appendingPathComponent("Package.swift"))
        let binary = repository.appendingPathComponent(".build/release/attnlab")
        try FileManager.default.createDirectory(at: binary.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data().write(to: binary)
        // Installed as a link in a prefix (make install): the link is followed to the build.
        let installed = root.appendingPathComponent("prefix/bin/attnlab")
        try FileManager.default.createDirectory(at: installed.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: installed, withDestinationURL: binary)
        let elsewhere = root.appendingPathComponent("somewhere")
        for executable in [binary, installed] {
            let locator = ModelLocator.standard(environment: ["HOME": root.path], workingDirectory: elsewhere, executable: executable)
            #expect(try locator.resolve("tiny-bert").url.path.hasSuffix("repo/Models/acme/tiny-bert"))
        }
    }
}
