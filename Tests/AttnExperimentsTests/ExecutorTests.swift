import AttnCore
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnModels

/// The executor on the real all-MiniLM-L6-v2: the case study end to end, determinism across thread
/// counts, and expectations that fail with their numbers.
@Suite(.serialized) struct ExecutorTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-runs-\(UUID().uuidString)")
    var locator: ModelLocator { ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: []) }

    func experiment(_ name: String = "paraphrase-eminem.yaml") throws -> Experiment {
        try ExperimentParser.load(Self.repository.appendingPathComponent("Experiments/\(name)"))
    }

    @Test func theCaseStudyPasses() throws {
        let result = try Executor.run(try experiment(), options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: "one"))
        let manifest = result.manifest
        let variants = try result.run.records()
        #expect(manifest.passed, "\(manifest.expectations.filter { !$0.passed })")
        #expect(variants.map(\.variant.path) == ["eminem/sick", "eminem/terrific", "eminem/available"])
        #expect(manifest.variantCount == 3 && manifest.resultCount == 8)
        let similarities = variants.map { $0.outputs.similarity ?? 0 }
        #expect(abs(similarities[0] - 0.679) < 1e-3 && abs(similarities[1] - 0.809) < 1e-3 && abs(similarities[2] - 0.644) < 1e-3)
        #expect(variants.map { $0.label ?? "" } == ["not-paraphrase", "paraphrase", "not-paraphrase"])
        // Each perturbed variant keeps what changed against its base, and the manifest the one that changed most.
        #expect(variants[1].change?.base == "eminem/sick" && variants[1].change?.heads.count == 3)
        #expect(variants[1].change?.changedWords == [ChangeSummary.WordChange(a: "sick", b: "terrific")])
        #expect(manifest.mostChanged.map(\.variant).sorted() == ["eminem/available", "eminem/terrific"])
        #expect(manifest.models.first?.weightsHash.count == 64)
        // The run folder is whole: manifest and one trace per variant, nothing temporary.
        let folder = runs.appendingPathComponent("paraphrase-eminem/one")
        for file in ["manifest.json", "variants.jsonl", "results.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path))
        }
        let terrific = try TraceFile.read(folder.appendingPathComponent("traces/minilm/eminem/terrific.safetensors"))
        #expect(terrific.stacks[.encoder]?.query != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs.appendingPathComponent("paraphrase-eminem").path) == ["one"])
    }

    @Test func sameExperimentSameBytesWhateverTheThreadCount() throws {
        let spec = try experiment()
        let one = try Executor.run(spec, options: RunOptions(threads: 1, runsFolder: runs, locator: locator, runID: "t1"))
        let two = try Executor.run(spec, options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: "t2"))
        var (a, b) = (one.manifest, two.manifest)
        a.timing = b.timing
        #expect(a == b)
        #expect(try a.encoded() == b.encoded())
        for file in ["variants.jsonl", "results.jsonl"] {
            #expect(try Data(contentsOf: one.folder.appendingPathComponent(file)) == Data(contentsOf: two.folder.appendingPathComponent(file)))
        }
        for record in try one.run.records() {
            let trace = try #require(record.trace)
            let bytesA = try Data(contentsOf: one.folder.appendingPathComponent(trace))
            let bytesB = try Data(contentsOf: two.folder.appendingPathComponent(trace))
            #expect(bytesA == bytesB, "\(trace) differs between 1 and 2 threads")
        }
    }

    @Test func aModelThatCannotBeLoadedFailsTheRunWithItsCause() throws {
        let spec = try ExperimentParser.parse("name: x\nmodels: [{id: no-such-model}]\ninputs: [{id: i, a: hello}]\n", file: "x.yaml")
        let error = try #require(throws: ExperimentError.self) {
            try Executor.run(spec, options: RunOptions(runsFolder: runs, locator: locator))
        }
        let cause = try #require(error.cause as? ModelError, "the loader's own error is kept: \(error)")
        #expect(error.description == "model no-such-model (no-such-model): \(cause)")
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("x").path), "no run folder is left")
    }

    @Test func failingExpectationsSayWhatWasMeasured() throws {
        var spec = try experiment()
        spec.expectations = try ExperimentParser.parse("""
        name: x
        models: [{id: m, name: minilm}]
        inputs: [{id: i, a: x}]
        expect:
          - variant: eminem/sick
            label: paraphrase
          - variant: eminem/sick
            attention: { from: sick, to: awesome, min: 0.5 }
          - variant: eminem/terrific
            output: similarity
            below: 0.5
          - variant: eminem/available
            output: similarity
            direction: up
          - variant: eminem/terrific
            invariant: similarity
            tolerance: 0.01
          - variant: eminem/sick
            mass: { from: b, to: a, max: 0.01, layers: 0-5 }
          - variant: eminem/nothing
            label: paraphrase
          - variant: eminem/terrific
            attention: { from: eminem, to: awesome, layer: 9, head: 0, min: 0.1 }
        """, file: "x.yaml").expectations
        let result = try Executor.run(spec, options: RunOptions(runsFolder: runs, locator: locator, runID: "fail"))
        let summaries = result.manifest.expectations
        #expect(!result.manifest.passed)
        #expect(summaries.allSatisfy { !$0.passed }, "\(summaries.filter(\.passed))")
        let results = summaries.map { $0.results?.first?.actual ?? $0.problem ?? "" }
        #expect(results[0].contains("label not-paraphrase (similarity 0.6790)"))
        #expect(results[1].contains("attention \"sick\" → \"awesome\" = 0.1122 at layer 1, head 8"))
        #expect(results[2] == "similarity = 0.8088")
        #expect(results[3].contains("0.6790 → 0.6439"))
        #expect(results[4].contains("moved 0.1298"))
        #expect(results[5].contains("attention mass B → A"))
        #expect(results[6].contains("no variant is named eminem/nothing") && summaries[6].checked == 0)
        #expect(results[7].contains("layer 9 does not exist"))
        // Failures say by how much they missed, and are the worst ones listed.
        #expect(abs((summaries[0].worst.first?.margin ?? 0) - 0.071) < 1e-3, "0.6790 is 0.071 below the threshold 0.75")
        #expect(summaries[2].worst.first?.margin.map { abs($0 - 0.3088) < 1e-3 } == true)
    }

    @Test func wordsSplitIntoPiecesAreFound() throws {
        // "eminem" is emi ##nem: the word's attention sums over its key pieces and averages over its query pieces.
        var spec = try experiment()
        spec.expectations = try ExperimentParser.parse("""
        name: x
        models: [{id: m, name: minilm}]
        inputs: [{id: i, a: x}]
        expect:
          - variant: eminem/sick
            attention: { from: eminem, to: eminem, min: 0.5 }
        """, file: "x.yaml").expectations
        let result = try Executor.run(spec, options: RunOptions(runsFolder: runs, locator: locator, runID: "pieces"))
        let outcome = try #require(result.manifest.expectations.first?.results?.first)
        #expect(outcome.passed, "\(outcome.actual)")
        let trace = try result.run.trace(try #require(try result.run.records().first))
        let stack = try #require(trace.stacks[.encoder])
        // Recompute by hand for the head the evaluator reported.
        let numbers = outcome.actual.split(whereSeparator: { !$0.isNumber && $0 != "." }).compactMap { Double($0) }
        let (value, layer, head) = (numbers[0], Int(numbers[1]), Int(numbers[2]))
        let n = trace.tokens.count
        func w(_ q: Int, _ k: Int) -> Double { Double(stack.attention[layer, head, q, k]) }
        // eminem in A is tokens 2, 3; in B tokens 15, 16.
        let pairs = [([2, 3], [15, 16]), ([15, 16], [2, 3]), ([2, 3], [2, 3]), ([15, 16], [15, 16])]
        let best = pairs.map { from, to in from.reduce(0.0) { total, q in total + to.reduce(0.0) { $0 + w(q, $1) } } / 2 }.max()!
        #expect(n == 21)
        #expect(abs(best - value) < 1e-4)
    }
}

extension ExecutorTests {
    @Test func passingExpectationsOfEveryKind() throws {
        var spec = try experiment()
        spec.expectations = try ExperimentParser.parse("""
        name: x
        models: [{id: m, name: minilm}]
        inputs: [{id: i, a: x}]
        expect:
          - { variant: eminem/terrific, output: similarity, above: 0.8 }
          - { variant: eminem/sick, output: similarity, below: 0.7 }
          - { variant: eminem/sick, output: similarity, equals: 0.679, tolerance: 0.001 }
          - { variant: eminem/available, output: similarity, direction: down }
          - { variant: eminem/sick, mass: { from: b, to: a, min: 0.1 } }
          - { variant: eminem/sick, mass: { from: a, to: b, max: 0.9, layer: 5, head: 4 } }
          - { variant: "*/*", attention: { from: eminem, to: "[CLS]", min: 0.05, layers: 0-2 } }
        """, file: "x.yaml").expectations
        let result = try Executor.run(spec, options: RunOptions(runsFolder: runs, locator: locator, runID: "pass"))
        #expect(result.manifest.passed, "\(result.manifest.expectations.filter { !$0.passed })")
        #expect(result.manifest.expectations.count == 7 && result.manifest.resultCount == 9)
    }
    @Test func everythingIsWrittenBeforeTheRunIsRenamedIntoPlace() throws {
        let final = runs.appendingPathComponent("paraphrase-eminem/whole")
        var options = RunOptions(runsFolder: runs, locator: locator, runID: "whole")
        options.finish = { staged in
            // Views, figures and the report go into the staging folder; the run is not visible yet.
            #expect(staged.folder.lastPathComponent.hasPrefix(".whole.partial-"))
            #expect(!FileManager.default.fileExists(atPath: final.path))
            try Data("report".utf8).write(to: staged.folder.appendingPathComponent("report.html"))
        }
        let result = try Executor.run(try experiment(), options: options)
        #expect(result.folder == final)
        #expect(FileManager.default.fileExists(atPath: final.appendingPathComponent("report.html").path))
    }

    @Test func anErrorWhileDrawingLeavesNoHalfWrittenRun() throws {
        var options = RunOptions(runsFolder: runs, locator: locator, runID: "broken")
        options.finish = { staged in
            try Data("half a report".utf8).write(to: staged.folder.appendingPathComponent("report.html"))
            throw CoreError("cannot draw the figure")
        }
        let error = try #require(throws: ExperimentError.self) { try Executor.run(try experiment(), options: options) }
        #expect(error.description.hasSuffix("paraphrase-eminem/broken: cannot write the run: cannot draw the figure"), "\(error)")
        // The experiment's folder was made for this run, so it goes too.
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("paraphrase-eminem").path))
    }
}
