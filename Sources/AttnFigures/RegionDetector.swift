import AttnCore
import Foundation

/// Finds the key regions of an attention matrix: rectangles of strong attention.
///
/// 1. Seeds: the strongest cells, taken in order of value, each more than `minSeedDistance`
///    cells away (in rows or columns) from every seed taken before and outside every region.
///    Every seed after the first must stand out: at least the matrix's mean plus `seedContrast`
///    standard deviations, so that a region is never grown from the background.
/// 2. Expansion: each seed grows into a rectangle. In each round, each of the four neighbouring
///    strips (the row above, the row below, the column left, the column right, as long as the
///    rectangle's side) joins when its mean is at least `expansionThreshold` × the seed's value;
///    growth stops when no strip joins (or after `maxExpansionSteps` rounds, when set).
/// 3. Merging: two regions at most `proximity` cells apart merge into their bounding box when
///    they are similar enough that the box stays strong: its mean is at least `mergeThreshold` ×
///    the mean of the two regions' cells. Merging never makes a weak box out of two strong cells
///    far apart, and two halves of one block always merge.
/// 4. While there are fewer than `regions` regions and seeds are left, the next seed grows and
///    merges in the same way.
///
/// Regions come out strongest first (by peak value, then by mean).
public enum RegionDetector {
    /// The detector's parameters.
    public struct Options: Sendable, Equatable {
        /// How many regions to find (fewer when the matrix has fewer distinct strong places).
        public var regions: Int = 3
        public var minSeedDistance: Int = 2
        public var seedContrast: Double = 1
        public var expansionThreshold: Double = 0.5
        public var maxExpansionSteps: Int?
        public var proximity: Int = 2
        public var mergeThreshold: Double = 0.6

        public init(regions: Int = 3, minSeedDistance: Int = 2, seedContrast: Double = 1, expansionThreshold: Double = 0.5,
                    maxExpansionSteps: Int? = nil, proximity: Int = 2, mergeThreshold: Double = 0.6) {
            self.regions = regions
            self.minSeedDistance = minSeedDistance
            self.seedContrast = seedContrast
            self.expansionThreshold = expansionThreshold
            self.maxExpansionSteps = maxExpansionSteps
            self.proximity = proximity
            self.mergeThreshold = mergeThreshold
        }

        func validate() throws {
            guard regions >= 1 else { throw FigureError("the region detector needs to find at least one region, got \(regions)", location: "--regions") }
            guard minSeedDistance >= 0 else { throw FigureError("the seed distance must be 0 or more, got \(minSeedDistance)", location: "--min-seed-distance") }
            guard expansionThreshold > 0, expansionThreshold <= 1 else {
                throw FigureError("the expansion threshold must lie in (0, 1], got \(expansionThreshold)", location: "--expansion-threshold",
                                  hint: "it is a fraction of the seed's value")
            }
            if let steps = maxExpansionSteps, steps < 0 {
                throw FigureError("the expansion steps must be 0 or more, got \(steps)", location: "--expansion-steps")
            }
            guard seedContrast >= 0, seedContrast.isFinite else {
                throw FigureError("the seed contrast must be 0 or more, got \(seedContrast)", location: "--seed-contrast")
            }
            guard proximity >= 0 else { throw FigureError("the merge proximity must be 0 or more, got \(proximity)", location: "--proximity") }
            guard mergeThreshold > 0, mergeThreshold <= 1 else {
                throw FigureError("the merge threshold must lie in (0, 1], got \(mergeThreshold)", location: "--merge-threshold",
                                  hint: "it is the fraction of the regions' mean that their bounding box must keep")
            }
        }
    }

    /// A cell of the matrix.
    public struct Cell: Sendable, Equatable, Hashable, Codable {
        public var row: Int
        public var column: Int

        public init(row: Int, column: Int) {
            self.row = row
            self.column = column
        }
    }

    /// One detected region: a rectangle of cells, both ends included.
    public struct Region: Sendable, Equatable {
        public var rows: ClosedRange<Int>
        public var columns: ClosedRange<Int>
        /// The seeds it grew from (several after merging).
        public var seeds: [Cell]
        /// Its largest and its mean value.
        public var peak: Double
        public var mean: Double

        public init(rows: ClosedRange<Int>, columns: ClosedRange<Int>, seeds: [Cell], peak: Double, mean: Double) {
            self.rows = rows
            self.columns = columns
            self.seeds = seeds
            self.peak = peak
            self.mean = mean
        }

        /// The number of cells.
        public var area: Int { rows.count * columns.count }

        public func contains(_ cell: Cell) -> Bool { rows.contains(cell.row) && columns.contains(cell.column) }

        /// The number of empty rows or columns between two regions (0 when they touch or overlap).
        func gap(to other: Region) -> Int {
            let rowGap = max(0, max(other.rows.lowerBound - rows.upperBound, rows.lowerBound - other.rows.upperBound) - 1)
            let columnGap = max(0, max(other.columns.lowerBound - columns.upperBound, columns.lowerBound - other.columns.upperBound) - 1)
            return max(rowGap, columnGap)
        }
    }

    /// The regions of a `[queries, keys]` matrix.
    public static func detect(_ matrix: Tensor, options: Options = Options()) throws -> [Region] {
        try options.validate()
        try MatrixCheck.matrix(matrix, name: "the matrix")
        let grid = Grid(matrix)
        // Cells from the strongest down; ties go to the first in row-major order.
        let order = grid.values.indices.sorted { (grid.values[$0], -$0) > (grid.values[$1], -$1) }
        let seedFloor = grid.mean + options.seedContrast * grid.standardDeviation
        var regions: [Region] = []
        var seeds: [Cell] = []
        for index in order {
            guard regions.count < options.regions, seeds.isEmpty || grid.values[index] >= seedFloor else { break }
            let cell = Cell(row: index / grid.columns, column: index % grid.columns)
            guard !regions.contains(where: { $0.contains(cell) }),
                  seeds.allSatisfy({ max(abs($0.row - cell.row), abs($0.column - cell.column)) > options.minSeedDistance })
            else { continue }
            seeds.append(cell)
            regions.append(expand(cell, in: grid, options: options))
            regions = merge(regions, in: grid, options: options)
        }
        return regions.sorted { ($0.peak, $0.mean, -$0.rows.lowerBound) > ($1.peak, $1.mean, -$1.rows.lowerBound) }
    }

    static func expand(_ seed: Cell, in grid: Grid, options: Options) -> Region {
        let floor = options.expansionThreshold * grid[seed.row, seed.column]
        var rows = seed.row ... seed.row, columns = seed.column ... seed.column
        for _ in 0 ..< (options.maxExpansionSteps ?? max(grid.rows, grid.columns)) {
            var grew = false
            if rows.lowerBound > 0, grid.mean(rows: rows.lowerBound - 1 ... rows.lowerBound - 1, columns: columns) >= floor {
                rows = rows.lowerBound - 1 ... rows.upperBound
                grew = true
            }
            if rows.upperBound < grid.rows - 1, grid.mean(rows: rows.upperBound + 1 ... rows.upperBound + 1, columns: columns) >= floor {
                rows = rows.lowerBound ... rows.upperBound + 1
                grew = true
            }
            if columns.lowerBound > 0, grid.mean(rows: rows, columns: columns.lowerBound - 1 ... columns.lowerBound - 1) >= floor {
                columns = columns.lowerBound - 1 ... columns.upperBound
                grew = true
            }
            if columns.upperBound < grid.columns - 1, grid.mean(rows: rows, columns: columns.upperBound + 1 ... columns.upperBound + 1) >= floor {
                columns = columns.lowerBound ... columns.upperBound + 1
                grew = true
            }
            if !grew { break }
        }
        return grid.region(rows: rows, columns: columns, seeds: [seed])
    }

    /// Merges pairs of near, similar regions until none is left.
    static func merge(_ regions: [Region], in grid: Grid, options: Options) -> [Region] {
        var regions = regions
        var merged = true
        while merged {
            merged = false
            search: for i in regions.indices {
                for j in regions.indices where j > i {
                    let (a, b) = (regions[i], regions[j])
                    guard a.gap(to: b) <= options.proximity else { continue }
                    let rows = min(a.rows.lowerBound, b.rows.lowerBound) ... max(a.rows.upperBound, b.rows.upperBound)
                    let columns = min(a.columns.lowerBound, b.columns.lowerBound) ... max(a.columns.upperBound, b.columns.upperBound)
                    let box = grid.region(rows: rows, columns: columns, seeds: a.seeds + b.seeds)
                    let partsMean = (a.mean * Double(a.area) + b.mean * Double(b.area)) / Double(a.area + b.area)
                    guard box.mean >= options.mergeThreshold * partsMean else { continue }
                    regions[i] = box
                    regions.remove(at: j)
                    merged = true
                    break search
                }
            }
        }
        return regions
    }

    /// The regions as JSON: each with its row and column ranges (inclusive), the tokens at their
    /// ends when labels are given, its seeds, peak and mean.
    public static func json(_ regions: [Region], rowLabels: [String]? = nil, columnLabels: [String]? = nil) throws -> Data {
        struct Entry: Encodable {
            var rows: [Int]
            var columns: [Int]
            var rowTokens: [String]?
            var columnTokens: [String]?
            var seeds: [[Int]]
            var peak: Double
            var mean: Double

            enum CodingKeys: String, CodingKey {
                case rows, columns, seeds, peak, mean
                case rowTokens = "row_tokens", columnTokens = "column_tokens"
            }
        }
        func slice(_ labels: [String]?, _ range: ClosedRange<Int>) -> [String]? {
            guard let labels, range.upperBound < labels.count else { return nil }
            return Array(labels[range])
        }
        func rounded(_ value: Double) -> Double { (value * 1_000_000).rounded() / 1_000_000 }
        let entries = regions.map {
            Entry(rows: [$0.rows.lowerBound, $0.rows.upperBound], columns: [$0.columns.lowerBound, $0.columns.upperBound],
                  rowTokens: slice(rowLabels, $0.rows), columnTokens: slice(columnLabels, $0.columns),
                  seeds: $0.seeds.map { [$0.row, $0.column] }, peak: rounded($0.peak), mean: rounded($0.mean))
        }
        // One region per line: short enough to read, and a diff shows which region changed.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let lines = try entries.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let body = lines.isEmpty ? "{\"regions\": []}\n" : "{\"regions\": [\n  " + lines.joined(separator: ",\n  ") + "\n]}\n"
        return Data(body.utf8)
    }
}

/// A matrix read as doubles, with the sums a detector needs.
struct Grid {
    let rows: Int
    let columns: Int
    let values: [Double]

    init(_ matrix: Tensor) {
        rows = matrix.shape[0]
        columns = matrix.shape[1]
        values = matrix.scalars.map(Double.init)
    }

    subscript(row: Int, column: Int) -> Double { values[row * columns + column] }

    func mean(rows: ClosedRange<Int>, columns: ClosedRange<Int>) -> Double {
        var sum = 0.0
        for r in rows { for c in columns { sum += self[r, c] } }
        return sum / Double(rows.count * columns.count)
    }

    func region(rows: ClosedRange<Int>, columns: ClosedRange<Int>, seeds: [RegionDetector.Cell]) -> RegionDetector.Region {
        var peak = -Double.infinity
        for r in rows { for c in columns { peak = max(peak, self[r, c]) } }
        return RegionDetector.Region(rows: rows, columns: columns, seeds: seeds, peak: peak, mean: mean(rows: rows, columns: columns))
    }

    var mean: Double { values.reduce(0, +) / Double(values.count) }

    var standardDeviation: Double {
        let mean = self.mean
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
    }
}
