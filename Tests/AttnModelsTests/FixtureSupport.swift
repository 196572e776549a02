import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The committed fixtures (written by Tools/reference/make_fixtures.py) and the fetched models.
enum Fixtures {
    static let folder = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = repository.appendingPathComponent("Models")

    static func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    /// An expectation file: its tensors and the JSON inputs in its metadata.
    struct Expected {
        let file: SafeTensorsFile
        let inputs: [String: Any]

        init(_ name: String) throws {
            file = try SafeTensorsFile(path: Fixtures.url(name).path)
            inputs = try JSONSerialization.jsonObject(with: Data(file.metadata["fixture"]!.utf8)) as! [String: Any]
        }

        func tensor(_ name: String) throws -> Tensor { try file.tensor(name) }
        func ints(_ key: String) -> [Int] { (inputs[key] as! [Any]).map { ($0 as! NSNumber).intValue } }
    }

    /// A real model fetched by `make setup`; the tests that use it fail with a clear message when absent.
    static func realModel(_ relative: String) throws -> URL {
        let url = models.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) else {
            throw ModelError("the real model is not in Models/", location: url.path, hint: "run `make setup` (or `make test`) first")
        }
        return url
    }
}

/// Asserts that two tensors agree within a tolerance, and says by how much they missed.
func expectClose(_ actual: Tensor, _ expected: Tensor, within tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let worst = actual.maxAbsDifference(expected)
    #expect(worst <= tolerance, "\(what): largest difference \(worst) > \(tolerance)", sourceLocation: sourceLocation)
}
