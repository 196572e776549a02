import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// A visitor that keeps a copy of the values at the sites it is asked for, and can change them.
final class RecordingVisitor: SiteVisitor, @unchecked Sendable {
    let wanted: (Site) -> Bool
    let change: ((Site, SiteValues) -> Void)?
    private let lock = NSLock()
    private(set) var seen: [Site: [Float]] = [:]
    var resumeAt: [StackKind: (layer: Int, residual: Tensor)] = [:]

    init(wanted: @escaping (Site) -> Bool = { _ in true }, change: ((Site, SiteValues) -> Void)? = nil) {
        self.wanted = wanted
        self.change = change
    }

    func kinds(at stack: StackKind, layer: Int) -> Set<SiteKind> {
        Set(SiteKind.allCases.filter { wanted(Site(stack, layer, $0)) })
    }

    func visit(_ site: Site, _ values: SiteValues) {
        change?(site, values)
        lock.lock()
        defer { lock.unlock() }
        // Per-head kinds arrive one head at a time: keep them in head order.
        if let head = values.head {
            var block = seen[site] ?? []
            let size = values.count
            if block.count < (head + 1) * size { block += [Float](repeating: 0, count: (head + 1) * size - block.count) }
            block.replaceSubrange(head * size ..< (head + 1) * size, with: Array(values.buffer))
            seen[site] = block
        } else {
            seen[site] = Array(values.buffer)
        }
    }

    func resume(_ stack: StackKind, layers: Int) -> (layer: Int, residual: Tensor)? { resumeAt[stack] }
}

/// The intervention sites are one mechanism in the layer kit: every architecture reaches every
/// site of every layer of every stack, with values of the documented shapes.
@Suite struct SiteTests {
    static let models = ["gpt2", "roberta", "distilbert", "albert", "bart", "marian", "t5", "t5-gated"] + LlamaFamilyParityTests.names
    static let encoderDecoder: Set<String> = ["bart", "marian", "t5", "t5-gated"]

    static func input(_ name: String) -> ModelInput {
        ModelInput(ids: [2, 7, 9, 11, 3], decoderIds: encoderDecoder.contains(name) ? [1, 4, 6] : nil)
    }

    @Test(arguments: models)
    func everyArchitectureVisitsEverySite(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let visitor = RecordingVisitor()
        let output = try model.forward(Self.input(name), options: ForwardOptions(capture: [.hidden], sites: visitor))
        for (kind, stack) in output.stacks {
            for layer in 0 ..< stack.layerCount {
                for site in SiteKind.available(in: kind) {
                    #expect(visitor.seen[Site(kind, layer, site)] != nil, "\(name): \(kind.rawValue).\(layer).\(site.rawValue) was never visited")
                }
                // The pattern the visitor saw is the captured attention.
                let pattern = try #require(visitor.seen[Site(kind, layer, .pattern)])
                #expect(pattern == stack.attention[layer].scalars, "\(name): \(kind.rawValue) layer \(layer)")
            }
            // The residual stream entering layer l is hidden state l.
            if kind != .cross, stack.layerCount > 1, let hidden = stack.hidden {
                let residual = try #require(visitor.seen[Site(kind, 1, .residual)])
                #expect(residual == hidden[1].scalars, "\(name): \(kind.rawValue) residual of layer 1")
            }
        }
    }

    /// A visitor that changes nothing changes no bit of the output.
    @Test(arguments: ["gpt2", "t5", "qwen3", "phi3"])
    func visitingWithoutChangingIsExact(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let plain = try model.forward(Self.input(name), capture: [.qkv, .hidden])
        let visited = try model.forward(Self.input(name), options: ForwardOptions(capture: [.qkv, .hidden], sites: RecordingVisitor()))
        #expect(plain.lastHidden == visited.lastHidden)
        #expect(plain.stacks == visited.stacks)
    }

    /// The same on a real model whose attention is computed in several blocks of query rows per
    /// head (more than 64 tokens): the per-head visits see, and leave, the same bits as the fast path.
    @Test func visitingScoresAndPatternsOfALongInputIsExact() throws {
        let model = try ModelRegistry.load(folder: try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2"))
        let input = ModelInput(ids: [101] + (0 ..< 148).map { 1000 + ($0 * 7919) % 28000 } + [102])
        for threads in [1, 2] {
            let plain = try model.forward(input, options: ForwardOptions(capture: [.qkv], threads: threads))
            let visitor = RecordingVisitor(wanted: { $0.kind == .scores || $0.kind == .pattern })
            let visited = try model.forward(input, options: ForwardOptions(capture: [.qkv], sites: visitor, threads: threads))
            #expect(plain.lastHidden == visited.lastHidden)
            #expect(plain.stacks == visited.stacks)
            #expect(visitor.seen[Site(.encoder, 5, .pattern)] == plain.stacks[.encoder]!.attention[5].scalars)
        }
    }

    /// Zeroing a head's pattern zeroes its captured attention and its output, and moves the result.
    @Test func changingThePatternChangesTheCaptureAndTheOutput() throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url("roberta"))
        let input = Self.input("roberta")
        let plain = try model.forward(input, capture: [])
        let visitor = RecordingVisitor(wanted: { $0 == Site(.encoder, 1, .pattern) || $0 == Site(.encoder, 1, .head) }) { site, values in
            if site.kind == .pattern, values.head == 2 { values.buffer.update(repeating: 0) }
        }
        let ablated = try model.forward(input, options: ForwardOptions(sites: visitor))
        let attention = try #require(ablated.stacks[.encoder]).attention
        #expect(attention[1][2].scalars.allSatisfy { $0 == 0 })
        #expect(attention[1][1] == plain.stacks[.encoder]!.attention[1][1])
        let heads = try #require(visitor.seen[Site(.encoder, 1, .head)])
        let width = 32 / 4
        for row in 0 ..< 5 { #expect(heads[row * 32 + 2 * width ..< row * 32 + 3 * width].allSatisfy { $0 == 0 }) }
        #expect(ablated.lastHidden != plain.lastHidden)
    }

    /// A pass resumed at layer l from the residual stream a full pass saw there ends exactly where
    /// the full pass ended: what a scan relies on to skip the layers before the one it patches.
    @Test(arguments: ["gpt2", "albert", "bart", "t5", "llama", "gemma"])
    func resumingFromAKeptResidualGivesTheSameOutput(name: String) throws {
        let model = try ModelRegistry.load(folder: ArchitectureFixtures.url(name))
        let input = Self.input(name)
        let recorder = RecordingVisitor(wanted: { $0.kind == .residual })
        let full = try model.forward(input, options: ForwardOptions(sites: recorder))
        let stack: StackKind = Self.encoderDecoder.contains(name) ? .decoder : .encoder
        let residual = try #require(recorder.seen[Site(stack, 1, .residual)])
        let resumed = RecordingVisitor(wanted: { _ in false })
        let rows = stack == .decoder ? 3 : 5
        resumed.resumeAt[stack] = (1, Tensor(shape: [rows, residual.count / rows], scalars: residual))
        let output = try model.forward(input, options: ForwardOptions(sites: resumed))
        #expect(output.lastHidden == full.lastHidden)
        // The skipped layer's attention is zeros, not stale memory.
        #expect(output.stacks[stack]!.attention[0].scalars.allSatisfy { $0 == 0 })
    }

    @Test func siteNamesRoundTrip() {
        for text in ["encoder.5.head", "decoder.0.resid", "cross.2.pattern", "encoder.11.attn", "decoder.3.mlp", "encoder.0.scores"] {
            #expect(Site(parsing: text)?.description == text)
        }
        for bad in ["encoder.x.head", "encoder.5", "middle.1.head", "encoder.-1.head", "encoder.1.hook_z", ""] {
            #expect(Site(parsing: bad) == nil)
        }
        #expect(SiteKind.available(in: .cross) == [.scores, .pattern, .head, .attention])
    }
}
