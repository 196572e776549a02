import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnSnapshots

/// A scan's snapshot file reads back as it was written (a skipped cell included), sits beside the
/// variants without being taken for one, and its comparison finds a moved cell and a new ranking.
@Suite struct CausalSnapshotTests {
    static func scan(_ effects: [[Double]], target: Double = 0.5) -> ScanSnapshot {
        ScanSnapshot(model: "m", id: "heads", result: ScanResult(
            stack: .encoder, site: .head, mode: .patch, metric: "similarity", target: "in/a", source: "in/b",
            targetValue: target, sourceValue: 0.9, layers: [0, 1], columns: ["0", "1"], effects: effects, skipped: ["1,1"]))
    }

    @Test func aScanReadsBackAsItWasWritten() throws {
        let snapshot = Self.scan([[0.1234567, -0.02], [0.3, .nan]])
        let text = snapshot.json().text()
        #expect(text.contains("\"effects\": [\n    [0.123457, -0.020000],\n    [0.300000, null]\n  ],"), "\(text)")
        #expect(text.contains("{\"cell\": \"1.0\", \"effect\": 0.300000, \"normalized\": 0.7500}"))
        let read = try JSONDecoder().decode(ScanSnapshot.self, from: snapshot.json().data())
        #expect(read.json().text() == text)
        #expect(read.result.effects[0][0] == 0.123457 && read.result.effects[1][1].isNaN && read.result.skipped == ["1,1"])

        let stored = try StoredSnapshots(name: "x", files: [snapshot.path: snapshot.json().data()], folder: "Snapshots/x")
        #expect(snapshot.path == "m/heads.scan.json")
        #expect(stored.scans["m/heads"] != nil && stored.variants.isEmpty && stored.strayFiles.isEmpty)
    }

    @Test func aMovedCellAndANewRankingAreDrift() throws {
        func stored(_ snapshot: ScanSnapshot) throws -> StoredSnapshots {
            try StoredSnapshots(name: "x", files: [snapshot.path: snapshot.json().data()], folder: "Snapshots/x")
        }
        let old = Self.scan([[0.3, 0.1], [0.2, .nan]])
        let same = try SnapshotComparer.compare(old: try stored(old), new: try stored(old))
        #expect(same.scans.map(\.status) == [.identical] && !same.hasDrift)
        let close = try SnapshotComparer.compare(old: try stored(old), new: try stored(Self.scan([[0.30005, 0.1], [0.2, .nan]])))
        #expect(close.scans.map(\.status) == [.withinTolerance] && !close.hasDrift)

        let moved = try SnapshotComparer.compare(old: try stored(old), new: try stored(Self.scan([[0.05, 0.1], [0.2, .nan]], target: 0.6)))
        let scan = try #require(moved.scans.first)
        #expect(scan.status == .drifted && moved.hasDrift)
        #expect(scan.movedCells.map(\.cell) == ["0.0"])
        #expect(scan.rankingChange?.old == ["0.0", "1.0", "0.1"] && scan.rankingChange?.new == ["1.0", "0.1", "0.0"])
        let details = DriftReport.details(scan)
        #expect(details.contains("strongest 3: 0.0, 1.0, 0.1 → 1.0, 0.1, 0.0"), "\(details)")
        #expect(details.contains("1 of 4 cells moved; most: 0.0 0.3000 → 0.0500"))
        #expect(DriftReport.summary(moved).hasPrefix("scan heads: strongest 0.0, 1.0, 0.1 → 1.0, 0.1, 0.0, 1 cell moved, target similarity 0.5000 → 0.6000"))

        let gone = try SnapshotComparer.compare(old: try stored(old), new: nil)
        #expect(gone.scans.map(\.status) == [.removed])
    }

    @Test func attributionThatMovedIsDrift() {
        let old = [AttributionSnapshot(method: "occlusion", metric: "similarity", baseline: 0.8, words: ["a", "b"], scores: [0.2, 0.1])]
        let new = [AttributionSnapshot(method: "occlusion", metric: "similarity", baseline: 0.8, words: ["a", "b"], scores: [0.05, 0.1])]
        #expect(SnapshotComparer.attributionChanges(old, old, tolerance: 1e-4).isEmpty)
        let changes = SnapshotComparer.attributionChanges(old, new, tolerance: 1e-4)
        #expect(changes == [AttributionChange(method: "occlusion", word: "a", old: 0.2, new: 0.05, oldRank: 1, newRank: 2)])
    }
}
