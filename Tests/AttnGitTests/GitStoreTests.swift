import Foundation
import GitTestSupport
import Testing
@testable import AttnGit

/// The git store behind `attnlab snapshot record/check/log` and `attnlab review`, on temporary
/// repositories; the `git` program only double-checks what libgit2 did.
@Suite struct GitStoreTests {
    let prefix = "Snapshots/eminem"

    // MARK: - record (commit)

    @Test func recordIntoAnEmptyRepository() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        #expect(repository.isHeadUnborn)
        #expect(try repository.resolve("HEAD") == nil)
        try temporary.write("not a snapshot\n", to: "notes.txt")

        let id = try temporary.record(["\(prefix)/minilm/a.json": "{\"a\": 1}\n",
                                       "\(prefix)/minilm/b.safetensors": "bytes"],
                                      under: prefix, message: "Record eminem snapshots")

        let commit = try #require(id)
        #expect(try repository.resolve("HEAD") == commit)
        #expect(repository.currentBranch == "main")
        #expect(!repository.isHeadUnborn)
        #expect(try temporary.git("rev-parse", "refs/heads/main") == commit + "\n")
        #expect(try temporary.git("ls-tree", "-r", "--name-only", "HEAD")
                == "\(prefix)/minilm/a.json\n\(prefix)/minilm/b.safetensors\n")
        #expect(try temporary.git("log", "--format=%an <%ae> %at %s") == "Ada Tester <ada@example.com> 1700000000 Record eminem snapshots\n")
        // The index agrees with the commit; the unrelated file stays untracked.
        #expect(try temporary.git("status", "--porcelain") == "?? notes.txt\n")
        #expect(try repository.fileStatus(under: prefix).isEmpty)
    }

    @Test func recordLeavesTheUsersOtherChangesAsTheyWere() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        try temporary.write("# project\n", to: "README.md")
        try temporary.write("let a = 1\n", to: "src/a.swift")
        try temporary.write("let b = 1\n", to: "src/b.swift")
        try temporary.write("old\n", to: "docs/old.md")
        try temporary.write("{\"v\": 1}\n", to: "\(prefix)/a.json")
        try temporary.write("{\"other\": 1}\n", to: "Snapshots/other/x.json")
        try temporary.stage("README.md", "src/a.swift", "src/b.swift", "docs/old.md", "\(prefix)/a.json", "Snapshots/other/x.json")
        let first = try #require(try repository.commit(
            paths: ["README.md", "src/a.swift", "src/b.swift", "docs/old.md", "\(prefix)/a.json", "Snapshots/other/x.json"],
            message: "Initial", author: TemporaryRepository.author))

        // The user's work in progress: staged, staged-then-edited, unstaged, new, deleted, untracked.
        try temporary.write("let a = 2\n", to: "src/a.swift")
        try temporary.stage("src/a.swift")
        try temporary.write("let a = 3\n", to: "src/a.swift")
        try temporary.write("let b = 2\n", to: "src/b.swift")
        try temporary.write("let n = 1\n", to: "src/new.swift")
        try temporary.stage("src/new.swift")
        try temporary.delete("docs/old.md")
        try temporary.stage("docs/old.md")
        try temporary.write("scratch\n", to: "notes.txt")
        try temporary.write("{\"other\": 2}\n", to: "Snapshots/other/x.json")

        let snapshotPaths = ["\(prefix)/a.json", "\(prefix)/b.json"]
        func othersOnly<T>(_ entries: [String: T]) -> [String: T] {
            entries.filter { entry in !snapshotPaths.contains { entry.key.hasPrefix($0) } }
        }
        let indexBefore = othersOnly(try temporary.indexEntries())
        let stagedBefore = try temporary.git("diff", "--cached", "--", ".", ":!\(prefix)")
        let unstagedBefore = try temporary.git("diff", "--", ".", ":!\(prefix)")
        let statusBefore = try temporary.git("status", "--porcelain", "--", ".", ":!\(prefix)")
        let lsFilesBefore = try temporary.git("ls-files", "--stage", "--debug", "--", ".", ":!\(prefix)")

        // The new snapshots, then the commit.
        try temporary.write("{\"v\": 2}\n", to: "\(prefix)/a.json")
        try temporary.write("{\"new\": true}\n", to: "\(prefix)/b.json")
        let filesBefore = try temporary.workingTreeBytes()
        let second = try #require(try repository.commitChanges(under: prefix, message: "Record", author: TemporaryRepository.author))

        // Exactly the snapshot files are in the commit.
        #expect(try temporary.git("diff", "--name-status", first, second) == "M\t\(prefix)/a.json\nA\t\(prefix)/b.json\n")
        #expect(try temporary.git("show", "\(second):\(prefix)/b.json") == "{\"new\": true}\n")
        // Everything else is as it was, byte for byte: files, index entries, staged and unstaged diffs.
        #expect(try temporary.workingTreeBytes() == filesBefore)
        #expect(othersOnly(try temporary.indexEntries()) == indexBefore)
        #expect(try temporary.git("ls-files", "--stage", "--debug", "--", ".", ":!\(prefix)") == lsFilesBefore)
        #expect(try temporary.git("diff", "--cached", "--", ".", ":!\(prefix)") == stagedBefore)
        #expect(try temporary.git("diff", "--", ".", ":!\(prefix)") == unstagedBefore)
        #expect(try temporary.git("status", "--porcelain", "--", ".", ":!\(prefix)") == statusBefore)
        #expect(statusBefore == " M Snapshots/other/x.json\nD  docs/old.md\nMM src/a.swift\n M src/b.swift\nA  src/new.swift\n?? notes.txt\n")
        // The index agrees with the commit for the snapshot paths.
        #expect(try temporary.git("status", "--porcelain", "--", prefix) == "")
        #expect(try repository.uncommittedChanges(paths: [prefix]).isEmpty)
    }

    @Test func aSecondRecordWithNoChangeMakesNoCommit() throws {
        let temporary = try TemporaryRepository()
        let files = ["\(prefix)/a.json": "{}\n", "\(prefix)/m/b.json": "[]\n"]
        let first = try #require(try temporary.record(files, under: prefix, message: "First"))
        let indexBefore = try temporary.indexFileBytes()

        // Same bytes rewritten: still nothing to commit, and the index file is not rewritten.
        for (path, text) in files { try temporary.write(text, to: path) }
        #expect(try temporary.repository.commitChanges(under: prefix, message: "Again", author: TemporaryRepository.author) == nil)
        #expect(try temporary.repository.commit(paths: Array(files.keys), message: "Again", author: TemporaryRepository.author) == nil)
        #expect(try temporary.repository.resolve("HEAD") == first)
        #expect(try temporary.indexFileBytes() == indexBefore)
        #expect(try temporary.git("rev-list", "--count", "HEAD") == "1\n")
    }

    @Test func aForcedRecordOverStagedEditsLeavesTheIndexAgreeingWithHead() throws {
        let temporary = try TemporaryRepository()
        let first = try #require(try temporary.record(["\(prefix)/a.json": "1\n"], under: prefix, message: "One"))
        try temporary.write("user edit\n", to: "\(prefix)/a.json")
        try temporary.stage("\(prefix)/a.json")
        #expect(try temporary.repository.uncommittedChanges(paths: [prefix]) == ["\(prefix)/a.json"])

        // record --force regenerates the same snapshot as HEAD's: no commit, the staged edit is gone.
        try temporary.write("1\n", to: "\(prefix)/a.json")
        #expect(try temporary.repository.commitChanges(under: prefix, message: "Two", author: TemporaryRepository.author) == nil)
        #expect(try temporary.repository.resolve("HEAD") == first)
        #expect(try temporary.git("status", "--porcelain") == "")
    }

    @Test func recordRemovesSnapshotsThatAreGone() throws {
        let temporary = try TemporaryRepository()
        try temporary.record(["\(prefix)/a.json": "a\n", "\(prefix)/gone/b.json": "b\n"], under: prefix, message: "Two")
        try temporary.delete("\(prefix)/gone")

        let id = try #require(try temporary.repository.commitChanges(under: prefix, message: "One", author: TemporaryRepository.author))
        #expect(try temporary.git("ls-tree", "-r", "--name-only", id) == "\(prefix)/a.json\n")
        #expect(try temporary.git("status", "--porcelain") == "")
    }

    @Test func recordInDetachedHead() throws {
        let temporary = try TemporaryRepository()
        let first = try #require(try temporary.record(["\(prefix)/a.json": "1\n"], under: prefix, message: "One"))
        let second = try #require(try temporary.record(["\(prefix)/a.json": "2\n"], under: prefix, message: "Two"))
        try temporary.detachHead(at: first)
        try temporary.write("1\n", to: "\(prefix)/a.json")  // what a checkout of `first` would leave
        #expect(temporary.repository.isHeadDetached)

        let third = try #require(try temporary.record(["\(prefix)/a.json": "3\n"], under: prefix, message: "Three"))
        #expect(temporary.repository.isHeadDetached)
        #expect(try temporary.repository.resolve("HEAD") == third)
        #expect(try temporary.git("rev-parse", "HEAD^") == first + "\n")
        #expect(try temporary.git("rev-parse", "main") == second + "\n")  // the branch did not move
        #expect(try temporary.git("status", "--porcelain") == "")
    }

    @Test func recordRefusesDuringAMerge() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        try temporary.record(["\(prefix)/a.json": "base\n", "shared.txt": "base\n"], under: "", message: "Base")
        try temporary.git("checkout", "-q", "-b", "side")
        try temporary.record(["shared.txt": "side\n"], under: "shared.txt", message: "Side")
        try temporary.git("checkout", "-q", "main")
        let mainHead = try #require(try temporary.record(["shared.txt": "main\n"], under: "shared.txt", message: "Main"))
        _ = try runGit(["merge", "side"], in: temporary.root, allowFailure: true)  // conflicts
        #expect(repository.state == .merge)

        try temporary.write("new\n", to: "\(prefix)/a.json")
        let error = try #require(throws: GitError.self) {
            try repository.commitChanges(under: prefix, message: "Record", author: TemporaryRepository.author)
        }
        #expect(error.kind == .operationInProgress(.merge))
        #expect(error.description.contains("a merge is in progress"))
        #expect(error.description.contains("git merge --abort"))
        #expect(try repository.resolve("HEAD") == mainHead)
        #expect(try temporary.git("status", "--porcelain", "--", prefix) == " M \(prefix)/a.json\n")
    }

    @Test func recordRefusesDuringARebaseAndWhileTheIndexIsLocked() throws {
        let temporary = try TemporaryRepository()
        try temporary.record(["\(prefix)/a.json": "1\n"], under: prefix, message: "One")
        try temporary.write("2\n", to: "\(prefix)/a.json")
        let git = temporary.repository.gitDirectory

        try FileManager.default.createDirectory(at: git.appendingPathComponent("rebase-merge"), withIntermediateDirectories: true)
        #expect(temporary.repository.state == .rebaseMerge)
        let rebase = try #require(throws: GitError.self) {
            try temporary.repository.commitChanges(under: prefix, message: "Two", author: TemporaryRepository.author)
        }
        #expect(rebase.description.contains("a rebase is in progress"))
        try FileManager.default.removeItem(at: git.appendingPathComponent("rebase-merge"))

        FileManager.default.createFile(atPath: git.appendingPathComponent("index.lock").path, contents: Data())
        let locked = try #require(throws: GitError.self) {
            try temporary.repository.commitChanges(under: prefix, message: "Two", author: TemporaryRepository.author)
        }
        #expect(locked.kind == .locked)
        try FileManager.default.removeItem(at: git.appendingPathComponent("index.lock"))

        #expect(try temporary.repository.commitChanges(under: prefix, message: "Two", author: TemporaryRepository.author) != nil)
    }

    @Test func uncommittedChangesNamesTheUsersEdits() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        try temporary.write("*.tmp\n", to: ".gitignore")
        try temporary.record([".gitignore": "*.tmp\n", "\(prefix)/a.json": "1\n", "\(prefix)/b.json": "1\n",
                              "\(prefix)/c.json": "1\n"], under: "", message: "One")
        #expect(try repository.uncommittedChanges(paths: [prefix]).isEmpty)

        try temporary.write("edited\n", to: "\(prefix)/a.json")          // unstaged
        try temporary.write("staged\n", to: "\(prefix)/b.json")
        try temporary.stage("\(prefix)/b.json")                          // staged
        try temporary.delete("\(prefix)/c.json")                         // deleted
        try temporary.write("new\n", to: "\(prefix)/d.json")             // untracked
        try temporary.write("scratch\n", to: "\(prefix)/e.tmp")          // ignored
        try temporary.write("elsewhere\n", to: "Snapshots/other/x.json") // not asked about

        #expect(try repository.uncommittedChanges(paths: [prefix])
                == ["\(prefix)/a.json", "\(prefix)/b.json", "\(prefix)/c.json", "\(prefix)/d.json"])
        #expect(try repository.uncommittedChanges(paths: ["\(prefix)/b.json", "\(prefix)/zzz.json"]) == ["\(prefix)/b.json"])
        let status = try repository.fileStatus(under: prefix)
        #expect(status["\(prefix)/a.json"] == FileStatus(unstaged: .modified))
        #expect(status["\(prefix)/b.json"] == FileStatus(staged: .modified))
        #expect(status["\(prefix)/c.json"] == FileStatus(unstaged: .deleted))
        #expect(status["\(prefix)/d.json"]?.isUntracked == true)
        #expect(status["\(prefix)/d.json"]?.description == "??")
        #expect(status["\(prefix)/e.tmp"] == nil)
    }

    // MARK: - log

    @Test func logListsTheCommitsThatChangedAnExperiment() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        #expect(try repository.log(touching: prefix).isEmpty)  // no commits yet
        let day: TimeInterval = 86_400
        let start = TemporaryRepository.author.date

        let one = try #require(try temporary.record(["\(prefix)/a.json": "a1\n", "\(prefix)/b.json": "b1\n"],
                                                    under: prefix, message: "Record eminem", date: start))
        try temporary.record(["src/main.swift": "print(1)\n"], under: "src", message: "Unrelated", date: start + day)
        let two = try #require(try temporary.record(["\(prefix)/a.json": "a2\n"], under: prefix,
                                                    message: "Sick is read as ill\n\nLonger explanation.", date: start + 2 * day))
        try temporary.record(["Snapshots/other/x.json": "x\n"], under: "Snapshots/other", message: "Other experiment", date: start + 3 * day)
        try temporary.delete("\(prefix)/b.json")
        try temporary.write("c3\n", to: "\(prefix)/c.json")
        let three = try #require(try repository.commitChanges(under: prefix, message: "Drop b, add c",
                                                              author: Signature(name: "Bo", email: "bo@example.com",
                                                                                date: start + 4 * day, timeZoneOffsetMinutes: -300)))

        let log = try repository.log(touching: prefix)
        #expect(log.map(\.id) == [three, two, one])
        #expect(log.map(\.summary) == ["Drop b, add c", "Sick is read as ill", "Record eminem"])
        #expect(log[1].message == "Sick is read as ill\n\nLonger explanation.\n")
        #expect(log[0].author == Signature(name: "Bo", email: "bo@example.com", date: start + 4 * day, timeZoneOffsetMinutes: -300))
        #expect(log[2].author.date == start)
        #expect(log[2].parents.isEmpty)
        #expect(log[1].parents.count == 1)

        #expect(log[2].changes.map(\.path) == ["\(prefix)/a.json", "\(prefix)/b.json"])
        #expect(log[2].changes.map(\.kind) == [.added, .added])
        #expect(log[1].changes.map(\.path) == ["\(prefix)/a.json"])
        #expect(log[1].changes[0].kind == .modified)
        #expect(try repository.blob(try #require(log[1].changes[0].oldBlob)) == Data("a1\n".utf8))
        #expect(try repository.blob(try #require(log[1].changes[0].newBlob)) == Data("a2\n".utf8))
        #expect(log[0].changes.map(\.path) == ["\(prefix)/b.json", "\(prefix)/c.json"])
        #expect(log[0].changes.map(\.kind) == [.deleted, .added])
        #expect(try repository.blob(try #require(log[0].changes[0].oldBlob)) == Data("b1\n".utf8))

        // Agrees with git's own history of the folder.
        #expect(try temporary.git("log", "--format=%H", "--", prefix) == [three, two, one].map { $0 + "\n" }.joined())
        #expect(try repository.log(touching: prefix, limit: 2).map(\.id) == [three, two])
        #expect(try repository.log(touching: "\(prefix)/a.json").map(\.id) == [two, one])
        #expect(try repository.log(touching: "Snapshots/other").map(\.summary) == ["Other experiment"])
        #expect(try repository.log(touching: "Snapshots/none").isEmpty)
    }

    @Test func logThroughAMergeListsTheSideCommitNotTheMerge() throws {
        let temporary = try TemporaryRepository()
        let base = try #require(try temporary.record(["\(prefix)/a.json": "1\n", "README.md": "r1\n"], under: "", message: "Base"))
        try temporary.git("checkout", "-q", "-b", "side")
        let side = try #require(try temporary.record(["\(prefix)/a.json": "2\n"], under: prefix, message: "Side"))
        try temporary.git("checkout", "-q", "main")
        try temporary.record(["README.md": "r2\n"], under: "README.md", message: "Main")
        try temporary.git("merge", "-q", "--no-edit", "side")
        #expect(try temporary.git("rev-list", "--count", "--merges", "HEAD") == "1\n")

        let log = try temporary.repository.log(touching: prefix)
        #expect(log.map(\.id) == [side, base])
        #expect(Set(log.map(\.id)) == Set(try temporary.git("log", "--format=%H", "--", prefix).split(separator: "\n").map(String.init)))
    }

    // MARK: - review (reading revisions)

    @Test func filesAtTwoRevisionsAndTheWorkingTree() throws {
        let temporary = try TemporaryRepository()
        let repository = temporary.repository
        #expect(try repository.files(at: "HEAD", under: prefix).isEmpty)  // no commits yet

        let v1 = ["\(prefix)/m/a.json": "a1\n", "\(prefix)/m/b.json": "b1\n"]
        let v2 = ["\(prefix)/m/a.json": "a2\n", "\(prefix)/m/c.json": "c2\n"]
        let first = try #require(try temporary.record(v1, under: prefix, message: "v1"))
        try temporary.delete("\(prefix)/m/b.json")
        try temporary.record(v2, under: prefix, message: "v2")
        // Uncommitted work: the working tree differs from both.
        try temporary.write("a3\n", to: "\(prefix)/m/a.json")
        try temporary.write("ignored\n", to: "\(prefix)/m/x.tmp")
        try temporary.write("*.tmp\n", to: ".gitignore")
        let treeBefore = try temporary.workingTreeBytes()
        let indexBefore = try temporary.indexFileBytes()

        func text(_ files: [String: Data]) -> [String: String] { files.mapValues { String(decoding: $0, as: UTF8.self) } }
        #expect(text(try repository.files(at: "HEAD~1", under: prefix)) == v1)
        #expect(text(try repository.files(at: first, under: prefix)) == v1)
        #expect(text(try repository.files(at: "HEAD", under: prefix)) == v2)
        #expect(text(try repository.files(at: "main", under: "\(prefix)/")) == v2)
        #expect(text(try repository.workingTreeFiles(under: prefix))
                == ["\(prefix)/m/a.json": "a3\n", "\(prefix)/m/c.json": "c2\n"])
        #expect(text(try repository.files(at: "HEAD", under: "\(prefix)/m/c.json")) == ["\(prefix)/m/c.json": "c2\n"])
        #expect(try repository.files(at: "HEAD", under: "Snapshots/none").isEmpty)

        // Reading revisions checked nothing out and wrote nothing.
        #expect(try temporary.workingTreeBytes() == treeBefore)
        #expect(try temporary.indexFileBytes() == indexBefore)

        let unknown = try #require(throws: GitError.self) { try repository.files(at: "HEAD~5", under: prefix) }
        #expect(unknown.kind == .unknownRevision)
        #expect(unknown.description.contains("HEAD~5"))
    }

    // MARK: - opening

    @Test func discoverWalksUpAndNamesTheFolderOutsideARepository() throws {
        let temporary = try TemporaryRepository()
        try FileManager.default.createDirectory(at: temporary.url("a/b"), withIntermediateDirectories: true)
        let found = try GitRepository.discover(from: temporary.url("a/b"))
        #expect(found.workdir.path == temporary.root.path)
        #expect(try found.relativePath(of: temporary.url("Snapshots/eminem/")) == "Snapshots/eminem")

        let outside = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: outside) }
        let error = try #require(throws: GitError.self) { try GitRepository.discover(from: outside) }
        #expect(error.kind == .notARepository)
        #expect(error.description.contains("not inside a git repository"))
        #expect(error.description.contains(outside.path))
        #expect(error.description.contains("git init"))
    }

    @Test func pathsThatLeaveTheWorkingTreeAreRefused() throws {
        let temporary = try TemporaryRepository()
        for path in ["../elsewhere/a.json", "/etc/passwd", ".git/config", "Snapshots/../../x"] {
            let error = try #require(throws: GitError.self) {
                try temporary.repository.commit(paths: [path], message: "x", author: TemporaryRepository.author)
            }
            #expect(error.kind == .invalidPath)
        }
    }
}
