import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnModels

/// Interventions, scans and attribution declared in experiment files: parsed with every problem at
/// its line and column, checked against the model before anything runs, run, and expected.
@Suite(.serialized) struct CausalExperimentTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-causal-\(UUID().uuidString)")
    var locator: ModelLocator { ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: []) }

    static let header = """
    name: causal
    models:
      - id: sentence-transformers/all-MiniLM-L6-v2
        name: minilm
        task: similarity
        threshold: 0.75
        labels: [not-paraphrase, paraphrase]
    inputs:
      - id: eminem
        base: sick
        a: "the eminem tune was totally awesome."
        b: "dude, that song from eminem was sick!"
    perturbations:
      - { id: terrific, replace: { sick: terrific }, in: b }

    """

    func problems(_ yaml: String) -> [ExperimentError.Problem] {
        do {
            _ = try ExperimentParser.parse(Self.header + yaml, file: "x.yaml")
            return []
        } catch let error as ExperimentError {
            return error.problems
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test func readsInterventionsScansAndAttribution() throws {
        let experiment = try ExperimentParser.parse(Self.header + """
        interventions:
          - { id: no-4.11, ablate: [4.11, 5.4], mode: mean, apply_to: [terrific] }
          - { knockout: { from: terrific, to: [awesome, tune], layers: 3-5 } }
          - { id: half, scale: { heads: [5.4], factor: 0.5 } }
          - { id: p, patch: { site: resid, layers: [2], from: terrific, words: [sick] }, apply_to: [sick] }
        scans:
          - { id: heads, target: eminem/sick, source: eminem/terrific }
          - { id: words, target: eminem/sick, source: eminem/terrific, site: resid, layers: 0-2 }
        attribution:
          - { variants: eminem/terrific, methods: [occlusion, rollout] }
        expect:
          - { scan: heads, top: 3, includes: [5.4] }
          - { scan: heads, cell: 4.11, above: 0.2 }
          - { attribution: eminem/terrific, word: terrific, rank: { max: 2 } }
          - { variant: eminem/terrific+no-4.11, label: paraphrase }
        """, file: "x.yaml")
        #expect(experiment.interventions.map(\.id) == ["no-4.11", "knockout-terrific-awesome-tune-3+4+5", "half", "p"])
        #expect(experiment.interventions[0].intervention == .ablate([HeadRef(layer: 4, head: 11), HeadRef(layer: 5, head: 4)], mode: .mean))
        #expect(experiment.interventions[1].intervention.layers == [3, 4, 5])
        #expect(experiment.interventions[3].intervention == .patch(.residual, from: "terrific", layers: [2], words: ["sick"]))
        #expect(experiment.scans.map(\.site) == [.head, .residual])
        #expect(experiment.scans[1].layers == [0, 1, 2])
        #expect(experiment.attributions.first?.methods == [.occlusion, .rollout])
        #expect(experiment.expectations.map(\.variant) == ["eminem/sick", "eminem/sick", "eminem/terrific", "eminem/terrific+no-4.11"])
        let planned = try Executor.plan(experiment, maskTokens: ["[MASK]"]).map(\.variant.name)
        #expect(planned == ["sick", "terrific", "terrific+no-4.11", "sick+knockout-terrific-awesome-tune-3+4+5",
                            "terrific+knockout-terrific-awesome-tune-3+4+5", "sick+half", "terrific+half", "sick+p"])
    }

    @Test func badReferencesAreFoundWhenTheFileIsParsed() {
        let found = problems("""
        interventions:
          - { ablate: [4] }
          - { patch: { from: fantastic } }
          - { ablate: [1.1], scale: { heads: [1.1], factor: 2 } }
          - { ablate: [1.1], apply_to: [wonderful] }
        scans:
          - { target: eminem/nowhere, source: eminem/terrific }
          - { target: eminem/sick }
          - { target: eminem/sick, source: eminem/terrific, metric: accuracy }
        expect:
          - { scan: missing, top: 3, includes: [5.4] }
          - { attribution: eminem/terrific, word: terrific }
        """)
        let text = found.map { "\($0.line):\($0.column): \($0.key): \($0.message)" }
        func has(_ line: Int, _ fragment: String) -> Bool { text.contains { $0.hasPrefix("\(line):") && $0.contains(fragment) } }
        #expect(has(16, "\"4\" is not a head; write LAYER.HEAD"), "\(text)")
        #expect(has(17, "no variant is named \"fantastic\""), "\(text)")
        #expect(has(18, "one kind per intervention"), "\(text)")
        #expect(has(19, "no variant is named \"wonderful\""), "\(text)")
        #expect(has(21, "no variant is named \"eminem/nowhere\""), "\(text)")
        #expect(has(22, "a patching scan needs a source variant"), "\(text)")
        #expect(has(23, "unknown metric \"accuracy\""), "\(text)")
        #expect(has(25, "no scan is named \"missing\""), "\(text)")
        #expect(has(26, "give the rank the word must reach"), "\(text)")
    }

    @Test func referencesTheModelLacksAreFoundBeforeAnythingRuns() throws {
        let experiment = try ExperimentParser.parse(Self.header + """
        interventions:
          - { ablate: [6.0] }
          - { ablate: [0.12] }
          - { knockout: { from: wonderful, to: awesome }, apply_to: [terrific] }
          - { ablate: [0.0], stack: decoder }
        scans:
          - { target: eminem/sick, source: eminem/terrific, layers: [9] }
        """, file: "x.yaml")
        let started = Date()
        #expect { try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator)) } throws: { error in
            let text = "\(error)"
            return text.contains("x.yaml:16:5: interventions[0]: model minilm: ablate 6.0 (zero): layer 6 is out of range (the model has layers 0–5)")
                && text.contains("x.yaml:17:5: interventions[1]") && text.contains("head 12 is out of range")
                && text.contains("x.yaml:18:5: interventions[2]: no word \"wonderful\" in eminem/terrific")
                && text.contains("x.yaml:19:5: interventions[3]") && text.contains("has no decoder stack")
                && text.contains("x.yaml:21:5: scans[0]: layer 9 is out of range")
        }
        #expect(Date().timeIntervalSince(started) < 20)
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("causal").path), "nothing was written")
    }

    @Test func runsAndExpects() throws {
        let experiment = try ExperimentParser.parse(Self.header + """
        interventions:
          - { id: no-4.11, ablate: [4.11], apply_to: [terrific] }
          - { id: cut, knockout: { from: terrific, to: awesome }, apply_to: [terrific] }
        scans:
          - { id: heads, target: eminem/sick, source: eminem/terrific }
        attribution:
          - { variants: eminem/terrific, methods: [occlusion, rollout] }
        expect:
          - { variant: eminem/terrific+no-4.11, output: similarity, direction: down }
          - { variant: eminem/terrific+cut, invariant: similarity, tolerance: 0.000001 }
          - { scan: heads, top: 1, includes: [4.11] }
          - { scan: heads, cell: 0.0, below: -0.5 }
          - { attribution: eminem/terrific, method: rollout, word: "[CLS]", rank: { max: 1 } }
        """, file: "x.yaml")
        let result = try Executor.run(experiment, options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: "r"))
        let manifest = result.manifest
        let variants = try result.run.records()
        #expect(variants.map(\.variant.path) == ["eminem/sick", "eminem/terrific", "eminem/terrific+no-4.11", "eminem/terrific+cut"])
        #expect(variants[2].variant.intervention == .ablate([HeadRef(layer: 4, head: 11)]))
        #expect(variants[2].change?.base == "eminem/terrific", "an intervention is compared with the variant it changes")
        #expect(manifest.expectations.map(\.passed) == [true, true, true, false, false])
        #expect(manifest.expectations[3].results?.first?.actual.contains("cell 0.0: normalised") == true)
        #expect(manifest.expectations[4].results?.first?.actual.contains("no word \"[CLS]\"") == true, "special tokens are not attributed")
        #expect(manifest.scans.map(\.id) == ["heads"] && manifest.scans[0].result.columns.count == 12)
        #expect(Set(manifest.attributions.map(\.method)) == [.occlusion, .rollout])
        // The run reads back with its scans, and traces of intervention variants say what they ran with.
        let read = try Manifest.read(result.folder.appendingPathComponent("manifest.json"))
        #expect(read == manifest)
        let trace = try result.run.trace(variants[2])
        #expect(trace.interventions == [.ablate([HeadRef(layer: 4, head: 11)])])
    }
}
