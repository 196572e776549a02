import Foundation

/// One reader under fuzzing: the inputs it starts from, and how one input is read. Reading may
/// throw (most mutated inputs are errors, which is what a reader should say); it must never
/// crash, hang, or take unbounded time or memory.
public struct FuzzTarget: Sendable {
    /// The family's name (`safetensors`, `tokenizer.json`, …), also its folder of regression files.
    public let name: String
    /// Valid or nearly valid inputs the mutations start from.
    public let seeds: @Sendable () -> [Data]
    /// Words that mean something to the reader (`"type": "Sequence"`, `!!binary`), spliced in by
    /// some mutations.
    public let dictionary: [String]
    /// Reads one input, and what the reader gives is used the way the commands use it.
    public let read: @Sendable (Data, FuzzScratch) throws -> Void

    public init(name: String, seeds: @escaping @Sendable () -> [Data], dictionary: [String] = [],
                read: @escaping @Sendable (Data, FuzzScratch) throws -> Void) {
        self.name = name
        self.seeds = seeds
        self.dictionary = dictionary
        self.read = read
    }
}

/// A folder a target writes its input into when the reader reads files (safetensors maps them).
public struct FuzzScratch: Sendable {
    public let folder: URL

    public init(folder: URL) throws {
        self.folder = folder
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    /// Writes `data` to `name` in the folder and returns its URL.
    @discardableResult
    public func write(_ data: Data, _ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    /// A fresh empty sub-folder.
    public func emptyFolder(_ name: String) throws -> URL {
        let url = folder.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Seeded mutations of byte strings, as a fuzzer makes them: bit flips, interesting values,
/// deletions, insertions, duplicated and repeated ranges (deep nesting), truncation, splices of
/// other seeds, numbers in text replaced by extreme ones, and words of the target's dictionary.
/// The same seed gives the same mutations, so a campaign can be replayed.
public struct Mutator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(next() % UInt64(bound)) }

    static let interestingBytes: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x0A, 0x22, 0x7B, 0x5B, 0x5C, 0x2E, 0x28, 0x2D, 0x1B]
    static let interestingIntegers: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                                1 << 32, 1 << 40, 1 << 62, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max]
    static let interestingNumbers = ["-1", "0", "1", "-0", "65536", "4294967296", "9223372036854775807", "-9223372036854775808",
                                     "99999999999999999999999", "1e308", "-1e308", "1e-320", "NaN", "Infinity", "0.5", "3.0"]

    /// The largest input a mutation makes.
    public static let maximumSize = 4 << 20

    /// `input` changed by one to four stacked mutations.
    public mutating func mutate(_ input: Data, splice others: [Data], dictionary: [String]) -> Data {
        var bytes = [UInt8](input)
        for _ in 0 ... below(4) { mutateOnce(&bytes, splice: others, dictionary: dictionary) }
        if bytes.count > Self.maximumSize { bytes.removeLast(bytes.count - Self.maximumSize) }
        return Data(bytes)
    }

    private mutating func range(in bytes: [UInt8], maximum: Int = 64) -> Range<Int> {
        guard !bytes.isEmpty else { return 0 ..< 0 }
        let start = below(bytes.count)
        return start ..< min(bytes.count, start + 1 + below(maximum))
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8], splice others: [Data], dictionary: [String]) {
        switch below(14) {
        case 0 where !bytes.isEmpty:                                   // flip a bit
            bytes[below(bytes.count)] ^= UInt8(1 << below(8))
        case 1 where !bytes.isEmpty:                                   // an interesting byte
            bytes[below(bytes.count)] = Self.interestingBytes[below(Self.interestingBytes.count)]
        case 2 where bytes.count >= 8:                                 // an interesting integer, 2, 4 or 8 bytes
            let width = [2, 4, 8][below(3)]
            let at = below(bytes.count - width + 1)
            var value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
            if below(2) == 0 { value = ~value &+ 1 }
            for i in 0 ..< width { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        case 3:                                                        // delete a range
            bytes.removeSubrange(range(in: bytes, maximum: 256))
        case 4:                                                        // insert random bytes
            let count = 1 + below(16)
            bytes.insert(contentsOf: (0 ..< count).map { _ in UInt8(truncatingIfNeeded: next()) }, at: below(bytes.count + 1))
        case 5:                                                        // duplicate a range elsewhere
            let piece = Array(bytes[range(in: bytes, maximum: 512)])
            bytes.insert(contentsOf: piece, at: below(bytes.count + 1))
        case 6:                                                        // repeat a short range many times (nesting)
            let piece = Array(bytes[range(in: bytes, maximum: 8)])
            let times = [10, 100, 1000, 20000][below(4)]
            guard piece.count * times < Self.maximumSize else { break }
            var repeated: [UInt8] = []
            repeated.reserveCapacity(piece.count * times)
            for _ in 0 ..< times { repeated += piece }
            bytes.insert(contentsOf: repeated, at: below(bytes.count + 1))
        case 7 where !bytes.isEmpty:                                   // truncate
            bytes.removeLast(1 + below(min(bytes.count, 1 + below(4) * 512)))
        case 8:                                                        // append junk or a copy of the start
            bytes += below(2) == 0 ? (0 ..< 1 + below(64)).map { _ in UInt8(truncatingIfNeeded: next()) } : Array(bytes.prefix(1 + below(4096)))
        case 9 where !others.isEmpty:                                  // splice in a piece of another seed
            let other = [UInt8](others[below(others.count)])
            let piece = Array(other[range(in: other, maximum: 1024)])
            if below(2) == 0 || bytes.isEmpty {
                bytes.insert(contentsOf: piece, at: below(bytes.count + 1))
            } else {
                let target = range(in: bytes, maximum: piece.count)
                bytes.replaceSubrange(target, with: piece)
            }
        case 10:                                                       // a number in text made extreme
            let digits = bytes.indices.filter { (0x30 ... 0x39).contains(bytes[$0]) }
            guard !digits.isEmpty else { break }
            var start = digits[below(digits.count)], end = start + 1
            while start > 0, (0x30 ... 0x39).contains(bytes[start - 1]) || bytes[start - 1] == 0x2E { start -= 1 }
            while end < bytes.count, (0x30 ... 0x39).contains(bytes[end]) || bytes[end] == 0x2E { end += 1 }
            bytes.replaceSubrange(start ..< end, with: Array(Self.interestingNumbers[below(Self.interestingNumbers.count)].utf8))
        case 11 where !dictionary.isEmpty:                             // a dictionary word
            let word = Array(dictionary[below(dictionary.count)].utf8)
            if below(2) == 0 || bytes.count < word.count {
                bytes.insert(contentsOf: word, at: below(bytes.count + 1))
            } else {
                bytes.replaceSubrange(range(in: bytes, maximum: word.count), with: word)
            }
        case 12 where !bytes.isEmpty:                                  // swap two ranges
            let a = range(in: bytes, maximum: 32), b = range(in: bytes, maximum: 32)
            guard a.upperBound <= b.lowerBound else { break }
            let (first, second) = (Array(bytes[a]), Array(bytes[b]))
            bytes.replaceSubrange(b, with: first)
            bytes.replaceSubrange(a, with: second)
        default:                                                       // a random byte
            if !bytes.isEmpty { bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: next()) }
        }
    }
}
