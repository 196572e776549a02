import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnModels

/// Interventions and scans on the real all-MiniLM-L6-v2 and on the tiny models: what each kind does
/// to the forward pass, how words and variants are resolved, and the errors for bad references.
@Suite struct InterventionTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let miniLM: LoadedModel = try! LoadedModel("sentence-transformers/all-MiniLM-L6-v2",
                                                      locator: ModelLocator(roots: [repository.appendingPathComponent("Models")], hubCaches: []))
    static let a = "the eminem tune was totally awesome."
    static let sick = TraceRequest(a: a, b: "dude, that song from eminem was sick!")
    static let terrific = TraceRequest(a: a, b: "dude, that song from eminem was terrific!")

    @Test func zeroAblationIsScalingByZero() throws {
        let ablated = try InterventionRunner.trace(Self.terrific, interventions: [.ablate([HeadRef(layer: 4, head: 11)])], model: Self.miniLM)
        let scaled = try InterventionRunner.trace(Self.terrific, interventions: [.scale([HeadRef(layer: 4, head: 11)], by: 0)], model: Self.miniLM)
        let plain = try Self.miniLM.trace(Self.terrific)
        #expect(ablated.outputs == scaled.outputs)
        #expect(ablated.outputs.similarity != plain.outputs.similarity)
        #expect(ablated.interventions == [.ablate([HeadRef(layer: 4, head: 11)])])
        // Attention up to the ablated layer is untouched; after it, it moves.
        let (before, after) = (ablated.stacks[.encoder]!.attention, plain.stacks[.encoder]!.attention)
        #expect(before[4] == after[4])
        #expect(before[5] != after[5])
    }

    @Test func knockoutCutsTheEdgesAndRenormalisesTheRows() throws {
        let trace = try InterventionRunner.trace(Self.terrific, interventions: [.knockout(from: ["terrific"], to: ["awesome"], layers: [5])],
                                                 model: Self.miniLM)
        let words = TraceWords.group(trace.tokens, inputs: trace.inputs)
        let from = TraceWords.positions(of: "terrific", in: words), to = TraceWords.positions(of: "awesome", in: words)
        let attention = trace.stacks[.encoder]!.attention
        let n = trace.tokens.count
        for head in 0 ..< 12 {
            for q in from {
                for k in to { #expect(attention[5, head, q, k] == 0) }
                let row = (0 ..< n).reduce(Float(0)) { $0 + attention[5, head, q, $1] }
                #expect(abs(row - 1) < 1e-5)
            }
        }
        // Layer 4 keeps its edge; the two sentences are never encoded together for the
        // similarity, so the knockout cannot move it.
        #expect(attention[4, 0, from[0], to[0]] > 0)
        #expect(trace.outputs.similarity == (try Self.miniLM.trace(Self.terrific)).outputs.similarity)
    }

    @Test func meanAblationUsesTheHeadsMeanOutput() throws {
        let zero = try InterventionRunner.trace(Self.terrific, interventions: [.ablate([HeadRef(layer: 4, head: 11)], mode: .zero)], model: Self.miniLM)
        let mean = try InterventionRunner.trace(Self.terrific, interventions: [.ablate([HeadRef(layer: 4, head: 11)], mode: .mean)], model: Self.miniLM)
        #expect(zero.outputs.similarity != mean.outputs.similarity)
        // The mean over a reference that is the input itself, or given explicitly, is the same.
        let explicit = try InterventionRunner.trace(Self.terrific, interventions: [.ablate([HeadRef(layer: 4, head: 11)], mode: .mean)],
                                                    model: Self.miniLM, meanReference: [Self.terrific])
        #expect(explicit.outputs == mean.outputs)
    }

    /// Patching the residual stream entering layer 0 at every position gives the source's
    /// outputs; patching from the target itself changes nothing.
    @Test func patchingEverythingFromTheSourceGivesTheSource() throws {
        let everything = Intervention.patch(.residual, from: "terrific", layers: [0])
        let patched = try InterventionRunner.trace(Self.sick, interventions: [everything], model: Self.miniLM,
                                                   sources: ["terrific": Self.terrific])
        let source = try Self.miniLM.trace(Self.terrific)
        #expect(abs((patched.outputs.similarity ?? 0) - (source.outputs.similarity ?? 1)) < 1e-5)
        let itself = try InterventionRunner.trace(Self.sick, interventions: [.patch(.head, from: "sick")], model: Self.miniLM,
                                                  sources: ["sick": Self.sick])
        #expect(itself.outputs == (try Self.miniLM.trace(Self.sick)).outputs)
    }

    /// Inputs of different lengths are patched through their words; a token without a
    /// counterpart is an error that names it.
    @Test func patchingAcrossLengthsGoesThroughWords() throws {
        let longer = TraceRequest(a: Self.a, b: "dude, that song from eminem was really sick!")
        let words = try InterventionRunner.trace(longer, interventions: [.patch(.residual, from: "sick", layers: [2], words: ["eminem"])],
                                                 model: Self.miniLM, sources: ["sick": Self.sick])
        #expect(words.outputs.similarity != nil)
        #expect { try InterventionRunner.trace(longer, interventions: [.patch(.residual, from: "sick", layers: [2])], model: Self.miniLM,
                                               sources: ["sick": Self.sick]) } throws: { "\($0)".contains("has no counterpart") }
    }

    @Test func badReferencesAreOneClearError() throws {
        let cases: [(Intervention, String)] = [
            (.ablate([HeadRef(layer: 6, head: 0)]), "layer 6 is out of range (the model has layers 0–5)"),
            (.ablate([HeadRef(layer: 0, head: 12)]), "head 12 is out of range"),
            (.knockout(from: ["fantastic"], to: ["awesome"]), "no word \"fantastic\" in the input"),
            (.patch(.head, from: "nowhere"), "no variant \"nowhere\""),
            (Intervention(kind: .ablate, stack: .decoder, heads: [HeadRef(layer: 0, head: 0)]), "has no decoder stack"),
            (.patch(.mlp, from: "x", stack: .cross), "has no cross stack"),
        ]
        for (intervention, message) in cases {
            #expect { try InterventionRunner.trace(Self.terrific, interventions: [intervention], model: Self.miniLM) } throws: {
                "\($0)".contains(message)
            }
        }
    }

    /// The case study's head scan: identical source and target give zeros; the real one is
    /// reproducible whatever the thread count, and each cell equals the patch done on its own.
    @Test func headScanMatchesSinglePatches() throws {
        let spec = ScanSpec(site: .head, metric: .similarity, threads: 1)
        let one = try ScanRunner.run(spec, model: Self.miniLM, target: Self.sick, source: Self.terrific, names: ("sick", "terrific"))
        var two = spec
        two.threads = 2
        #expect(try ScanRunner.run(two, model: Self.miniLM, target: Self.sick, source: Self.terrific, names: ("sick", "terrific")) == one)
        #expect(abs(one.targetValue - 0.679) < 1e-3 && abs((one.sourceValue ?? 0) - 0.809) < 1e-3)
        #expect(one.layers == Array(0 ..< 6) && one.columns.count == 12)
        let best = try #require(one.ranked().first)
        let alone = try InterventionRunner.trace(Self.sick, interventions: [.patch(.head, from: "terrific", heads: [HeadRef(layer: best.layer, head: best.column)])],
                                                 model: Self.miniLM, sources: ["terrific": Self.terrific])
        #expect(abs(((alone.outputs.similarity ?? 0) - one.targetValue) - best.effect) < 1e-6)
        let same = try ScanRunner.run(spec, model: Self.miniLM, target: Self.sick, source: Self.sick, names: ("sick", "sick"))
        #expect(same.effects.allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    /// A residual-stream scan of layer 0 patched at every word of sentence B restores the source
    /// entirely: the normalised effect of all words together is 1.
    @Test func residualScanOfWordsColumns() throws {
        let spec = ScanSpec(site: .residual, metric: .similarity, layers: [0, 3], threads: 2)
        let scan = try ScanRunner.run(spec, model: Self.miniLM, target: Self.sick, source: Self.terrific, names: ("sick", "terrific"))
        #expect(scan.columns.contains("B:sick") && scan.columns.contains("A:awesome"))
        #expect(!scan.columns.contains("[CLS]"))
        let sickColumn = try #require(scan.cell(layer: 0, column: "B:sick"))
        #expect(abs((sickColumn.normalized ?? 0) - 1) < 1e-4, "patching the only changed word's embedding is the whole change")
        let other = try #require(scan.cell(layer: 3, column: "A:awesome"))
        #expect(abs(other.effect) < 1e-9, "sentence A is the same in both: patching it changes nothing")
    }

    @Test func metricsAreCheckedAgainstTheTask() throws {
        #expect(try OutputMetric(parsing: "logit-diff:she,he") == .logitDifference("she", "he"))
        #expect(try OutputMetric(parsing: "p:paraphrase") == .probability("paraphrase"))
        #expect { try OutputMetric(parsing: "accuracy") } throws: { "\($0)".contains("unknown metric") }
        #expect { try OutputMetric.probability("x").check(task: .similarity, labels: nil) } throws: { "\($0)".contains("use the similarity metric") }
        #expect { try OutputMetric.probability("negative").check(task: .classification, labels: ["LABEL_0"]) } throws: { "\($0)".contains("no class") }
    }
}
