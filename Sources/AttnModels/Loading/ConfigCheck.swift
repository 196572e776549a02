import AttnCore
import Foundation

/// An architecture's configuration (its config.json), checked before anything is allocated: a head
/// count of 0, a negative size or a layer count of a billion is refused here with every problem
/// named, never met as a division by zero or an allocation of the impossible.
protocol ArchitectureConfig: Decodable {
    /// Adds a problem for every value the architecture cannot run with.
    func check(_ check: inout ConfigCheck)
}

/// The problems found in one config.json.
struct ConfigCheck {
    let path: String
    private(set) var problems: [String] = []

    /// Largest values AttnLab accepts: far above any released model, far below what overflows.
    static let maxWidth = 1 << 17, maxLayers = 1 << 11, maxHeads = 1 << 12, maxVocabulary = 1 << 23, maxPositions = 1 << 22

    init(path: String) { self.path = path }

    /// A width (`hidden_size`, `intermediate_size`, `head_dim`): 1 ... `maxWidth`.
    mutating func width(_ key: String, _ value: Int?) {
        within(key, value, 1 ... Self.maxWidth)
    }

    /// A count of layers: 0 ... `maxLayers` (`minimum` 1 for the main stack).
    mutating func layers(_ key: String, _ value: Int?, minimum: Int = 1) {
        within(key, value, minimum ... Self.maxLayers)
    }

    /// A count of heads: 1 ... `maxHeads`.
    mutating func heads(_ key: String, _ value: Int?) {
        within(key, value, 1 ... Self.maxHeads)
    }

    mutating func vocabulary(_ key: String, _ value: Int?) {
        within(key, value, 1 ... Self.maxVocabulary)
    }

    mutating func positions(_ key: String, _ value: Int?) {
        within(key, value, 1 ... Self.maxPositions)
    }

    /// `value` (when given) must lie in `range`.
    mutating func within(_ key: String, _ value: Int?, _ range: ClosedRange<Int>) {
        guard let value, !range.contains(value) else { return }
        problems.append("\(key) is \(value), expected \(range.lowerBound) to \(range.upperBound)")
    }

    /// `value` must be a multiple of `divisor` (both valid; skipped when either is not).
    mutating func multiple(_ key: String, _ value: Int, of divisorKey: String, _ divisor: Int) {
        guard value > 0, divisor > 0, value % divisor != 0 else { return }
        problems.append("\(key) \(value) is not a multiple of \(divisorKey) \(divisor)")
    }

    /// A positive finite number (`layer_norm_eps`, `rope_theta`), when given.
    mutating func positive(_ key: String, _ value: Double?) {
        guard let value, !(value > 0 && value.isFinite) else { return }
        problems.append("\(key) is \(value), expected a positive number")
    }

    /// Any other rule, with its own message.
    mutating func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { problems.append(message()) }
    }

    func finish(modelType: String) throws {
        guard !problems.isEmpty else { return }
        throw ModelError("config.json cannot describe a \(modelType) model: " + problems.joined(separator: "; "), location: path,
                         hint: "fix these values; they must match the weights")
    }
}
