import AttnCore
import Foundation
import Testing
@testable import AttnFigures

/// Bad input: each a clear error, and no file written.
struct FigureInputTests {
    /// Draws `kind` to a file and returns the error; checks that no file (or temporary file) is left.
    func failure(_ kind: FigureKind, format: String = "png", _ build: () throws -> FigureInput,
                 options: FigureOptions = FigureOptions()) throws -> String {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("figure.\(format)")
        var message = "no error"
        do {
            try FigureRenderer.write(kind, try build(), options: options, to: url)
        } catch let error as FigureError {
            message = error.description
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "a file was written")
        return message
    }

    @Test func aLayerThatDoesNotExist() throws {
        let message = try failure(.heatmap) {
            try FigureInputs.make(kind: .heatmap, sources: [.trace(Fixtures.pair, name: "pair")], selections: [HeadSelection(layer: 6, heads: .list([0]))])
        }
        #expect(message.contains("layer 6 does not exist: there are 6 layers (0…5)"))
    }

    @Test func aHeadThatDoesNotExist() throws {
        let message = try failure(.heatmap) {
            try FigureInputs.make(kind: .heatmap, sources: [.trace(Fixtures.pair, name: "pair")], selections: [HeadSelection(layer: -1, heads: .list([3, 12]))])
        }
        #expect(message.contains("head 12 does not exist: layer 5 has 12 heads (0…11)"))
    }

    @Test func matricesOfDifferentShapes() throws {
        let message = try failure(.compare) {
            try FigureInputs.make(kind: .compare, sources: [.array(Tensor(zeros: [4, 4]), name: "a.npy"), .array(Tensor(zeros: [4, 5]), name: "b.npy")])
        }
        #expect(message.contains("b.npy has shape [4, 5] but a.npy has [4, 4]"))
        let stability = try failure(.stability) {
            FigureInput(matrices: [Tensor(zeros: [3, 3]), Tensor(zeros: [2, 3])])
        }
        #expect(stability.contains("has shape [2, 3] but matrix 1 has [3, 3]"))
    }

    @Test func nanValues() throws {
        var matrix = Tensor(shape: [3, 3], scalars: [Float](repeating: 0.1, count: 9))
        matrix[1, 2] = .nan
        for kind in [FigureKind.heatmap, .regions] {
            let message = try failure(kind) { try FigureInputs.make(kind: kind, sources: [.array(matrix, name: "nan.npy")]) }
            #expect(message.contains("nan.npy holds NaN at row 1, column 2"))
        }
        var stack = Tensor(shape: [1, 2, 2, 2], scalars: [Float](repeating: 0.5, count: 8))
        stack[0, 1, 1, 0] = .infinity
        let overview = try failure(.overview) { try FigureInputs.make(kind: .overview, sources: [.array(stack, name: "stack.npy")]) }
        #expect(overview.contains("an infinite value at layer 0, head 1, row 1, column 0"))
    }

    @Test func anEmptyMatrix() throws {
        let message = try failure(.heatmap) { try FigureInputs.make(kind: .heatmap, sources: [.array(Tensor(shape: [0, 0], scalars: []), name: "empty.npy")]) }
        #expect(message.contains("empty.npy is empty (shape [0, 0])"))
    }

    @Test func theWrongNumberOfMatrices() throws {
        let heatmap = try failure(.heatmap) {
            try FigureInputs.make(kind: .heatmap, sources: [.array(Tensor(zeros: [2, 3, 3]), name: "runs.npy")])
        }
        #expect(heatmap.contains("draws one matrix, but runs.npy gave 2"))
        let stability = try failure(.stability) {
            try FigureInputs.make(kind: .stability, sources: [.array(Tensor(zeros: [3, 3]), name: "one.npy")])
        }
        #expect(stability.contains("needs two or more matrices"))
    }

    @Test func crossNeedsAnEncoderDecoderTrace() throws {
        let message = try failure(.cross) { try FigureInputs.make(kind: .cross, sources: [.trace(Fixtures.pair, name: "pair")]) }
        #expect(message.contains("pair has no cross-attention"))
    }

    @Test func questionContextNeedsAPair() throws {
        var options = FigureOptions()
        options.mode = .questionContext
        let message = try failure(.heatmap, {
            try FigureInputs.make(kind: .heatmap, sources: [.trace(Fixtures.long, name: "long")])
        }, options: options)
        #expect(message.contains("question-context mode needs a sentence pair"))
    }

    @Test func boxesOutsideTheMatrix() throws {
        var options = FigureOptions()
        options.boxes = [try CellBox(parsing: "4-8:30-31")]
        let message = try failure(.heatmap, { try Fixtures.input(.heatmap) }, options: options)
        #expect(message.contains("runs past the 19 × 19 matrix"))
        #expect(throws: FigureError.self) { try CellBox(parsing: "8-4") }
        #expect(throws: FigureError.self) { try CellBox(parsing: "a:b") }
        #expect(try CellBox(parsing: "subject=1-2:3-5") == CellBox(rows: 1 ... 2, columns: 3 ... 5, label: "subject"))
        #expect(try CellBox(parsing: "6") == CellBox(rows: 6 ... 6, columns: 6 ... 6))
    }

    @Test func anUnknownExtension() throws {
        let message = try failure(.heatmap, format: "jpg") { try Fixtures.input(.heatmap) }
        #expect(message.contains("end the file name with .png, .pdf or .svg"))
    }

    @Test func aPageTooNarrowForItsColumns() throws {
        var options = FigureOptions()
        options.width = 100
        let message = try failure(.heatmap, { try Fixtures.input(.overview).withLongMatrix() }, options: options)
        #expect(message.contains("too narrow"))
    }

    @Test func headSelectionsParse() throws {
        #expect(try HeadSelection.parseHeads("mean") == .all)
        #expect(try HeadSelection.parseHeads("3") == .list([3]))
        #expect(try HeadSelection.parseHeads("1, 4") == .list([1, 4]))
        #expect(throws: FigureError.self) { try HeadSelection.parseHeads("first") }
    }

    @Test func meanOfHeadsIsTheirAverage() throws {
        let input = try FigureInputs.make(kind: .heatmap, sources: [.trace(Fixtures.pair, name: "pair")],
                                          selections: [HeadSelection(layer: 2, heads: .list([0, 1]))])
        let attention = Fixtures.pair.stacks[.encoder]!.attention
        #expect(abs(input.matrices[0][3, 4] - (attention[2, 0, 3, 4] + attention[2, 1, 3, 4]) / 2) < 1e-6)
        #expect(input.defaultTitle.contains("layer 2, mean of heads 0+1"))
    }

    @Test func twoTracesWithDifferentWordsAreComparedWordByWord() throws {
        let input = try FigureInputs.make(kind: .compare, sources: [.trace(Fixtures.pair, name: "sick.trace.safetensors"),
                                                                     .trace(Fixtures.terrific, name: "terrific.trace.safetensors")],
                                          selections: [HeadSelection(layer: 1, heads: .list([5]))])
        let changed = try #require(input.rowLabels.firstIndex(of: "sick→terrific"))
        #expect(input.markedRows == [changed] && input.markedColumns == [changed])
        #expect(input.matrices[0].shape == input.matrices[1].shape)
        #expect(input.matrices[0].shape[0] == input.rowLabels.count)
        #expect(input.defaultTitle.hasPrefix("A: sick · B: terrific"))
        // Rows of the word matrices still sum to about 1: no words were dropped.
        let row = (0 ..< input.matrices[1].shape[1]).reduce(Float(0)) { $0 + input.matrices[1][changed, $1] }
        #expect(abs(row - 1) < 1e-4)
        let svg = SVGFacts(try FigureRenderer.render(.compare, input, format: .svg))
        #expect(svg.texts.contains("sick→terrific"))
    }

    @Test func arraysTakeLabelsAndRejectSelections() throws {
        let array = Tensor(shape: [2, 2], scalars: [0.5, 0.5, 0.1, 0.9])
        let input = try FigureInputs.make(kind: .heatmap, sources: [.array(array, name: "a.npy")], labels: ["x", "y"])
        #expect(input.rowLabels == ["x", "y"] && input.columnLabels == ["x", "y"])
        #expect(throws: FigureError.self) {
            try FigureInputs.make(kind: .heatmap, sources: [.array(array, name: "a.npy")], labels: ["x", "y", "z"])
        }
        #expect(throws: FigureError.self) {
            try FigureInputs.make(kind: .heatmap, sources: [.array(array, name: "a.npy")], selections: [HeadSelection(layer: 0, heads: .list([0]))])
        }
        // [runs, layers, heads, q, k]: one matrix per run at the chosen layer and head.
        let five = Tensor(shape: [3, 2, 2, 2, 2], scalars: (0 ..< 48).map { Float($0) / 48 })
        let runs = try FigureInputs.make(kind: .stability, sources: [.array(five, name: "runs.npy")], selections: [HeadSelection(layer: 1, heads: .list([0]))])
        #expect(runs.matrices.count == 3)
        #expect(runs.matrices[2][0, 0] == five[2, 1, 0, 0, 0])
    }
}

extension FigureInput {
    /// The first panel of an overview input as a one-matrix heatmap input.
    func withLongMatrix() -> FigureInput {
        FigureInput(matrices: [stack![0][0]], rowLabels: rowLabels, columnLabels: columnLabels)
    }
}
