import Foundation

/// Plain text tables for the terminal.
enum Table {
    /// Columns padded to their widest cell; columns of numbers right-aligned, header included.
    static func render(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let columns = header.indices
        let widths = columns.map { column in rows.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        let numeric = columns.map { column in
            rows.dropFirst().allSatisfy { row in
                guard row.indices.contains(column) else { return true }
                let cell = row[column].trimmingCharacters(in: .whitespaces)
                return cell == "-" || Double(cell.filter { !"%MmsxBGk+".contains($0) }.trimmingCharacters(in: .whitespaces)) != nil
            }
        }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: max(0, widths[column] - cell.count))
                return numeric[column] ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }.joined(separator: "\n")
    }
}
