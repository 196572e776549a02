import AttnCore
import AttnSnapshots
import Foundation
import Testing
@testable import AttnReports

/// The review page of two sets of snapshots built in memory (reading them from git is
/// AttnSnapshotsTests' part): what moved, and the drifted head drawn with the run report's figure
/// row and stylesheet.
@Suite struct ReviewPageTests {
    /// "a b" / "c d" as [CLS] a b [SEP] c d [SEP], 2 layers × 2 heads of uniform attention; with
    /// `moved`, layer 1 head 0 attends from every token to "c" only.
    static func trace(moved: Bool) -> Trace {
        let tokens = [TraceToken(text: "[CLS]", id: 1, segment: 0, special: true),
                      TraceToken(text: "a", id: 2, start: 0, end: 1, word: 0, segment: 0),
                      TraceToken(text: "b", id: 3, start: 2, end: 3, word: 1, segment: 0),
                      TraceToken(text: "[SEP]", id: 4, segment: 0, special: true),
                      TraceToken(text: "c", id: 5, start: 0, end: 1, word: 0, segment: 1),
                      TraceToken(text: "d", id: 6, start: 2, end: 3, word: 1, segment: 1),
                      TraceToken(text: "[SEP]", id: 4, segment: 1, special: true)]
        let n = tokens.count
        var scalars = [Float](repeating: 1 / Float(n), count: 2 * 2 * n * n)
        if moved {
            let start = (1 * 2 + 0) * n * n
            for q in 0 ..< n { for k in 0 ..< n { scalars[start + q * n + k] = k == 4 ? 1 : 0 } }
        }
        return Trace(inputs: TraceInputs(a: "a b", b: "c d"), tokens: tokens,
                     stacks: [.encoder: AttentionStack(attention: Tensor(shape: [2, 2, n, n], scalars: scalars))],
                     provenance: Provenance(model: "made-up", architecture: "bert", task: "similarity"))
    }

    /// The snapshots of a one-variant experiment `toy` whose variant `pair/terrific` has `similarity`.
    static func snapshots(similarity: Double, moved: Bool, revision: String) throws -> StoredSnapshots {
        var trace = trace(moved: moved)
        trace.outputs.similarity = similarity
        let label = similarity >= 0.75 ? "paraphrase" : "not-paraphrase"
        let experiment = ExperimentSnapshot(
            attnlabVersion: AttnLab.version, name: "toy", description: "a made-up experiment", file: "Experiments/toy.yaml", hash: "e1",
            models: [.init(name: "toy", id: "made-up", architecture: "bert", task: "similarity", layers: 2, heads: 2,
                           weightsHash: "w1", tokenizerHash: "t1")],
            unmatchedExpectations: [])
        let subject = SnapshotBuilder.Subject(
            model: "toy", input: "pair", variant: "terrific", perturbation: "replace \"sick\" → \"terrific\" in b", trace: trace,
            label: label, expectations: [ExpectationRecord(line: 22, expectation: "label is paraphrase", passed: label == "paraphrase",
                                                           measured: "label \(label)")])
        let files = try SnapshotBuilder.files(experiment: experiment, subjects: [subject])
        return try StoredSnapshots(name: "toy", files: files.files, folder: "Snapshots/toy", revision: revision)
    }

    static func review(_ a: ReviewSide, _ b: ReviewSide) throws -> SnapshotReview {
        let old = try snapshots(similarity: 0.81, moved: false, revision: a.description)
        let new = try snapshots(similarity: 0.7, moved: true, revision: b.description)
        return SnapshotReview(a: a, b: b, experiments: [
            .init(name: "toy", old: old, new: new, comparison: try SnapshotComparer.compare(old: old, new: new)),
        ])
    }

    @Test func showsWhatMovedAndDrawsTheDriftedHead() throws {
        let html = try ReviewPage.render(try Self.review(.revision("HEAD~1"), .revision("HEAD")))
        #expect(html.contains("<h1>Snapshot review</h1>"))
        #expect(html.contains("<code>HEAD~1</code>"))
        #expect(html.contains("1 variant moved in 1 of 1 experiment."))
        #expect(html.contains("similarity 0.8100 → 0.7000"))
        #expect(html.contains("<del>paraphrase</del> → <ins>not-paraphrase</ins>"))
        #expect(html.contains("label is paraphrase</td><td class=\"result\"><span class=\"pass\">✔ passed</span></td><td class=\"result\"><span class=\"fail\">✘ failed</span>"))
        // The one drifted head, in the run report's figure row: A | B | B over A.
        #expect(html.contains("<div class=\"row\"><h4>layer 1, head 0 <span class=\"small\">JS "))
        #expect(html.components(separatedBy: "src=\"data:image/png;base64,").count - 1 == 3)
        #expect(html.contains("alt=\"A (colour) vs B (circles), layer 1, head 0\""))
        // One stylesheet for both pages; nothing from the network, no script.
        #expect(html.contains("<style>\(ReportPage.style)</style>"))
        #expect(!html.contains("src=\"http") && !html.contains("<script"))
    }

    @Test func namesTheWorkingTreeSide() throws {
        let html = try ReviewPage.render(try Self.review(.revision("HEAD"), .workingTree), options: .init(headsPerVariant: 0))
        #expect(html.contains("the working tree (uncommitted snapshots)"))
        #expect(html.contains("similarity 0.8100 → 0.7000"))
        #expect(!html.contains("data:image/png"), "no head drawn with headsPerVariant 0")
    }
}
