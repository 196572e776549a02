import AttnCore
import Foundation
import Testing
@testable import AttnFigures

struct RegionDetectorTests {
    /// A `rows × columns` matrix of `background` with rectangles set to values.
    static func matrix(_ rows: Int, _ columns: Int, background: Float = 0.01,
                       _ blocks: [(ClosedRange<Int>, ClosedRange<Int>, Float)]) -> Tensor {
        var t = Tensor(shape: [rows, columns], scalars: [Float](repeating: background, count: rows * columns))
        for (rs, cs, value) in blocks { for r in rs { for c in cs { t[r, c] = value } } }
        return t
    }

    @Test func findsTwoBlocksExactly() throws {
        var m = Self.matrix(16, 16, [(2 ... 5, 3 ... 6, 0.5), (10 ... 11, 10 ... 13, 0.4)])
        m[3, 4] = 0.6
        let regions = try RegionDetector.detect(m, options: .init(regions: 2))
        #expect(regions.count == 2)
        #expect(regions[0].rows == 2 ... 5 && regions[0].columns == 3 ... 6)
        #expect(regions[0].seeds == [RegionDetector.Cell(row: 3, column: 4)])
        #expect(regions[0].peak == Double(Float(0.6)))
        #expect(regions[1].rows == 10 ... 11 && regions[1].columns == 10 ... 13)
    }

    @Test func aColumnOfStrongCellsIsOneRegion() throws {
        // Attention to [CLS]: column 0 strong for rows 0…9.
        let m = Self.matrix(12, 12, [(0 ... 9, 0 ... 0, 0.8)])
        let regions = try RegionDetector.detect(m, options: .init(regions: 1))
        #expect(regions.map(\.rows) == [0 ... 9])
        #expect(regions.map(\.columns) == [0 ... 0])
    }

    @Test func twoHalvesOfOneBlockMerge() throws {
        // One block whose two halves differ a little and are split by a weaker (but not weak) row:
        // the seeds in each half grow separately and then merge.
        let m = Self.matrix(14, 14, [(2 ... 4, 2 ... 6, 0.9), (5 ... 5, 2 ... 6, 0.3), (6 ... 8, 2 ... 6, 0.7)])
        let regions = try RegionDetector.detect(m, options: .init(regions: 3, minSeedDistance: 2, expansionThreshold: 0.7))
        let merged = try #require(regions.first)
        #expect(merged.rows == 2 ... 8 && merged.columns == 2 ... 6)
        #expect(merged.seeds.count >= 2)
    }

    @Test func nearStrongCellsWithWeakCellsBetweenStayApart() throws {
        // Two strong single cells two rows and two columns apart: their bounding box is mostly weak.
        let m = Self.matrix(10, 10, [(2 ... 2, 2 ... 2, 0.9), (5 ... 5, 5 ... 5, 0.85)])
        let regions = try RegionDetector.detect(m, options: .init(regions: 2))
        #expect(regions.count == 2)
        #expect(regions.allSatisfy { $0.area == 1 })
    }

    @Test func seedsKeepTheirDistance() throws {
        // Strong cells side by side: only one may seed within the minimum distance.
        let m = Self.matrix(10, 10, [(4 ... 4, 4 ... 4, 0.9), (4 ... 4, 5 ... 5, 0.2), (9 ... 9, 0 ... 0, 0.5)])
        let regions = try RegionDetector.detect(m, options: .init(regions: 2, expansionThreshold: 0.9))
        #expect(regions.map(\.seeds.first) == [RegionDetector.Cell(row: 4, column: 4), RegionDetector.Cell(row: 9, column: 0)])
    }

    @Test func findsFewerRegionsOnAFlatMatrix() throws {
        // A uniform matrix: the first seed grows over everything, so there is nothing else to find.
        let m = Self.matrix(6, 6, background: 0.25, [])
        let regions = try RegionDetector.detect(m, options: .init(regions: 3))
        #expect(regions.count == 1)
        #expect(regions[0].rows == 0 ... 5 && regions[0].columns == 0 ... 5)
    }

    @Test func rejectsBadMatricesAndOptions() {
        #expect(throws: FigureError.self) { try RegionDetector.detect(Tensor(shape: [0, 4], scalars: [])) }
        #expect(throws: FigureError.self) { try RegionDetector.detect(Tensor(shape: [2, 2], scalars: [0.1, .nan, 0.2, 0.3])) }
        #expect(throws: FigureError.self) { try RegionDetector.detect(Tensor(shape: [4], scalars: [1, 2, 3, 4])) }
        #expect(throws: FigureError.self) { try RegionDetector.detect(Self.matrix(4, 4, []), options: .init(regions: 0)) }
        #expect(throws: FigureError.self) { try RegionDetector.detect(Self.matrix(4, 4, []), options: .init(expansionThreshold: 1.5)) }
    }

    @Test func jsonNamesTheTokensOfEachRegion() throws {
        let m = Self.matrix(4, 4, [(1 ... 2, 2 ... 3, 0.7)])
        let regions = try RegionDetector.detect(m, options: .init(regions: 1))
        let data = try RegionDetector.json(regions, rowLabels: ["[CLS]", "eminem", "was", "[SEP]"], columnLabels: ["[CLS]", "eminem", "was", "[SEP]"])
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let first = (object["regions"] as! [[String: Any]])[0]
        #expect(first["rows"] as? [Int] == [1, 2])
        #expect(first["columns"] as? [Int] == [2, 3])
        #expect(first["row_tokens"] as? [String] == ["eminem", "was"])
        #expect(first["column_tokens"] as? [String] == ["was", "[SEP]"])
        #expect((first["peak"] as? Double).map { abs($0 - 0.7) < 1e-6 } == true)
    }
}
