import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The architecture fixtures written by Tools/reference/make_architecture_fixtures.py.
enum ArchitectureFixtures {
    static func url(_ name: String) -> URL { Fixtures.url("architectures/\(name)") }

    static func expected(_ name: String) throws -> Fixtures.Expected {
        try Fixtures.Expected("architectures/\(name).expected.safetensors")
    }

    /// The model input a fixture was computed on.
    static func input(_ expected: Fixtures.Expected) -> ModelInput {
        ModelInput(ids: expected.ints("ids"),
                   attentionMask: expected.inputs["attention_mask"] == nil ? nil : expected.ints("attention_mask").map { $0 == 1 },
                   decoderIds: expected.inputs["decoder_ids"] == nil ? nil : expected.ints("decoder_ids"))
    }

    /// Compares every tensor of the expectation file that the output has: `attention`, `hidden`,
    /// `query`/`key`/`value` (of the encoder stack, for single-stack models) or `encoder.*`,
    /// `decoder.*`, `cross.*`; attention within 1e-5, the rest within 1e-4. Returns how many
    /// tensors were compared.
    @discardableResult
    static func compareStacks(_ output: ModelOutput, _ expected: Fixtures.Expected, _ what: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var compared = 0
        for name in expected.file.names where name != "logits" {
            let parts = name.split(separator: ".").map(String.init)
            let (kind, field) = parts.count == 2 ? (StackKind(rawValue: parts[0]), parts[1]) : (StackKind.encoder, parts[0])
            let stackKind = try #require(kind, "\(what): \(name) names no stack", sourceLocation: sourceLocation)
            let stack = try #require(output.stacks[stackKind], "\(what): no \(parts[0]) stack", sourceLocation: sourceLocation)
            let actual: Tensor? = switch field {
            case "attention": stack.attention
            case "hidden": stack.hidden
            case "query": stack.query
            case "key": stack.key
            case "value": stack.value
            default: nil
            }
            let tensor = try #require(actual, "\(what): \(name) was not captured", sourceLocation: sourceLocation)
            expectClose(tensor, try expected.tensor(name), within: field == "attention" ? 1e-5 : 1e-4, "\(what) \(name)",
                        sourceLocation: sourceLocation)
            compared += 1
        }
        return compared
    }
}
