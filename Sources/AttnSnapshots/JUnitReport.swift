import AttnCore
import Foundation

/// `snapshot check --junit FILE`: the check as a JUnit XML report, the format CI systems (GitHub
/// Actions reporters, GitLab, Jenkins) show as test results.
///
/// One test suite per experiment; in it one test case per variant (failing when it drifted, has
/// no snapshot or is stale), one per expectation of each variant (failing when its result differs
/// from the recorded one), and one for the experiment's own files (`experiment.json` missing,
/// stray files). What the snapshots were made from (weight hashes …) goes to `system-out`.
public enum JUnitReport {
    public static func render(_ comparisons: [ExperimentComparison], experimentFiles: [String], seconds: Double) -> String {
        var suites: [String] = []
        var totalTests = 0, totalFailures = 0
        for (comparison, file) in zip(comparisons, experimentFiles) {
            var cases: [String] = []
            var failures = 0
            func testCase(_ className: String, _ name: String, failure: (message: String, text: String)?) {
                var xml = "    <testcase classname=\"\(Markup.escape(className))\" name=\"\(Markup.escape(name))\" time=\"0\""
                if let failure {
                    failures += 1
                    xml += ">\n      <failure message=\"\(Markup.escape(failure.message))\" type=\"snapshot-drift\">\(Markup.escape(failure.text))</failure>\n    </testcase>"
                } else {
                    xml += "/>"
                }
                cases.append(xml)
            }
            let suiteName = "snapshots.\(comparison.name)"

            var experimentProblems: [String] = []
            if comparison.old == nil { experimentProblems.append("no snapshots are recorded (experiment.json is missing); record them with `attnlab snapshot record \(file)`") }
            if comparison.new == nil { experimentProblems.append("the new snapshots have no experiment.json") }
            for path in comparison.strayFiles.old { experimentProblems.append("stale file \(path): no variant writes it") }
            if comparison.unmatchedExpectationsChanged { experimentProblems.append("the expectations that name no variant changed") }
            testCase(suiteName, "experiment.json", failure: experimentProblems.isEmpty ? nil
                     : (experimentProblems[0], experimentProblems.joined(separator: "\n")))
            if let suite = comparison.suite {
                // A suite: one case per expectation's failure rate, one for the variants' outputs.
                for expectation in comparison.new?.suite ?? [] {
                    let change = suite.rateChanges.first { $0.key == expectation.key }
                    testCase("\(suiteName).rates", "line \(expectation.line): \(expectation.expectation) on \(expectation.variant)",
                             failure: change.map { ("failure rate moved: \($0.old.map(DriftReport.rate) ?? "absent") → \(DriftReport.rate(expectation))", "") })
                }
                testCase("\(suiteName).outputs", "variants", failure: suite.hasDrift ? (DriftReport.summary(suite: suite), "") : nil)
            }

            for variant in comparison.variants {
                let className = "\(suiteName).\(variant.model)"
                switch variant.status {
                case .identical, .withinTolerance:
                    testCase(className, variant.path, failure: nil)
                case .added:
                    testCase(className, variant.path, failure: ("no snapshot is recorded",
                                                                "no snapshot is recorded for \(variant.key); record it with `attnlab snapshot record \(file)`"))
                case .removed:
                    testCase(className, variant.path, failure: ("stale snapshot",
                                                                "the experiment no longer has \(variant.key); `attnlab snapshot record \(file)` removes its snapshot"))
                case .drifted:
                    testCase(className, variant.path, failure: (DriftReport.summary(variant), DriftReport.details(variant).joined(separator: "\n")))
                }
                // Expectations, by the newer side's list (and the ones it lost).
                var records = (variant.new ?? variant.old)?.expectations ?? []
                for change in variant.expectationChanges where change.new == nil {
                    if let old = change.old { records.append(old) }
                }
                for record in records {
                    let name = "\(variant.path) line \(record.line): \(record.expectation)"
                    if let change = variant.expectationChanges.first(where: { $0.line == record.line && $0.expectation == record.expectation }) {
                        let old = change.old.map { $0.passed ? "passed" : "failed" } ?? "not recorded"
                        let new = change.new.map { $0.passed ? "passes" : "fails" } ?? "is gone"
                        testCase("\(className).expectations", name, failure: ("recorded as \(old), now \(new)",
                                                                               "recorded: \(change.old?.measured ?? "–")\nnow: \(change.new?.measured ?? "–")"))
                    } else {
                        testCase("\(className).expectations", name, failure: nil)
                    }
                }
            }
            for scan in comparison.scans {
                let className = "\(suiteName).\(scan.model).scans"
                switch scan.status {
                case .identical, .withinTolerance: testCase(className, scan.id, failure: nil)
                case .added: testCase(className, scan.id, failure: ("no snapshot is recorded", "no snapshot is recorded for scan \(scan.key); record it with `attnlab snapshot record \(file)`"))
                case .removed: testCase(className, scan.id, failure: ("stale snapshot", "the experiment no longer has scan \(scan.key); `attnlab snapshot record \(file)` removes its snapshot"))
                case .drifted: testCase(className, scan.id, failure: (DriftReport.summary(scan), DriftReport.details(scan).joined(separator: "\n")))
                }
            }
            totalTests += cases.count
            totalFailures += failures
            var suite = "  <testsuite name=\"\(Markup.escape(suiteName))\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\" skipped=\"0\" time=\"\(String(format: "%.3f", seconds))\">\n"
            suite += cases.joined(separator: "\n") + "\n"
            let out = comparison.notes.map { "note: \($0)" }
            if !out.isEmpty { suite += "    <system-out>\(Markup.escape(out.joined(separator: "\n")))</system-out>\n" }
            suite += "  </testsuite>"
            suites.append(suite)
        }
        return """
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites name="attnlab snapshot check" tests="\(totalTests)" failures="\(totalFailures)" errors="0" time="\(String(format: "%.3f", seconds))">
        \(suites.joined(separator: "\n"))
        </testsuites>

        """
    }

}
