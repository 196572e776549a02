import AttnCore
import Foundation

/// An experiment's inputs, in the order the file lists them: inputs written in the file, CSV or
/// JSONL files read row by row, and templates filled from lexicons, optionally sampled. They are
/// never all in memory: `forEach` streams them, and a run reads them as it plans each input's
/// variants. The files are read once when the experiment is loaded (`validate`), to check every
/// row, count them and hash them.
public struct InputSet: Sendable, Sequence {
    /// A CSV or JSONL file of inputs.
    public struct File: Sendable, Equatable {
        public var url: URL
        /// As written in the experiment file (for messages and the manifest).
        public var path: String
        var format: DataFormat
        /// Every row with a problem that `--skip-bad-rows` skips, by row number.
        var skipped: Set<Int> = []
        /// SHA-256 of the file's bytes, once validated.
        public internal(set) var hash = ""
        /// Where the experiment file names it (its `file:` entry).
        var position: FilePosition? = nil
    }

    public enum Source: Sendable, Equatable {
        case inline(InputSpec)
        case file(File)
        case template(InputTemplate)
    }

    /// A row that cannot be an input.
    public struct BadRow: Error, Sendable, Equatable, Codable {
        /// The file, as written in the experiment file.
        public var file: String
        public var row: Int
        public var line: Int
        public var problem: String

        public var description: String { "\(file) row \(row) (line \(line)): \(problem)" }
    }

    /// `sample:`: a seeded share of the inputs.
    public struct Sample: Sendable, Equatable, Codable {
        public enum Size: Sendable, Equatable, Codable {
            case count(Int)
            case fraction(Double)
        }

        public var size: Size
        public var seed: UInt64

        /// The number of inputs kept of `available`.
        public func count(of available: Int) -> Int {
            switch size {
            case .count(let count): return Swift.min(count, available)
            case .fraction(let fraction): return Swift.min(available, Int((Double(available) * fraction).rounded()))
            }
        }
    }

    public var sources: [Source]
    public var sample: Sample?
    /// Every input needs sentence B (a model of the experiment computes a pair's similarity).
    public var needsPair = false
    /// Inputs there are (bad rows skipped), before sampling; set by `validate`.
    public internal(set) var available = 0
    /// The rows skipped with `--skip-bad-rows`.
    public internal(set) var skippedRows: [BadRow] = []

    public init(_ inputs: [InputSpec] = []) {
        sources = inputs.map(Source.inline)
        available = inputs.count
    }

    /// The inputs that run.
    public var count: Int { sample?.count(of: available) ?? available }

    /// The files it reads.
    public var files: [File] {
        sources.compactMap { if case .file(let file) = $0 { file } else { nil } }
    }

    /// True when every input is written in the experiment file.
    public var isInline: Bool {
        sources.allSatisfy { if case .inline = $0 { true } else { false } } && sample == nil
    }

    // MARK: streaming

    /// Calls `body` with every input that runs, in order: `index` counts them from 0. An error
    /// reading a file, or a file that changed since it was validated, stops it.
    public func forEach(_ body: (_ index: Int, _ input: InputSpec) throws -> Void) throws {
        var selector = SampleSelector(sample: sample, available: available)
        var index = 0
        try forEachAvailable { input in
            guard selector.take() else { return }
            try body(index, input)
            index += 1
        }
    }

    /// Every input, bad rows skipped, before sampling.
    func forEachAvailable(_ body: (InputSpec) throws -> Void) throws {
        for source in sources {
            switch source {
            case .inline(let input):
                try body(input)
            case .template(let template):
                try template.forEach { try body($0) }
            case .file(let file):
                let reader = try DataRowReader(url: file.url, format: file.format)
                while let row = try reader.next() {
                    switch input(from: row, file: file) {
                    case .success(let input):
                        // A row skipped for its id, used by an earlier input, reads as an input.
                        if file.skipped.contains(row.number) { continue }
                        try body(input)
                    case .failure(let bad):
                        if file.skipped.contains(row.number) { continue }
                        throw ExperimentError(bad.description, location: file.url.path,
                                              hint: "the file changed since the experiment was loaded")
                    }
                }
                guard reader.finalHash() == file.hash else {
                    throw ExperimentError("the inputs file changed during the run", location: file.url.path,
                                          hint: "run the experiment again on a file that stays put")
                }
            }
        }
    }

    /// The input a row makes, or what is wrong with it.
    func input(from row: DataRow, file: File) -> Result<InputSpec, BadRow> {
        func bad(_ problem: String) -> Result<InputSpec, BadRow> {
            .failure(BadRow(file: file.path, row: row.number, line: row.line, problem: problem))
        }
        if let problem = row.problem { return bad(problem) }
        guard let a = row.fields["a"] ?? row.fields["text"], !a.isEmpty else { return bad("it has no \"a\" (or \"text\")") }
        let b = row.fields["b"].flatMap { $0.isEmpty ? nil : $0 }
        if needsPair, b == nil { return bad("it has no \"b\", and the similarity of a pair needs both sentences") }
        let stem = file.url.deletingPathExtension().lastPathComponent
        let id = row.fields["id"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(stem)-\(row.number)"
        if let problem = PathComponent.problem(with: id) {
            return bad("the id \(JSONText.quote(id)) cannot name a file or folder: \(problem)")
        }
        return .success(InputSpec(id: id, a: a, b: b, decoder: row.fields["decoder"].flatMap { $0.isEmpty ? nil : $0 }, baseName: "base",
                                  position: file.position, origin: "\(file.path) row \(row.number), line \(row.line)"))
    }

    // MARK: validation

    /// Reads every file once: checks each row, skips the bad ones when `skipBadRows` (else throws
    /// for the first, saying how many more there are), refuses an id used twice, hashes the files
    /// and counts the inputs. `wanted` are ids whose presence the caller needs to know (the targets
    /// of scans); the ones found are returned.
    mutating func validate(skipBadRows: Bool, wanted: Set<String> = []) throws -> Set<String> {
        var seen: Set<String> = []
        var found: Set<String> = []
        var total = 0
        var skipped: [BadRow] = []
        func add(_ id: String) -> Bool {
            guard seen.insert(id).inserted else { return false }
            if wanted.contains(id) { found.insert(id) }
            total += 1
            return true
        }
        for (position, source) in sources.enumerated() {
            switch source {
            case .inline(let input):
                _ = add(input.id)  // the parser reports inline duplicates with their line
            case .template(let template):
                var duplicate: String?
                template.forEach { input in if !add(input.id), duplicate == nil { duplicate = input.id } }
                if let duplicate {
                    throw ExperimentError("template \(template.id) makes the input \(JSONText.quote(duplicate)), and another input has that id",
                                          hint: "give the template another name")
                }
            case .file(var file):
                let reader = try DataRowReader(url: file.url, format: file.format)
                var bad: [BadRow] = []
                while let row = try reader.next() {
                    switch input(from: row, file: file) {
                    case .success(let input):
                        if !add(input.id) {
                            bad.append(BadRow(file: file.path, row: row.number, line: row.line,
                                              problem: "the id \(JSONText.quote(input.id)) is used by an earlier input"))
                        }
                    case .failure(let problem):
                        bad.append(problem)
                    }
                }
                file.hash = reader.finalHash()
                if let first = bad.first, !skipBadRows {
                    let more = bad.count - 1
                    throw ExperimentError(first.description + (more > 0 ? " (and \(more) more bad row\(more == 1 ? "" : "s"))" : ""),
                                          location: file.url.path,
                                          hint: "fix the row, or run with --skip-bad-rows to leave bad rows out")
                }
                file.skipped = Set(bad.map(\.row))
                skipped += bad
                sources[position] = .file(file)
            }
        }
        available = total
        skippedRows = skipped
        return found
    }

    /// The first `count` inputs that run.
    public func prefix(_ count: Int) -> [InputSpec] {
        struct Enough: Error {}
        var found: [InputSpec] = []
        guard count > 0 else { return [] }
        do {
            try forEach { _, input in
                found.append(input)
                if found.count >= count { throw Enough() }
            }
        } catch {}
        return found
    }

    /// The first input that runs.
    public var first: InputSpec? { prefix(1).first }

    // MARK: Sequence

    /// The inputs, for small experiments and tests; a file that cannot be read ends the sequence
    /// early (a run uses the throwing `forEach`).
    public func makeIterator() -> IndexingIterator<[InputSpec]> {
        var all: [InputSpec] = []
        try? forEach { all.append($1) }
        return all.makeIterator()
    }
}

/// Chooses `sample.count(of: available)` of `available` inputs in one pass, each set of that size
/// equally likely (selection sampling, Knuth's algorithm S), from a seeded generator: the same
/// inputs on every machine and in every shard.
struct SampleSelector {
    private var generator: SeededGenerator
    private var remaining: Int
    private var wanted: Int
    private let all: Bool

    init(sample: InputSet.Sample?, available: Int) {
        generator = SeededGenerator(seed: sample?.seed ?? 0)
        remaining = available
        wanted = sample?.count(of: available) ?? available
        all = sample == nil
    }

    /// Whether the next input is taken.
    mutating func take() -> Bool {
        if all { return true }
        defer { remaining -= 1 }
        guard wanted > 0, remaining > 0 else { return false }
        // Take it with probability wanted / remaining.
        let draw = generator.next() % UInt64(remaining)
        if draw < UInt64(wanted) {
            wanted -= 1
            return true
        }
        return false
    }
}

/// SplitMix64: small, fast and the same everywhere.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
