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

    /// Expectations (the items of an `expect:` list) parsed as part of the case study, whose
    /// inputs and variants they name.
    static func expectations(_ items: String) throws -> [ExpectationSpec] {
        let text = try String(contentsOf: repository.appendingPathComponent("Experiments/paraphrase-eminem.yaml"), encoding: .utf8)
        let head = text[..<text.range(of: "\nexpect:")!.lowerBound], tail = text[text.range(of: "\ncapture:")!.lowerBound...]
        return try ExperimentParser.parse(head + "\nexpect:\n" + items + tail, file: "x.yaml").expectations
    }

    @Test func theCaseStudyPasses() throws {
        let result = try Executor.run(try experiment(), options: RunOptions(threads: 2, runsFolder: runs, locator: locator, runID: "one"))
        let manifest = result.manifest
        let variants = try result.run.records()
        #expect(manifest.passed, "\(manifest.expectations.filter { !$0.passed })")
        #expect(variants.map(\.variant.path) == ["eminem/sick", "eminem/terrific", "eminem/available",
                                              "eminem/sick+top3", "eminem/sick+top1", "eminem/sick+all-heads",
                                              "eminem/terrific+no-4.11", "eminem/terrific+no-5.4", "eminem/terrific+no-links"])
        #expect(manifest.variantCount == 9)
        let similarities = variants.map { $0.outputs.similarity ?? 0 }
        #expect(abs(similarities[0] - 0.679) < 1e-3 && abs(similarities[1] - 0.809) < 1e-3 && abs(similarities[2] - 0.644) < 1e-3)
        #expect(variants.prefix(3).map { $0.label ?? "" } == ["not-paraphrase", "paraphrase", "not-paraphrase"])
        // Each perturbed variant keeps what changed against its base, and the manifest the ones that changed most.
        #expect(variants[1].change?.base == "eminem/sick" && variants[1].change?.heads.count == 3)
        #expect(variants[1].change?.changedWords == [ChangeSummary.WordChange(a: "sick", b: "terrific")])
        #expect(manifest.mostChanged.map(\.variant).contains("eminem/terrific"))
        // The causal part: the scan ranks 4.11 first; copying 4.11, 5.9 and 5.4 from "terrific" makes "sick" a paraphrase.
        #expect(manifest.scans.first.map { $0.result.name(of: $0.result.ranked()[0]) } == "4.11")
        #expect(variants.first { $0.variant.path == "eminem/sick+top3" }?.label == "paraphrase")
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
        spec.expectations = try Self.expectations("""
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
        """)
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
        // Failures say by how much they missed, and are the worst ones listed.
        #expect(abs((summaries[0].worst.first?.margin ?? 0) - 0.071) < 1e-3, "0.6790 is 0.071 below the threshold 0.75")
        #expect(summaries[2].worst.first?.margin.map { abs($0 - 0.3088) < 1e-3 } == true)
    }

    /// Names that do not exist, bounds no value can meet, layers and heads the model lacks, words
    /// a variant does not have, a decoder text for an encoder, a mask the model cannot make: each is
    /// found before anything runs, at its line and column, and nothing is written.
    @Test func mistakesAreFoundBeforeTheRun() throws {
        let parsed: String
        do {
            _ = try ExperimentParser.parse("""
            name: x
            models:
              - { id: sentence-transformers/all-MiniLM-L6-v2, name: minilm, task: similarity, threshold: 1.5 }
            inputs:
              - { id: eminem, a: "the eminem tune was totally awesome.", b: "dude, that song from eminem was sick!" }
            perturbations:
              - { id: terrific, replace: { sick: terrific }, in: a }
              - { id: nobody, delete: nobody }
              - { id: ok, replace: { sick: ok } }
            expect:
              - { variant: eminem/available, label: paraphrase }
              - { variant: eminme/ok, label: paraphrase }
              - { variant: eminem/terrific, label: paraphrase }
              - { variant: eminem/ok, attention: { from: ok, to: awesome, min: 1.5 } }
              - { variant: eminem/ok, output: similarity, above: 2 }
              - { variant: eminem/ok, output: paraphrase, below: -0.1 }
            """, file: "x.yaml")
            parsed = ""
        } catch {
            parsed = "\(error)"
        }
        for line in ["x.yaml:3:94: models[0].threshold: 1.5 is out of range: a cosine similarity is between -1 and 1",
                     "x.yaml:7:5: perturbations[0]: the perturbation terrific matches no input: \"sick\" is not a word of sentence A of any input",
                     "x.yaml:8:5: perturbations[1]: the perturbation nobody matches no input: \"nobody\" is not a word of any input",
                     "x.yaml:11:16: expect[0].variant: no variant is named \"available\" for input eminem; variants: base, ok",
                     "x.yaml:12:16: expect[1].variant: no input is named \"eminme\"; inputs: eminem",
                     "x.yaml:13:16: expect[2].variant: the perturbation terrific does not apply to input eminem, so there is no variant eminem/terrific",
                     "x.yaml:14:68: expect[3].attention.min: 1.5 is out of range: attention is a share between 0 and 1",
                     "x.yaml:15:54: expect[4].above: 2 is out of range: a cosine similarity is between -1 and 1",
                     "x.yaml:16:54: expect[5].below: -0.1 is out of range: p(paraphrase) is a probability between 0 and 1"] {
            #expect(parsed.contains(line), "\(line)\nnot in:\n\(parsed)")
        }

        // What only the models can tell: checked once they are loaded, before anything is traced.
        let gpt2 = Self.repository.appendingPathComponent("Tests/attnlabTests/Fixtures/models/gpt2").path
        let experiment = try ExperimentParser.parse("""
        name: x
        models:
          - { id: sentence-transformers/all-MiniLM-L6-v2, name: minilm, task: attention }
          - { id: \(gpt2), name: gpt2 }
        inputs:
          - { id: eminem, a: "the eminem tune was totally awesome.", b: "dude, that song from eminem was sick!" }
          - id: translated
            a: "the cat sat."
            decoder: "le chat"
        perturbations:
          - { id: masked, mask: sick }
          - { id: no-dude, delete: dude }
        expect:
          - { variant: eminem/base, model: minilm, attention: { from: tune, to: awesome, layer: 6, head: 12, min: 0.1 } }
          - { variant: eminem/base, model: minilm, mass: { from: a, to: b, layers: 2-7, min: 0.1 } }
          - { variant: "eminem/*", model: minilm, attention: { from: dude, to: "B:eminem", max: 0.9 } }
          - { variant: eminem/masked, attention: { from: "[MASK]", to: awesome, max: 0.9 } }
          - { variant: translated/base, model: minilm, mass: { from: a, to: b, min: 0.1 } }
        """, file: "x.yaml")
        #expect { try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator)) } throws: { error in
            let text = "\(error)"
            let lines = ["x.yaml:9:14: inputs[1].decoder: model minilm (bert) has no decoder: decoder: is only for encoder-decoder models",
                         "x.yaml:9:14: inputs[1].decoder: model gpt2 (gpt2) has no decoder",
                         "x.yaml:14:55: expect[0].attention: layer 6 is out of range: model minilm has layers 0–5",
                         "x.yaml:14:55: expect[0].attention: head 12 is out of range: model minilm has heads 0–11",
                         "x.yaml:15:50: expect[1].mass: layers 2-7 are out of range: model minilm has layers 0–5",
                         "x.yaml:16:54: expect[2].attention: no word \"dude\" in eminem/no-dude for model minilm",
                         "x.yaml:17:42: expect[3].attention: model gpt2 makes no variant eminem/masked (it has no mask token for the mask perturbation)",
                         "x.yaml:18:54: expect[4].mass: translated/base is not a pair of sentences"]
            for line in lines where !text.contains(line) { Issue.record("\(line)\nnot in:\n\(text)") }
            return true
        }
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("x").path), "nothing was written")
    }

    /// An input that cannot be run (too long for the model) is reported with its error, fails the
    /// expectations that name it and the run, and the other inputs still run.
    @Test func oneBadInputDoesNotStopTheOthers() throws {
        let long = Array(repeating: "word", count: 600).joined(separator: " ")
        let experiment = try ExperimentParser.parse("""
        name: x
        models: [{ id: sentence-transformers/all-MiniLM-L6-v2, name: minilm, task: attention }]
        inputs:
          - { id: short, a: "the eminem tune was totally awesome." }
          - { id: long, a: "\(long)" }
        expect:
          - { variant: short/base, attention: { from: tune, to: eminem, min: 0.5 } }
          - { variant: long/base, attention: { from: word, to: word, min: 0 } }
        """, file: "x.yaml")
        let result = try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator, runID: "bad"))
        let manifest = result.manifest
        #expect(!manifest.passed)
        #expect(try result.run.records().map(\.variant.path) == ["short/base"])
        #expect(manifest.failures == [.init(model: "minilm", subject: "long/base", message: "the input is 602 tokens long, more than the maximum of 512; shorten the text, or pass --truncate to cut it to 512 tokens")])
        #expect(manifest.expectations.map(\.passed) == [true, false])
        #expect((manifest.expectations[1].results?.first?.actual ?? "").hasPrefix("the variant could not be run: the input is 602 tokens long"))
        #expect(try Manifest.read(result.folder.appendingPathComponent("manifest.json")) == manifest)
    }

    @Test func wordsSplitIntoPiecesAreFound() throws {
        // "eminem" is emi ##nem: the word's attention sums over its key pieces and averages over its query pieces.
        var spec = try experiment()
        spec.expectations = try Self.expectations("""
          - variant: eminem/sick
            attention: { from: eminem, to: eminem, min: 0.5 }
        """)
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
        spec.expectations = try Self.expectations("""
          - { variant: eminem/terrific, output: similarity, above: 0.8 }
          - { variant: eminem/sick, output: similarity, below: 0.7 }
          - { variant: eminem/sick, output: similarity, equals: 0.679, tolerance: 0.001 }
          - { variant: eminem/available, output: similarity, direction: down }
          - { variant: eminem/sick, mass: { from: b, to: a, min: 0.1 } }
          - { variant: eminem/sick, mass: { from: a, to: b, max: 0.9, layer: 5, head: 4 } }
          - { variant: "*/*", attention: { from: eminem, to: "[CLS]", min: 0.05, layers: 0-2 } }
          - { variant: eminem/sick, attention: { from: "B:eminem", to: "A:eminem", min: 0.3 } }
          - { variant: eminem/sick, attention: { from: "A:eminem", to: "B:eminem", max: 0.99, layer: 0, head: 0 } }
        """)
        let result = try Executor.run(spec, options: RunOptions(runsFolder: runs, locator: locator, runID: "pass"))
        #expect(result.manifest.passed, "\(result.manifest.expectations.filter { !$0.passed })")
        #expect(result.manifest.expectations.count == 9 && result.manifest.resultCount == 8 + result.manifest.variantCount, "*/* names every variant")
        // A:/B: read one sentence's word: "eminem" of B attends to "eminem" of A in some head.
        let crossing = result.manifest.expectations.first { $0.expectation.contains("\"B:eminem\" → \"A:eminem\"") }
        #expect(crossing?.results?.first?.actual.hasPrefix("attention \"B:eminem\" → \"A:eminem\" = ") == true)
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
