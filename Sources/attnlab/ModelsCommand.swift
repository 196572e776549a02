import ArgumentParser
import AttnModels
import Foundation

/// `attnlab models`: the model folders AttnLab finds, with their shape.
struct ModelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the models found in Models/, $ATTNLAB_MODELS and the Hugging Face cache.")

    func run() throws {
        let locator = ModelLocator.standard()
        let folders = locator.list()
        if folders.isEmpty {
            print("No models found in " + (locator.roots + locator.hubCaches).map(\.path).joined(separator: ", ")
                  + ". Run `make setup` to fetch the bundled ones.")
            return
        }
        var rows = [["model", "architecture", "layers", "heads", "hidden", "parameters", "size", "folder"]]
        for folder in folders {
            let size = ByteCountFormatter.string(fromByteCount: Int64(Self.folderSize(folder.url)), countStyle: .file)
            do {
                let model = try ModelRegistry.load(folder: folder.url)
                let s = model.summary
                rows.append([folder.id, s.architecture, "\(s.layers)", "\(s.heads)", "\(s.hidden)",
                             String(format: "%.1fM", Double(s.parameters) / 1e6), size, folder.url.path])
            } catch {
                let type = (try? ModelConfig(folder: folder.url).modelType) ?? "?"
                rows.append([folder.id, type, "-", "-", "-", "-", size, "cannot load: \(error)"])
            }
        }
        print(Table.render(rows))
    }

    static func folderSize(_ url: URL) -> Int {
        let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey])
        var total = 0
        while let file = enumerator?.nextObject() as? URL {
            total += (try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        return total
    }
}

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
