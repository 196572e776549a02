import AttnCore
import AttnGit
import Foundation
import Testing
@testable import AttnSnapshots
import GitTestSupport

/// `snapshot record`, `log` and `review` on temporary repositories made with libgit2, with the
/// made-up experiment's snapshot files (no model needed); the `git` program only checks.
@Suite struct SnapshotRecordTests {
    let folder = "Snapshots/toy-experiment"
    var commit: SnapshotRecordOptions { SnapshotRecordOptions(commit: true, author: TemporaryRepository.author) }

    func commitAuthor(_ message: String? = nil, force: Bool = false) -> SnapshotRecordOptions {
        SnapshotRecordOptions(commit: true, message: message, force: force, author: TemporaryRepository.author)
    }

    /// The working tree's files and the index file, to show that something left them alone.
    func everything(_ temporary: TemporaryRepository) throws -> ([String: Data], Data, String?) {
        (try temporary.workingTreeBytes(), try temporary.indexFileBytes(), try temporary.repository.resolve("HEAD"))
    }

    // MARK: record

    @Test func recordIntoAnEmptyRepository() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try temporary.write("not a snapshot\n", to: "notes.txt")

        let result = try workspace.record(try Fixtures.standard(), options: commit)

        let id = try #require(result.commit)
        #expect(try temporary.repository.resolve("HEAD") == id)
        #expect(temporary.repository.currentBranch == "main")
        #expect(result.changedFiles == ["experiment.json", "toy/pair/sick.json", "toy/pair/sick.safetensors",
                                        "toy/pair/terrific.json", "toy/pair/terrific.safetensors"].map { "\(folder)/\($0)" })
        #expect(try temporary.git("ls-tree", "-r", "--name-only", "HEAD") == result.changedFiles.joined(separator: "\n") + "\n")
        #expect(try temporary.git("status", "--porcelain") == "?? notes.txt\n")
        let message = try temporary.git("log", "-1", "--format=%B")
        #expect(message.hasPrefix("Record toy-experiment snapshots\n\npair/sick: added (not-paraphrase)\npair/terrific: added (paraphrase)\nFirst recording."))
        // What was committed is what was built.
        for (path, data) in try Fixtures.standard().files {
            #expect(try temporary.repository.files(at: "HEAD", under: "\(folder)/\(path)")["\(folder)/\(path)"] == data)
        }
    }

    @Test func recordLeavesTheUsersOtherChangesAsTheyWere() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try temporary.write("# project\n", to: "README.md")
        try temporary.write("let a = 1\n", to: "src/a.swift")
        try temporary.write("let b = 1\n", to: "src/b.swift")
        try temporary.record(["README.md": "# project\n"], under: "", message: "Initial")
        let first = try #require(try workspace.record(try Fixtures.standard(), options: commit).commit)

        // Work in progress: staged, staged then edited, unstaged, new and staged, untracked, deleted.
        try temporary.write("let a = 2\n", to: "src/a.swift")
        try temporary.stage("src/a.swift")
        try temporary.write("let a = 3\n", to: "src/a.swift")
        try temporary.write("let b = 2\n", to: "src/b.swift")
        try temporary.write("let n = 1\n", to: "src/new.swift")
        try temporary.stage("src/new.swift")
        try temporary.write("scratch\n", to: "notes.txt")
        try temporary.write("# project, edited\n", to: "README.md")
        func others<T>(_ entries: [String: T]) -> [String: T] { entries.filter { !$0.key.hasPrefix("Snapshots/") } }
        let filesBefore = others(try temporary.workingTreeBytes())
        let indexBefore = others(try temporary.indexEntries())
        let stagedBefore = try temporary.git("diff", "--cached", "--", ".", ":!Snapshots")
        let unstagedBefore = try temporary.git("diff", "--", ".", ":!Snapshots")
        let statusBefore = try temporary.git("status", "--porcelain", "--", ".", ":!Snapshots")

        let result = try workspace.record(try Fixtures.standard(terrificSimilarity: 0.7), options: commit)
        let second = try #require(result.commit)

        // Only the snapshot files that changed are in the commit.
        #expect(try temporary.git("diff", "--name-status", first, second)
                == "M\t\(folder)/toy/pair/terrific.json\n")
        // Everything else is as it was, byte for byte, staged or not.
        #expect(others(try temporary.workingTreeBytes()) == filesBefore)
        #expect(others(try temporary.indexEntries()) == indexBefore)
        #expect(try temporary.git("diff", "--cached", "--", ".", ":!Snapshots") == stagedBefore)
        #expect(try temporary.git("diff", "--", ".", ":!Snapshots") == unstagedBefore)
        #expect(try temporary.git("status", "--porcelain", "--", ".", ":!Snapshots") == statusBefore)
        // The index agrees with the new commit for the snapshot files.
        #expect(try temporary.git("status", "--porcelain", "--", "Snapshots") == "")
        #expect(try temporary.git("diff", "--cached", "--name-only", "--", "Snapshots") == "")
        #expect(try temporary.git("log", "-1", "--format=%s%n%b").contains("pair/terrific: label paraphrase → not-paraphrase, similarity 0.8100 → 0.7000"))
    }

    @Test func aSecondRecordWithoutChangeMakesNoCommit() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let first = try #require(try workspace.record(try Fixtures.standard(), options: commit).commit)
        let again = try workspace.record(try Fixtures.standard(), options: commit)
        #expect(again.commit == nil)
        #expect(again.changedFiles.isEmpty)
        #expect(again.comparison.isIdentical)
        #expect(try temporary.repository.resolve("HEAD") == first)
        #expect(try temporary.git("rev-list", "--count", "HEAD") == "1\n")
    }

    @Test func recordInDetachedHeadMovesHeadNotTheBranch() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let first = try #require(try workspace.record(try Fixtures.standard(), options: commit).commit)
        try temporary.detachHead(at: first)
        let second = try #require(try workspace.record(try Fixtures.standard(similarity: 0.5), options: commitAuthor("Try lower")).commit)
        #expect(temporary.repository.isHeadDetached)
        #expect(try temporary.repository.resolve("HEAD") == second)
        #expect(try temporary.git("rev-parse", "main") == first + "\n")
        #expect(try temporary.git("log", "-1", "--format=%B") == "Try lower\n\n")
    }

    @Test func recordWithoutCommitWritesTheFilesOnly() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let result = try workspace.record(try Fixtures.standard())
        #expect(result.commit == nil && result.changedFiles.count == 5)
        #expect(temporary.repository.isHeadUnborn)
        #expect(try temporary.git("status", "--porcelain") == "?? Snapshots/\n")
        // A later --commit commits those files: they are the recorder's own output, not the user's edits.
        let committed = try workspace.record(try Fixtures.standard(), options: commit)
        #expect(committed.commit != nil && committed.changedFiles.isEmpty)
        #expect(try temporary.git("status", "--porcelain") == "")
    }

    @Test func recordRemovesTheSnapshotsOfVariantsThatAreGone() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try workspace.record(try Fixtures.standard(), options: commit)
        let fewer = try Fixtures.files(variants: [.init(name: "sick", trace: Fixtures.trace(), label: "not-paraphrase",
                                                        expectations: [ExpectationRecord(line: 20, expectation: "label is not-paraphrase", passed: true, measured: "label not-paraphrase")])])
        let result = try workspace.record(fewer, options: commit)
        #expect(result.changedFiles == ["\(folder)/experiment.json", "\(folder)/toy/pair/terrific.json", "\(folder)/toy/pair/terrific.safetensors"])
        #expect(try temporary.git("ls-tree", "-r", "--name-only", "HEAD") == "\(folder)/experiment.json\n\(folder)/toy/pair/sick.json\n\(folder)/toy/pair/sick.safetensors\n")
        #expect(!FileManager.default.fileExists(atPath: temporary.url("\(folder)/toy/pair/terrific.json").path))
        #expect(result.comparison.variants.map(\.status) == [.identical, .removed])
    }

    // MARK: refusals

    @Test func recordRefusesOutsideARepository() throws {
        let plain = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: plain) }
        let error = try #require(throws: GitError.self) {
            try SnapshotWorkspace.discover(from: plain, requireRepository: true)
        }
        #expect(error.kind == .notARepository)
        #expect(error.description.contains("not inside a git repository"))
        // `check` works on a plain folder; `record` still refuses there.
        let workspace = try SnapshotWorkspace.discover(from: plain, requireRepository: false)
        #expect(workspace.repository == nil)
        let refusal = try #require(throws: GitError.self) { try workspace.record(try Fixtures.standard()) }
        #expect(refusal.description.contains("snapshot record needs a git repository"))
        #expect(!FileManager.default.fileExists(atPath: plain.appendingPathComponent("Snapshots").path))
    }

    @Test func recordWithCommitRefusesDuringAMergeAndRecordWithoutResolvesIt() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try workspace.record(try Fixtures.standard(), options: commit)
        try temporary.git("checkout", "-q", "-b", "side")
        try workspace.record(try Fixtures.standard(similarity: 0.6), options: commit)
        try temporary.git("checkout", "-q", "main")
        let mainHead = try #require(try workspace.record(try Fixtures.standard(similarity: 0.7), options: commit).commit)
        _ = try runGit(["merge", "side"], in: temporary.root, allowFailure: true)  // conflicts in sick.json
        #expect(temporary.repository.state == .merge)
        let before = try everything(temporary)

        let error = try #require(throws: GitError.self) {
            try workspace.record(try Fixtures.standard(similarity: 0.65), options: commit)
        }
        #expect(error.kind == .operationInProgress(.merge))
        #expect(error.description.contains("git merge --abort"))
        #expect(try everything(temporary) == before)
        #expect(try temporary.repository.resolve("HEAD") == mainHead)

        // The conflicted file cannot be read as a snapshot; recording again (without --commit) is the fix.
        #expect(throws: SnapshotError.self) { try workspace.workingTreeSnapshots("toy-experiment") }
        try workspace.record(try Fixtures.standard(similarity: 0.65))
        #expect(try workspace.workingTreeSnapshots("toy-experiment")?.variants["toy/pair/sick"]?.snapshot.outputs.similarity == 0.65)
    }

    @Test func recordRefusesToOverwriteTheUsersEditsUnlessForced() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        let first = try #require(try workspace.record(try Fixtures.standard(), options: commit).commit)
        let path = "\(folder)/toy/pair/sick.json"
        let edited = (temporary.read(path) ?? "").replacingOccurrences(of: "0.680000", with: "0.999999")
        try temporary.write(edited, to: path)
        let before = try everything(temporary)

        let error = try #require(throws: SnapshotError.self) {
            try workspace.record(try Fixtures.standard(similarity: 0.5), options: commit)
        }
        #expect(error.description.contains("uncommitted changes that recording would overwrite: \(path) (M)"))
        #expect(error.description.contains("--force"))
        #expect(try everything(temporary) == before)

        let forced = try #require(try workspace.record(try Fixtures.standard(similarity: 0.5), options: commitAuthor(force: true)).commit)
        #expect(forced != first)
        #expect(temporary.read(path)?.contains("\"similarity\": 0.500000") == true)
        #expect(try temporary.git("status", "--porcelain") == "")
    }

    @Test func aFailureInTheMiddleOfRecordChangesNothing() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try workspace.record(try Fixtures.standard(), options: commit)
        try temporary.write("let x = 1\n", to: "src/x.swift")
        try temporary.stage("src/x.swift")
        let before = try everything(temporary)
        let statusBefore = try temporary.git("status", "--porcelain")

        // Every file differs; the failure comes after the first file was put in place.
        let changed = try Fixtures.standard(similarity: 0.5, terrificSimilarity: 0.6, weightsHash: "w2")
        var installed = 0
        #expect(throws: SnapshotError.self) {
            try workspace.record(changed, options: commit, injectedFailure: { step in
                if case .installing = step {
                    installed += 1
                    if installed == 3 { throw SnapshotError("simulated failure: the disk is full") }
                }
            })
        }
        #expect(installed == 3)
        #expect(try everything(temporary) == before)
        #expect(try temporary.git("status", "--porcelain") == statusBefore)
        #expect(try temporary.git("rev-list", "--count", "HEAD") == "1\n")
        // No temporary file is left behind.
        let names = try FileManager.default.subpathsOfDirectory(atPath: temporary.url(folder).path)
        #expect(names.allSatisfy { !$0.contains(".attnlab-") })
    }

    // MARK: check

    @Test func hiddenFilesInTheSnapshotFolderAreTheUsersOwn() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try temporary.write("*.safetensors binary\n", to: "\(folder)/.gitattributes")
        try workspace.record(try Fixtures.standard(), options: commit)
        #expect(temporary.read("\(folder)/.gitattributes") == "*.safetensors binary\n")
        #expect(try temporary.git("status", "--porcelain") == "?? \(folder)/.gitattributes\n") // not committed
        #expect(!(try workspace.check(try Fixtures.standard())).hasDrift)
        #expect(try workspace.experimentNames(at: nil) == ["toy-experiment"])
    }

    @Test func checkComparesWithTheWorkingTree() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try workspace.record(try Fixtures.standard(), options: commit)
        #expect(!(try workspace.check(try Fixtures.standard())).hasDrift)
        let drifted = try workspace.check(try Fixtures.standard(boost: (0, 1, 9, 2, 8)))
        #expect(drifted.hasDrift)
        #expect(drifted.variants.map(\.status) == [.identical, .drifted])
        // Nothing recorded for another experiment: a failure that says how to record.
        let other = try Fixtures.files("other", variants: [.init(name: "x", trace: Fixtures.trace(), label: nil)])
        let missing = try workspace.check(other)
        #expect(missing.hasDrift && missing.old == nil)
    }

    // MARK: log

    @Test func logListsTheCommitsThatChangedTheSnapshotsWithWhatMoved() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        var author = TemporaryRepository.author
        func record(_ files: ExperimentSnapshotFiles, _ message: String, at seconds: Double) throws {
            author.date = Date(timeIntervalSince1970: seconds)
            try workspace.record(files, options: SnapshotRecordOptions(commit: true, message: message, author: author))
        }
        try record(try Fixtures.standard(), "First", at: 1_700_000_000)
        try temporary.record(["README.md": "unrelated\n"], under: "README.md", message: "Unrelated")
        try record(try Fixtures.standard(terrificSimilarity: 0.7, terrificPasses: false), "Lower terrific", at: 1_700_000_100)
        try record(try Fixtures.standard(terrificSimilarity: 0.7, boost: (1, 1, 7, 2, 8), terrificPasses: false), "Move a head", at: 1_700_000_200)

        let entries = try workspace.log("toy-experiment")
        #expect(entries.map(\.commit.summary) == ["Move a head", "Lower terrific", "First"])
        #expect(entries.map(\.commit.author.name) == ["Ada Tester", "Ada Tester", "Ada Tester"])
        #expect(entries.map(\.commit.author.date.timeIntervalSince1970) == [1_700_000_200, 1_700_000_100, 1_700_000_000])
        #expect(entries[2].summary == "first recording: 2 variants")
        #expect(entries[1].summary == "pair/terrific: label paraphrase → not-paraphrase, expectation line 22 now fails, similarity 0.8100 → 0.7000")
        #expect(entries[0].summary.hasPrefix("pair/terrific: 1 head drifted (most: layer 1, head 1, JS "))

        let sick = try workspace.log("toy-experiment", variant: "pair/sick")
        #expect(sick.map(\.commit.summary) == ["First"])
        #expect(try workspace.log("toy-experiment", limit: 1).count == 1)
        #expect(try workspace.log("no-such-experiment").isEmpty)
    }

    // MARK: review

    @Test func reviewBetweenTwoCommitsReadsGitObjectsAndTouchesNothing() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        try workspace.record(try Fixtures.standard(), options: commit)
        try workspace.record(try Fixtures.standard(terrificSimilarity: 0.7, boost: (1, 0, 9, 4, 8), terrificPasses: false), options: commit)
        // Uncommitted work elsewhere, and a working-tree snapshot that differs from both commits.
        try temporary.write("wip\n", to: "notes.txt")
        try workspace.record(try Fixtures.standard(similarity: 0.1))
        let before = try everything(temporary)

        let review = try workspace.review(.revision("HEAD~1"), .revision("HEAD"))
        #expect(review.commitA?.parents.isEmpty == true && review.commitB?.parents.count == 1)
        #expect(review.experiments.map(\.name) == ["toy-experiment"])
        let comparison = try #require(review.experiments.first?.comparison)
        #expect(comparison.variants.map(\.status) == [.identical, .drifted])  // HEAD's sick, not the working tree's
        #expect(comparison.variants[1].labelChange?.old == "paraphrase" && comparison.variants[1].labelChange?.new == "not-paraphrase")
        #expect(comparison.variants[1].driftedHeads.map { "\($0.layer).\($0.head)" } == ["1.0"])
        // Both sides are read from the commits, ready to draw (the page: AttnReportsTests/ReviewPageTests).
        let terrific = try #require(review.experiments.first).comparison.variants[1]
        #expect(terrific.old?.outputs.similarity == 0.81 && terrific.new?.outputs.similarity == 0.7)
        #expect(try everything(temporary) == before)
    }

    @Test func reviewBetweenACommitAndTheWorkingTree() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        #expect(try workspace.defaultReviewSides() == (.nothing, .workingTree))
        try workspace.record(try Fixtures.standard(), options: commit)
        #expect(try workspace.defaultReviewSides() == (.nothing, .revision("HEAD")))
        try workspace.record(try Fixtures.standard(similarity: 0.5), options: commit)
        #expect(try workspace.defaultReviewSides() == (.revision("HEAD~1"), .revision("HEAD")))
        try workspace.record(try Fixtures.standard(similarity: 0.4, boost: (0, 0, 1, 9, 8)))
        #expect(try workspace.defaultReviewSides() == (.revision("HEAD"), .workingTree))
        let before = try everything(temporary)

        let review = try workspace.review(.revision("HEAD"), .workingTree, experiment: "toy-experiment")
        let variants = try #require(review.experiments.first?.comparison.variants)
        #expect(variants[0].outputChanges == [OutputChange(name: "similarity", old: 0.5, new: 0.4)])
        #expect(variants[0].driftedHeads.isEmpty)
        #expect(variants[1].driftedHeads.map { "\($0.layer).\($0.head)" } == ["0.0"])
        #expect(try everything(temporary) == before)

        #expect(throws: SnapshotError.self) { try workspace.review(.revision("HEAD"), .workingTree, experiment: "nothing-here") }
        #expect(throws: GitError.self) { try workspace.review(.revision("HEAD~5"), .workingTree) }
    }
    // MARK: What an interrupted record left, links and folders in the way (issue 11)

    /// A process id no process has (Linux's largest is 4,194,304).
    static let deadProcess = 4_194_400

    @Test func leftoversOfAnInterruptedRecordAreCleanedByTheNext() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        _ = try workspace.record(try Fixtures.standard(), options: commit)
        // Killed while replacing: sick.json's new content staged, terrific.json moved aside and
        // not yet replaced (the file itself missing).
        let pair = "\(folder)/toy/pair"
        try temporary.write("half written\n", to: "\(pair)/.sick.json.attnlab-new-\(Self.deadProcess)-7")
        let terrific = try #require(temporary.read("\(pair)/terrific.json"))
        try temporary.delete("\(pair)/terrific.json")
        try temporary.write(terrific, to: "\(pair)/.terrific.json.attnlab-old-\(Self.deadProcess)-7")

        let result = try workspace.record(try Fixtures.standard(terrificSimilarity: 0.7), options: commit)

        #expect(result.commit != nil)
        #expect(try temporary.git("status", "--porcelain", "--ignored") == "")
        let names = try FileManager.default.contentsOfDirectory(atPath: temporary.url(pair).path).sorted()
        #expect(names == ["sick.json", "sick.safetensors", "terrific.json", "terrific.safetensors"])
    }

    @Test func aFolderWhereASnapshotFileGoesIsRefusedNotHidden() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        _ = try workspace.record(try Fixtures.standard(), options: commit)
        try temporary.delete("\(folder)/toy/pair/sick.json")
        try temporary.write("mine\n", to: "\(folder)/toy/pair/sick.json/notes.txt")
        for options in [commitAuthor(force: true), SnapshotRecordOptions()] {
            let error = try #require(throws: GitError.self) { try workspace.record(try Fixtures.standard(similarity: 0.5), options: options) }
            #expect(error.description.contains("sick.json: is a folder, where a file goes; remove or rename the folder"), "\(error)")
        }
        #expect(temporary.read("\(folder)/toy/pair/sick.json/notes.txt") == "mine\n")
        let names = try FileManager.default.contentsOfDirectory(atPath: temporary.url("\(folder)/toy/pair").path)
        #expect(!names.contains { $0.hasPrefix(".") }, "\(names)")
    }

    @Test func nothingIsWrittenThroughALinkToOutsideTheRepository() throws {
        let outside = try makeTemporaryFolder()
        for linked in [folder, "\(folder)/toy", "Snapshots"] {
            let temporary = try TemporaryRepository()
            let workspace = SnapshotWorkspace(repository: temporary.repository)
            let link = temporary.url(linked)
            try FileManager.default.createDirectory(at: link.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: link, withDestinationURL: outside)
            let error = try #require(throws: GitError.self) { try workspace.record(try Fixtures.standard(), options: SnapshotRecordOptions()) }
            #expect(error.description.contains("through a symbolic link"), "\(error)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside.path).isEmpty, "\(linked)")
        }
        // A link in place of a snapshot file is not written through either.
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        _ = try workspace.record(try Fixtures.standard(), options: SnapshotRecordOptions())
        let file = temporary.url("\(folder)/toy/pair/sick.json")
        try FileManager.default.removeItem(at: file)
        try FileManager.default.createSymbolicLink(at: file, withDestinationURL: outside.appendingPathComponent("target.json"))
        #expect(throws: GitError.self) { try workspace.record(try Fixtures.standard(similarity: 0.5), options: SnapshotRecordOptions()) }
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("target.json").path))
    }

    @Test func aDamagedCommittedSnapshotIsReplacedByTheNextRecord() throws {
        let temporary = try TemporaryRepository()
        let workspace = SnapshotWorkspace(repository: temporary.repository)
        _ = try workspace.record(try Fixtures.standard(), options: commit)
        // A damaged file committed at HEAD: `record --commit` used to fail on it, telling the user
        // to run `record` again.
        try temporary.write("{ not json", to: "\(folder)/toy/pair/sick.json")
        try temporary.stage("\(folder)/toy/pair/sick.json")
        _ = try temporary.git("commit", "-q", "-m", "damage")
        let result = try workspace.record(try Fixtures.standard(), options: commit)
        #expect(result.commit != nil)
        #expect(result.message?.contains("the previous snapshots could not be read") == true, "\(result.message ?? "")")
        #expect(try temporary.git("status", "--porcelain") == "")
        // Reading the damaged revision says how to repair it, not to run what failed.
        let error = try #require(throws: SnapshotError.self) { try workspace.snapshots("toy-experiment", at: "HEAD~1") }
        #expect(error.description.contains("the file is damaged at HEAD~1; record and commit the snapshots again"), "\(error)")
    }
}
