import AttnCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import AttnSnapshots

/// Comparing snapshots: what counts as drift, and the report and JUnit file that say what moved.
@Suite struct SnapshotComparisonTests {
    func compare(_ old: ExperimentSnapshotFiles?, _ new: ExperimentSnapshotFiles?,
                 tolerances: SnapshotTolerances = .init()) throws -> ExperimentComparison {
        try SnapshotComparer.compare(old: old.map { try Fixtures.stored($0) }, new: new.map { try Fixtures.stored($0) }, tolerances: tolerances)
    }

    @Test func theSameSnapshotsMatch() throws {
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard())
        #expect(!comparison.hasDrift && comparison.isIdentical)
        #expect(comparison.variants.map(\.status) == [.identical, .identical])
        #expect(comparison.notes.isEmpty)
    }

    @Test func outputsWithinTheToleranceDoNotDrift() throws {
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard(similarity: 0.68004))
        #expect(!comparison.hasDrift && !comparison.isIdentical)
        #expect(comparison.variants.map(\.status) == [.withinTolerance, .identical])
        let strict = try compare(try Fixtures.standard(), try Fixtures.standard(similarity: 0.68004),
                                 tolerances: SnapshotTolerances(output: 1e-5))
        #expect(strict.hasDrift)
        #expect(strict.variants[0].outputChanges == [OutputChange(name: "similarity", old: 0.68, new: 0.68004)])
    }

    @Test func movedOutputsLabelsAndExpectationsDrift() throws {
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard(terrificSimilarity: 0.7, terrificPasses: false))
        #expect(comparison.hasDrift)
        let terrific = comparison.variants[1]
        #expect(terrific.status == .drifted)
        #expect(terrific.outputChanges == [OutputChange(name: "similarity", old: 0.81, new: 0.7)])
        #expect(terrific.labelChange?.old == "paraphrase" && terrific.labelChange?.new == "not-paraphrase")
        #expect(terrific.expectationChanges.map(\.line) == [22])
        #expect(terrific.driftedHeads.isEmpty) // the attention did not move
        #expect(DriftReport.summary(terrific) == "label paraphrase → not-paraphrase, expectation line 22 now fails, similarity 0.8100 → 0.7000")
    }

    @Test func aHeadThatMovedIsNamedWithTheWordsThatMoved() throws {
        // Layer 1, head 0: "terrific" (token 9) now attends to "awesome" (token 4).
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard(boost: (1, 0, 9, 4, 8)))
        let terrific = comparison.variants[1]
        #expect(terrific.status == .drifted)
        #expect(terrific.outputChanges.isEmpty && terrific.labelChange == nil && terrific.tokenChanges.isEmpty)
        #expect(terrific.headCount == 4)
        #expect(terrific.driftedHeads.map { "\($0.layer).\($0.head)" } == ["1.0"])
        let head = try #require(terrific.driftedHeads.first)
        #expect(head.maxAbsDifference! > 0.3 && head.jsDivergence > 0.01)
        let strongest = try #require(head.strongest)
        // Words are named with their sentence, as the snapshot files name them (and expectations accept).
        #expect(strongest.from == "B:terrific" && strongest.to == "A:awesome" && strongest.new > strongest.old + 0.3)
        #expect(terrific.movedWords.first?.text == "B:terrific")

        let report = DriftReport.render(comparison, experimentFile: "Experiments/toy.yaml")
        #expect(report.contains("snapshot check toy-experiment: 1 of 2 variants drifted"))
        #expect(report.contains("ok    toy pair/sick"))
        #expect(report.contains("DRIFT toy pair/terrific"))
        #expect(report.contains("attention: 1 of 4 heads drifted; most:"))
        #expect(report.contains("B:terrific → A:awesome"))
        #expect(report.contains("words whose attention moved most: B:terrific"))
        #expect(report.contains("attnlab snapshot record Experiments/toy.yaml --commit"))
    }

    @Test func float16RoundingIsNotDrift() throws {
        // A change far below float16's resolution gives the same snapshot bytes.
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard(boost: (0, 1, 2, 3, 1e-6)))
        #expect(!comparison.hasDrift)
    }

    @Test func changedWordsAreComparedWordByWord() throws {
        let old = try Fixtures.files(variants: [.init(name: "x", trace: Fixtures.trace(b: "that song was sick"), label: nil)])
        let new = try Fixtures.files(variants: [.init(name: "x", trace: Fixtures.trace(b: "that new song was sick"), label: nil)])
        let variant = try compare(old, new).variants[0]
        #expect(variant.status == .drifted)
        #expect(variant.tokenChanges.contains { $0.contains("the input changed: sentence B \"that song was sick\" → \"that new song was sick\"") })
        #expect(variant.tokenChanges.contains("word ∅ → \"new\""))
        // Heads compared through their shared words, so there is no element-wise difference.
        #expect(variant.driftedHeads.allSatisfy { $0.maxAbsDifference == nil })
    }

    @Test func missingAndStaleVariantsAndChangedWeightsAreReported() throws {
        let old = try Fixtures.files(variants: [.init(name: "sick", trace: Fixtures.trace(), label: nil),
                                                .init(name: "gone", trace: Fixtures.trace(), label: nil)])
        let new = try Fixtures.files(variants: [.init(name: "sick", trace: Fixtures.trace(), label: nil),
                                                .init(name: "fresh", trace: Fixtures.trace(), label: nil)], weightsHash: "w2")
        let comparison = try compare(old, new)
        #expect(comparison.variants.map(\.key) == ["toy/pair/sick", "toy/pair/fresh", "toy/pair/gone"])
        #expect(comparison.variants.map(\.status) == [.identical, .added, .removed])
        #expect(comparison.notes == ["the weights of toy changed (sha256 w1 → w2)"])
        let report = DriftReport.render(comparison, experimentFile: "x.yaml")
        #expect(report.contains("MISSING toy pair/fresh: no snapshot is recorded; record it with `attnlab snapshot record x.yaml`"))
        #expect(report.contains("STALE toy pair/gone"))
        #expect(report.contains("note: the weights of toy changed"))

        let nothing = try compare(nil, new)
        #expect(nothing.hasDrift)
        #expect(DriftReport.render(nothing, experimentFile: "x.yaml").contains("no snapshots are recorded for toy-experiment"))
        #expect(DriftReport.summary(nothing) == "first recording: 2 variants")
    }

    @Test func aMissingAttentionFileIsDrift() throws {
        let files = try Fixtures.standard()
        var broken = files
        broken.files["toy/pair/sick.safetensors"] = nil
        let comparison = try compare(broken, files)
        #expect(comparison.variants[0].status == .drifted)
        #expect(comparison.variants[0].problems.first?.contains("has no attention file (Snapshots/toy-experiment/toy/pair/sick.safetensors)") == true)
    }

    @Test func theJUnitReportParsesBackWithOneCasePerVariantAndExpectation() throws {
        let comparison = try compare(try Fixtures.standard(), try Fixtures.standard(terrificSimilarity: 0.7, boost: (1, 0, 9, 4, 4),
                                                                                   terrificPasses: false, weightsHash: "w2"))
        let xml = JUnitReport.render([comparison], experimentFiles: ["Experiments/toy.yaml"], seconds: 1.5)
        let document = try XMLDocument(data: Data(xml.utf8))
        let root = try #require(document.rootElement())
        #expect(root.name == "testsuites")
        #expect(root.attribute(forName: "tests")?.stringValue == "5")
        #expect(root.attribute(forName: "failures")?.stringValue == "2")
        let suite = try #require(root.elements(forName: "testsuite").first)
        #expect(suite.attribute(forName: "name")?.stringValue == "snapshots.toy-experiment")
        let cases = suite.elements(forName: "testcase")
        #expect(cases.map { $0.attribute(forName: "name")?.stringValue ?? "" } == [
            "experiment.json", "pair/sick", "pair/sick line 20: label is not-paraphrase",
            "pair/terrific", "pair/terrific line 22: label is paraphrase",
        ])
        let failed = cases.filter { !$0.elements(forName: "failure").isEmpty }
        #expect(failed.map { $0.attribute(forName: "name")?.stringValue ?? "" } == ["pair/terrific", "pair/terrific line 22: label is paraphrase"])
        let failure = try #require(failed.first?.elements(forName: "failure").first)
        #expect(failure.attribute(forName: "message")?.stringValue?.hasPrefix("label paraphrase → not-paraphrase, expectation line 22 now fails, similarity 0.8100 → 0.7000") == true)
        #expect(failure.stringValue?.contains("B:terrific → A:awesome") == true)
        #expect(failed[1].elements(forName: "failure").first?.attribute(forName: "message")?.stringValue == "recorded as passed, now fails")
        #expect(suite.elements(forName: "system-out").first?.stringValue?.contains("the weights of toy changed") == true)
    }

    @Test func junitEscapesWhatXMLCannotHold() throws {
        #expect(Markup.escape("a<b & \"c\"\u{1}") == "a&lt;b &amp; &quot;c&quot;\u{FFFD}")
    }
}
