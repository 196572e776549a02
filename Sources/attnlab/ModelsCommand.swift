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
                let heads = s.keyValueHeads == s.heads ? "\(s.heads)" : "\(s.heads) (\(s.keyValueHeads) kv)"
                rows.append([folder.id, s.architecture, "\(s.layers)", heads, "\(s.hidden)",
                             String(format: "%.1fM", Double(model.parameterCount) / 1e6), size, folder.url.path])
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
