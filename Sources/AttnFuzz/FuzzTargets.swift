import AttnCore
import AttnDiff
import AttnExperiments
import AttnFigures
import AttnModels
import AttnSnapshots
import AttnViews
import Foundation

/// Every reader of a file that a user or a model folder supplies. To fuzz a new reader, add one
/// `FuzzTarget` to `all`.
public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        safetensors, trace, pickle, checkpoint, gguf, npy, tokenizerJSON, sentencePiece, merges, vocabularyTXT,
        experiment, inputsCSV, inputsJSONL, lexiconText, lexiconYAML, template, manifest, runRecords, runResults, snapshot, suiteSnapshot,
        hashCache,
    ]

    /// The target named `name`.
    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }

    // MARK: Weights and arrays

    static let safetensors = FuzzTarget(name: "safetensors", seeds: {
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        writer.add("embeddings.weight", Tensor(shape: [4, 3], scalars: (0 ..< 12).map(Float.init)))
        writer.add("layer.0.bias", Tensor(shape: [3], scalars: [1, 2, 3]), as: .f16)
        writer.add("empty", Tensor(shape: [0, 2], scalars: []))
        return [writer.encoded()] + FuzzSeeds.files(["Tests/attnlabTests/Fixtures/models/gpt2/model.safetensors"])
    }, dictionary: [#""dtype":"BF16""#, #""shape":[]"#, #""data_offsets":[0,0]"#, #""__metadata__":{}"#, #""F64""#, #""I64""#]) { data, scratch in
        let file = try SafeTensorsFile(path: try scratch.write(data, "x.safetensors").path)
        for name in file.names { _ = try? file.tensor(name) }
    }

    static let trace = FuzzTarget(name: "trace", seeds: {
        [try! TraceFile.encode(FuzzSeeds.trace())] + FuzzSeeds.files(["Tests/AttnFiguresTests/Fixtures/translation.trace.safetensors"])
    }, dictionary: [#""tokens":[]"#, #""segment":1"#, #""word":-1"#, #""start":99"#, #""decoder_tokens":["a"]"#, "</script>", #""format_version":2"#]) { data, scratch in
        // Read, then used as the commands use a trace: a view, a figure, a diff against itself.
        let trace = try TraceFile.read(try scratch.write(data, "x.safetensors"))
        _ = try ViewRenderer.render(trace, view: .head)
        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(trace, name: "x")], selections: [.default])
        _ = try FigureRenderer.render(.heatmap, input, format: .svg)
        _ = try TraceDiff.compare(trace, trace)
    }

    static let pickle = FuzzTarget(name: "pickle", seeds: {
        let tensors = FuzzSeeds.pickleTensors
        var seeds = [FuzzSeeds.statePickle(tensors), FuzzSeeds.statePickle(tensors, shared: true),
                     FuzzSeeds.statePickle(tensors, ordered: true)].map { Data($0) }
        for file in ["Tests/AttnModelsTests/Fixtures/architectures/pickle/small.bin", "Tests/AttnModelsTests/Fixtures/architectures/gpt2-bin/pytorch_model.bin"] {
            for data in FuzzSeeds.files([file]) {
                seeds += FuzzSeeds.storedEntries(data).filter { $0.0.hasSuffix("data.pkl") }.map { Data($0.1) }
            }
        }
        return seeds
    }, dictionary: ["(", "t", "l", "d", "}", "]", "q\u{0}", "h\u{0}", "\u{94}", "R", "Q", "b", "0", "2", "s", "u", "a", "e"]) { data, scratch in
        // The pickle inside an archive with storages for the seed tensors.
        let archive = FuzzSeeds.checkpoint(pickle: [UInt8](data), storages: FuzzSeeds.pickleTensors.map(\.1))
        let checkpoint = try PyTorchCheckpoint(path: try scratch.write(archive, "pytorch_model.bin").path)
        for name in checkpoint.tensorNames { _ = try? checkpoint.tensor(name) }
    }

    static let checkpoint = FuzzTarget(name: "pytorch_model.bin", seeds: {
        [FuzzSeeds.checkpoint(pickle: FuzzSeeds.statePickle(FuzzSeeds.pickleTensors, shared: true), storages: FuzzSeeds.pickleTensors.map(\.1))]
            + FuzzSeeds.files(["Tests/AttnModelsTests/Fixtures/architectures/pickle/small.bin",
                               "Tests/AttnModelsTests/Fixtures/architectures/t5-bin/pytorch_model-00001-of-00002.bin"])
    }, dictionary: ["PK\u{1}\u{2}", "PK\u{3}\u{4}", "PK\u{5}\u{6}", "PK\u{6}\u{6}", "PK\u{6}\u{7}", "\u{1}\u{0}\u{10}\u{0}", "\u{8}\u{0}"]) { data, scratch in
        let checkpoint = try PyTorchCheckpoint(path: try scratch.write(data, "pytorch_model.bin").path)
        for name in checkpoint.tensorNames { _ = try? checkpoint.tensor(name) }
    }

    static let gguf = FuzzTarget(name: "gguf", seeds: {
        FuzzSeeds.files(["Tests/AttnModelsTests/Fixtures/gguf/tiny-llama.gguf", "Tests/AttnModelsTests/Fixtures/gguf/quants.gguf",
                         "Tests/AttnModelsTests/Fixtures/gguf/tokenizers/bpe-llama-bpe.gguf", "Tests/AttnModelsTests/Fixtures/gguf/tokenizers/spm-llama.gguf"])
    }, dictionary: ["GGUF", "general.architecture", "llama", "tokenizer.ggml.tokens", "tokenizer.ggml.merges", "general.alignment"]) { data, scratch in
        // The tensors (dequantized), the configuration the metadata implies, the model built from
        // them, and the tokenizer in it.
        let folder = try scratch.emptyFolder("gguf")
        let path = folder.appendingPathComponent("model.gguf").path
        try data.write(to: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)
        for info in file.tensors { _ = try? file.tensor(info.name) }
        _ = try? GGUFModel(file: file).configJSON()
        _ = try? ModelRegistry.load(folder: folder)   // the weights packed into the model's layers
        exercise(try TokenizerLoader.load(folder: folder))
    }

    static let npy = FuzzTarget(name: "npy", seeds: {
        [FuzzSeeds.npy("<f4", [2, 3, 4], elementSize: 4), FuzzSeeds.npy("<f8", [5], elementSize: 8),
         FuzzSeeds.npy("<f2", [1, 2, 2, 3, 3], version: 2, elementSize: 2)]
    }, dictionary: ["'shape': (", "L, ", "'<f4'", "True", "((", "))"]) { data, _ in
        let array = try NumpyArray.parse(data, path: "x.npy")
        _ = try? FigureInputs.make(kind: .heatmap, sources: [.array(array, name: "x")],
                                   selections: array.rank > 3 ? [.default] : [])
    }

    // MARK: Tokenizers

    /// Texts every tokenizer is given: plain, special tokens typed in, scripts, emoji, controls, long.
    static let texts = ["the eminem tune was totally awesome.", "dude, [MASK] <mask> </s> 😀👍🏽 Ⅻ ﬁ Å", "",
                        "İstanbul 東京 عربى \u{0}\t\n\u{301}", String(repeating: "sick! ", count: 300)]

    static func exercise(_ tokenizer: any Tokenizer) {
        for text in texts { _ = try? tokenizer.encode(text) }
        _ = try? tokenizer.encode(texts[0], pair: texts[1])
        _ = try? tokenizer.encode(texts[4], pair: texts[4], maxLength: 16, truncate: true)
    }

    static let tokenizerJSON = FuzzTarget(name: "tokenizer.json", seeds: {
        FuzzSeeds.files(under: "Tests/AttnModelsTests/Fixtures/tokenizer", named: "tokenizer.json").filter { $0.count < 40_000 }
    }, dictionary: [#"{"type":"Sequence","pretokenizers":[]}"#, #"{"type":"ByteLevel"}"#, #""type":"Sequence""#,
                    #"{"type":"Replace","pattern":{"Regex":"(a|a?)+$"},"content":"xx"}"#, #"{"type":"Precompiled","precompiled_charsmap":"AAAA"}"#,
                    #""byte_fallback":true"#, #""unk_id":-1"#, #""vocab":[["a",-1e308]]"#, #""merges":["a b"]"#, #""continuing_subword_prefix":"""#,
                    #""added_tokens":[{"id":0,"content":"","special":true}]"#, #""max_input_chars_per_word":0"#]) { data, scratch in
        let folder = try scratch.emptyFolder("tokenizer")
        try data.write(to: folder.appendingPathComponent("tokenizer.json"))
        exercise(try TokenizerLoader.load(folder: folder))
    }

    static let sentencePiece = FuzzTarget(name: "sentencepiece", seeds: {
        FuzzSeeds.files(["Tests/attnlabTests/Fixtures/models/marian/source.spm", "Tests/attnlabTests/Fixtures/models/marian/target.spm"])
    }) { data, scratch in
        let folder = try scratch.emptyFolder("marian")
        let marian = FuzzSeeds.repository.appendingPathComponent("Tests/attnlabTests/Fixtures/models/marian")
        for name in ["vocab.json", "tokenizer_config.json"] {
            if let file = try? Data(contentsOf: marian.appendingPathComponent(name)) { try file.write(to: folder.appendingPathComponent(name)) }
        }
        try data.write(to: folder.appendingPathComponent("source.spm"))
        try data.write(to: folder.appendingPathComponent("target.spm"))
        exercise(try TokenizerLoader.load(folder: folder))
        exercise(try TokenizerLoader.load(folder: folder, side: .target))
    }

    static let merges = FuzzTarget(name: "vocab.json+merges.txt", seeds: {
        FuzzSeeds.files(["Tests/AttnModelsTests/Fixtures/tokenizer/bpe-files/gpt2/merges.txt",
                         "Tests/AttnModelsTests/Fixtures/tokenizer/bpe-files/gpt2/vocab.json"])
    }, dictionary: ["#version: 0.2\n", "Ġ Ġ\n", "\"<s>\": -1", "\"a\": 99999999"]) { data, scratch in
        // The input is the merges file or the vocabulary, whichever it looks like; the other is the seed's.
        let folder = try scratch.emptyFolder("bpe")
        let original = FuzzSeeds.repository.appendingPathComponent("Tests/AttnModelsTests/Fixtures/tokenizer/bpe-files/gpt2")
        let isVocabulary = data.first == UInt8(ascii: "{")
        for name in ["vocab.json", "merges.txt", "tokenizer_config.json"] where !(isVocabulary ? name == "vocab.json" : name == "merges.txt") {
            if let file = try? Data(contentsOf: original.appendingPathComponent(name)) { try file.write(to: folder.appendingPathComponent(name)) }
        }
        try data.write(to: folder.appendingPathComponent(isVocabulary ? "vocab.json" : "merges.txt"))
        exercise(try TokenizerLoader.load(folder: folder))
    }

    static let vocabularyTXT = FuzzTarget(name: "vocab.txt", seeds: {
        [Data((["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "song", "was", "sick", "##s", "!", ",", "emi", "##nem", "東"]
            .joined(separator: "\n") + "\n").utf8)]
    }) { data, scratch in
        let folder = try scratch.emptyFolder("bert")
        try data.write(to: folder.appendingPathComponent("vocab.txt"))
        try Data(#"{"do_lower_case": true, "mask_token": "[MASK]"}"#.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        exercise(try TokenizerLoader.load(folder: folder))
    }

    // MARK: Experiments and runs

    static let experimentSeed = """
    name: paraphrase-eminem
    description: Why is "sick" not read as "awesome"?
    models:
      - id: sentence-transformers/all-MiniLM-L6-v2
        name: minilm
        task: similarity
        threshold: 0.75
        labels: [not-paraphrase, paraphrase]
        top_k: 5
    inputs:
      - id: eminem
        base: sick
        a: "the eminem tune was totally awesome."
        b: "dude, that song from eminem was sick!"
      - file: inputs.csv
    perturbations:
      - { id: terrific, replace: { sick: terrific }, in: b }
      - { id: adjectives, replace: { sick: [great, fine] } }
      - { id: no-dude, delete: dude }
      - { id: really, insert: { text: really, before: sick } }
      - { id: masked, mask: sick }
      - { id: swapped, swap: true }
    expect:
      - { variant: eminem/terrific, label: paraphrase }
      - { variant: eminem/terrific, output: similarity, above: 0.75 }
      - { variant: eminem/available, invariant: similarity, tolerance: 0.05 }
      - { variant: eminem/terrific, output: similarity, direction: up, by: 0.1 }
      - variant: eminem/terrific
        attention: { from: terrific, to: awesome, min: 0.3, layer: 5, head: 4 }
      - { variant: "eminem/*", attention: { from: dude, to: "[SEP]", max: 0.9, layers: 3-5 } }
      - { variant: eminem/sick, mass: { from: b, to: a, min: 0.1 } }
    capture: [attention, qkv]
    views: [head, model, neuron, compare]
    figures: [heatmap, compare]
    """

    /// The weight-hash cache (`~/.cache/attnlab/file-hashes.json`): whatever it holds, a file's digest
    /// is its own, and hashing another file rewrites the cache without the entries it cannot use.
    static let hashCache = FuzzTarget(name: "hash-cache", seeds: {
        [Data(#"{"/tmp/w.bin": {"sha256": "\#(String(repeating: "ab", count: 32))", "stamp": {"size": 3, "modified": 1, "changed": 1, "inode": 2, "device": 3}}}"#.utf8),
         Data("{}".utf8)]
    }, dictionary: [#""sha256":"#, #""stamp":"#, #""size":-1"#, #""inode":"#, "../", "{", "}", "[", #"\u0000"#]) { data, scratch in
        let cacheURL = try scratch.write(data, "file-hashes.json")
        let weights = try scratch.write(Data("weights".utf8), "weights.bin")
        let cache = FileHashCache(url: cacheURL), expected = SHA256.hash(Data("weights".utf8))
        let first = try cache.sha256(ofFileAt: weights.path), second = try cache.sha256(ofFileAt: weights.path)
        precondition(first == expected, "a planted digest was trusted")
        precondition(second == expected, "the cache's own entry is wrong")
    }

    static let experiment = FuzzTarget(name: "experiment", seeds: {
        [Data(experimentSeed.utf8)] + FuzzSeeds.files(["Experiments/paraphrase-eminem.yaml", "Experiments/occupation-pronouns.yaml"])
    }, dictionary: ["&a [*a, *a]", "*a", "!!binary", "<<: *a", "{", "[", "- ", ": ", "\n  ", "? ", "|\n", "'", "\"\\u0000\"", "../../x", "layers: 5-3"]) { data, scratch in
        try scratch.write(Data("id,a,b\none,hello,bye\n".utf8), "inputs.csv")
        _ = try ExperimentParser.parse(String(decoding: data, as: UTF8.self), file: "x.yaml", folder: scratch.folder)
    }

    /// An experiment reading its inputs from the fuzzed file.
    static func inputsTarget(_ name: String, seeds: [String]) -> FuzzTarget {
        FuzzTarget(name: "inputs.\(name)", seeds: { seeds.map { Data($0.utf8) } }, dictionary: ["\"", ",", "\n", "\r\n", "{", "}", "\"id\":", "..", "/"]) { data, scratch in
            try scratch.write(data, "inputs.\(name)")
            _ = try ExperimentParser.parse("name: x\nmodels: [{id: m}]\ninputs: [{file: inputs.\(name)}]\n", file: "x.yaml", folder: scratch.folder)
        }
    }

    static let inputsCSV = inputsTarget("csv", seeds: ["id,a,b,decoder\none,\"hello, world\",bye,\ntwo,\"say \"\"hi\"\"\",,x\n,only a\n"])
    static let inputsJSONL = inputsTarget("jsonl", seeds: ["{\"id\": \"three\", \"a\": \"x\", \"b\": \"y\"}\n{\"a\": \"z\", \"decoder\": \"d\"}\n\n"])

    /// A lexicon file read by an experiment that replaces words from it and fills a template with it.
    static func lexiconTarget(_ extensionName: String, seeds: [String]) -> FuzzTarget {
        FuzzTarget(name: "lexicon.\(extensionName)", seeds: { seeds.map { Data($0.utf8) } },
                   dictionary: [":", ",", "#", "\n", "- ", "{", "[", "@", "{{", "}}", "{l}"]) { data, scratch in
            try scratch.write(data, "l.\(extensionName)")
            _ = try ExperimentParser.parse("""
            name: x
            models: [{id: m}]
            lexicons: { l: l.\(extensionName) }
            inputs: [{id: i, a: "good and bad"}, {template: t, a: "it was {l} and {l1}"}]
            perturbations: [{id: p, replace: "@l"}, {id: q, replace: {good: "@l"}}, {id: r, delete: "@l"}]
            """, file: "x.yaml", folder: scratch.folder)
        }
    }

    static let lexiconText = lexiconTarget("txt", seeds: ["good: great, fine\nbad: awful # the opposite\n", "good\ngreat\n\n# more\nfine\n"])
    static let lexiconYAML = lexiconTarget("yaml", seeds: ["good: [great, fine]\nbad: awful\n", "[good, great, fine]\n"])

    /// A template's text (sentence A), filled from inline lexicons.
    static let template = FuzzTarget(name: "template", seeds: {
        ["the {food} was {adj}.", "{adj1} and {adj2}, {{literal}}", "{food}{food}{adj}"].map { Data($0.utf8) }
    }, dictionary: ["{", "}", "{{", "}}", "{adj}", "{adj1}", "{adj9}", "{food}", "{}", "{ adj }"]) { data, scratch in
        let text = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        let experiment = try ExperimentParser.parse("""
        name: x
        models: [{id: m}]
        lexicons: { adj: [good, bad, fine], food: [soup, bread] }
        inputs:
          - template: t
            a: |-
        \(text)
        sample: { size: 50, seed: 1 }
        """, file: "x.yaml", folder: scratch.folder)
        _ = Array(experiment.inputs)
    }

    static let manifestSeed = """
    {
      "attnlab_version" : "0.1.0",
      "attributions" : [],
      "experiment" : { "description" : "d", "file" : "x.yaml", "hash" : "ab", "inputs" : 1, "name" : "x" },
      "expectations" : [ { "by_model" : [ { "checked" : 1, "failed" : 1, "name" : "m" } ], "by_perturbation" : [ { "checked" : 1, "failed" : 1, "name" : "base" } ],
                           "checked" : 1, "expectation" : "label is paris", "failed" : 1, "index" : 0, "line" : 5, "passed" : false, "variant" : "i/base",
                           "worst" : [ { "actual" : "label city", "expectation" : "label is paris", "index" : 0, "line" : 5, "margin" : 0.2, "model" : "m",
                                         "passed" : false, "perturbation" : "base", "variant" : "i/base" } ] } ],
      "format" : 2,
      "models" : [ { "architecture" : "bert", "heads" : 2, "id" : "m", "layers" : 2, "name" : "m", "task" : "masked-lm", "tokenizer_hash" : "a", "weights_hash" : "b" } ],
      "most_changed" : [ { "base" : "i/base", "divergence" : 0.1, "model" : "m", "variant" : "i/p" } ],
      "passed" : false,
      "result_count" : 1,
      "scans" : [],
      "storage" : { "attention" : "needed", "heads" : [ "1.0" ], "layers" : [], "most_changed" : 3, "precision" : "uint8" },
      "timing" : { "run_id" : "r", "seconds" : 1.5, "started" : "2026-01-01T00:00:00Z", "threads" : 2, "variants_per_second" : 2 },
      "variant_count" : 2
    }
    """

    static let manifest = FuzzTarget(name: "manifest.json", seeds: { [Data(manifestSeed.utf8)] },
                                     dictionary: ["\"..\"", "\"a/b\"", "\"\"", "null", "[]", "{}", "1e999", "\"format\" : 1"]) { data, scratch in
        _ = try Manifest.read(try scratch.write(data, "manifest.json"))
    }

    static let recordsSeed = """
    {"label":"city","model":"m","outputs":{"topk":[{"candidates":[{"id":5,"probability":0.5,"token":"city"}],"position":6}]},"tokens":8,"trace":"traces/m/i/base.safetensors","variant":{"a":"the capital of france is [MASK].","edits":[],"input":"i","name":"base","swapped":false}}
    {"change":{"base":"i/base","changed_words":[{"a":"france","b":"italy"}],"heads":[{"head":0,"js_divergence":0.1,"l1":0.2,"layer":1,"top_k_change":0.3}],"words":[]},"heads":[{"entropy":[1.5,2],"heads":1,"layers":2,"stack":"encoder"}],"label":"city","model":"m","outputs":{},"tokens":8,"variant":{"a":"the capital of italy is [MASK].","edits":[{"after":"italy","base_end":20,"base_start":14,"before":"france","segment":0,"variant_end":19,"variant_start":14}],"family":"p","input":"i","name":"p","perturbation":"replace","swapped":false}}
    """

    static let resultsSeed = """
    {"actual":"label city","expectation":"label is paris","index":0,"line":5,"margin":0.2,"model":"m","passed":false,"perturbation":"base","variant":"i/base"}
    """

    /// A run folder whose `variants.jsonl` (or `results.jsonl`) is the input, read as `attnlab
    /// view`, `diff` and `merge` read it.
    static func runTarget(_ file: String, seeds: String) -> FuzzTarget {
        FuzzTarget(name: file, seeds: { [Data(seeds.utf8)] }, dictionary: ["\"..\"", "\"a/b\"", "\"\"", "null", "\n", "{}", "1e999", "\"trace\":\"x\""]) { data, scratch in
            let folder = try scratch.emptyFolder("run")
            try Data(manifestSeed.utf8).write(to: folder.appendingPathComponent(RunFiles.manifest))
            try Data(recordsSeed.utf8).write(to: folder.appendingPathComponent(RunFiles.variants))
            try Data(resultsSeed.utf8).write(to: folder.appendingPathComponent(RunFiles.results))
            try data.write(to: folder.appendingPathComponent(file))
            let run = try RunFolder(folder)
            try run.forEachRecord { record in
                _ = try? run.trace(record)
                return true
            }
            try run.forEachResult { _ in true }
        }
    }

    static let runRecords = runTarget(RunFiles.variants, seeds: recordsSeed)
    static let runResults = runTarget(RunFiles.results, seeds: resultsSeed)

    // MARK: Snapshots

    static let snapshotFolder = "Snapshots/paraphrase-eminem"
    static let snapshotFiles = ["experiment.json", "minilm/eminem/sick.json", "minilm/eminem/sick.safetensors"]

    /// The input replaces the case study's snapshot file it looks like: experiment.json, a variant's
    /// JSON, or its attention file.
    static let snapshot = FuzzTarget(name: "snapshot", seeds: {
        FuzzSeeds.files(snapshotFiles.map { "\(snapshotFolder)/\($0)" })
    }, dictionary: ["\"shape\" : [", "\"heads\" : [", "null", "\"variants\" : [\"a/b/c\"]", "<<<<<<< HEAD\n", "-1e308", "1e308"]) { data, _ in
        var files: [String: Data] = [:]
        for path in snapshotFiles {
            files[path] = try? Data(contentsOf: FuzzSeeds.repository.appendingPathComponent("\(snapshotFolder)/\(path)"))
        }
        let isJSON = data.starts(with: Array("{".utf8))
        let isExperiment = isJSON && data.range(of: Data("\"unmatched_expectations\"".utf8)) != nil
        files[isExperiment ? snapshotFiles[0] : isJSON ? snapshotFiles[1] : snapshotFiles[2]] = data
        let stored = try StoredSnapshots(name: "paraphrase-eminem", files: files, folder: snapshotFolder)
        for variant in stored.variants.values { _ = try? variant.trace() }
        _ = try SnapshotComparer.compare(old: stored, new: stored)
    }

    static let suiteExperimentSeed = """
    {
      "attnlab_version": "0.1.0",
      "experiment": {"name": "s", "file": "s.yaml", "sha256": "ab"},
      "expectations": [
        {"line": 3, "expected": "label is paraphrase", "variant": "*/base", "allowed": "10%", "checked": 2, "failed": 1, "passed": false,
         "by_model": [{"name": "minilm", "checked": 2, "failed": 1}], "by_perturbation": [{"name": "base", "checked": 2, "failed": 1}]}
      ],
      "format_version": 1,
      "kind": "suite",
      "models": [{"name": "minilm", "id": "m", "architecture": "bert", "task": "similarity", "layers": 6, "heads": 12, "weights_sha256": "a", "tokenizer_sha256": "b"}],
      "variants": []
    }
    """

    static let suiteOutputsSeed = """
    {"variant": "a/base", "similarity": 0.812345, "label": "paraphrase"}
    {"variant": "a/syn-good-great", "perturbation": "syn-good", "similarity": 0.701234, "label": "not-paraphrase", "failed": [3]}
    {"variant": "b/base", "topk": [{"position": 2, "candidates": [["city", 0.5]], "watched": [["she", 0.1]]}], "probabilities": [0.1, 0.9], "labels": ["x", "y"]}
    """

    /// A suite's snapshot: the input is its outputs file (or, when it starts like one, experiment.json),
    /// compared with the seed's.
    static let suiteSnapshot = FuzzTarget(name: "suite snapshot", seeds: { [Data(suiteOutputsSeed.utf8), Data(suiteExperimentSeed.utf8)] },
                                          dictionary: ["\"failed\": [", "null", "\"kind\": \"suite\"", "\n", "[[", "1e308"]) { data, _ in
        let isExperiment = data.range(of: Data("\"kind\"".utf8)) != nil
        let files = ["experiment.json": isExperiment ? data : Data(suiteExperimentSeed.utf8),
                     "minilm.outputs.jsonl": isExperiment ? Data(suiteOutputsSeed.utf8) : data]
        let stored = try StoredSnapshots(name: "s", files: files, folder: "Snapshots/s")
        let original = try StoredSnapshots(name: "s", files: ["experiment.json": Data(suiteExperimentSeed.utf8),
                                                              "minilm.outputs.jsonl": Data(suiteOutputsSeed.utf8)], folder: "Snapshots/s")
        let comparison = try SnapshotComparer.compare(old: original, new: stored)
        _ = DriftReport.render(comparison, experimentFile: "s.yaml")
    }
}
