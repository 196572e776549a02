import AttnCore

/// Checks on the matrices a figure is given, with errors that say which matrix and where.
enum MatrixCheck {
    /// A `[rows, columns]` matrix with at least one cell and only finite values.
    static func matrix(_ matrix: Tensor, name: String) throws {
        guard matrix.rank == 2 else {
            throw FigureError("\(name) has shape \(matrix.shape), not [rows, columns]",
                              hint: "pick one layer and head of a [layers, heads, queries, keys] tensor with --layer and --head")
        }
        guard matrix.shape[0] > 0, matrix.shape[1] > 0 else {
            throw FigureError("\(name) is empty (shape \(matrix.shape))", hint: "a figure needs at least one query and one key")
        }
        if let bad = matrix.scalars.firstIndex(where: { !$0.isFinite }) {
            let row = bad / matrix.shape[1], column = bad % matrix.shape[1]
            let what = matrix.scalars[bad].isNaN ? "NaN" : "an infinite value"
            throw FigureError("\(name) holds \(what) at row \(row), column \(column)",
                              hint: "attention must be finite; check how the array was computed")
        }
    }

    /// Several matrices of one shape.
    static func sameShape(_ matrices: [Tensor], names: [String]) throws {
        for (index, matrix) in matrices.enumerated() {
            try self.matrix(matrix, name: names[index])
        }
        guard let first = matrices.first else { return }
        for (index, matrix) in matrices.enumerated() where matrix.shape != first.shape {
            throw FigureError("\(names[index]) has shape \(matrix.shape) but \(names[0]) has \(first.shape)",
                              hint: "the matrices of one figure must have the same shape")
        }
    }
}
