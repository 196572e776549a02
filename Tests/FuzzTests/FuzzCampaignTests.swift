import AttnFuzz
import Foundation
import Testing

/// A seeded fuzz campaign over every reader of a user's file (`FuzzTargets.all`): each reads its
/// regression files (inputs that once crashed or hung it, kept in Fixtures/Regressions/<target>/),
/// its seeds, then seeded mutations, for a few seconds each, about a minute in all. Errors are what
/// a reader should say; a crash or a hang stops the run with the input written to
/// `.build/fuzz/crash-<target>.bin` (or `hang-…`), to be kept as a regression file.
///
/// `ATTNLAB_FUZZ_SECONDS` (per target, default 4), `ATTNLAB_FUZZ_CASES` (per target, default
/// 20,000) and `ATTNLAB_FUZZ_SEED` (default 11) change the campaign.
@Suite(.serialized) struct FuzzCampaignTests {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds = Double(environment["ATTNLAB_FUZZ_SECONDS"] ?? "") ?? 4
    static let cases = Int(environment["ATTNLAB_FUZZ_CASES"] ?? "") ?? 20_000
    static let seed = UInt64(environment["ATTNLAB_FUZZ_SEED"] ?? "") ?? 11
    /// The longest one input may take in a debug build (the readers are optimised, the rest is not).
    static let perCaseLimit = 10.0

    static let regressions = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/Regressions")
    static let crashFolder = FuzzSeeds.repository.appendingPathComponent(".build/fuzz")

    static func regressionFiles(_ target: String) -> [Data] {
        let folder = regressions.appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.sorted() ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap { try? Data(contentsOf: folder.appendingPathComponent($0)) }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func noInputCrashesOrHangsTheReader(target name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-fuzz-\(UUID().uuidString)")
        let report = try FuzzCampaign.run(target, cases: Self.cases, seconds: Self.seconds, seed: Self.seed,
                                          regressions: Self.regressionFiles(name), scratch: scratch, crashFolder: Self.crashFolder)
        print("fuzz \(name): \(report.cases) inputs, \(report.errors) refused, slowest \(String(format: "%.3f", report.slowest)) s")
        #expect(report.cases > target.seeds().count, "mutations ran")
        if report.slowest > Self.perCaseLimit {
            let url = Self.crashFolder.appendingPathComponent("slow-\(name).bin")
            try? report.slowestInput.write(to: url)
            Issue.record("an input took \(report.slowest) s (kept in \(url.path))")
        }
    }
}
