import AttnCore
import AttnDiff
import Foundation

/// The compare view: a base and a variant (a perturbed input, another revision) side by side.
/// For one layer and head, three word × word matrices: the base (A), the variant (B), both on one
/// colour scale, and their difference B − A; words a perturbation changed are marked (`sick→terrific`)
/// and words only one side has are listed. Below, each side's attention lines as the head view
/// draws them, hover tied across both. A ranking of the heads that changed most (Jensen–Shannon
/// divergence, as `attnlab diff` ranks them) jumps to any of them. A is always the base or the
/// older revision. Compares the encoder's self-attention, aligned through words as
/// `WordAlignment` aligns them. The page logic lives in `Resources/compare.js`, its self-test in
/// `Resources/compare.selftest.js`.
enum CompareView: ViewDefinition {
    static let scripts = ["core.js", "diagram.js", "compare.js", "compare.selftest.js"]
    static let needsQKV = false

    /// What the page needs beyond the base's payload: the variant's attention and tokens, the
    /// word alignment and the head ranking.
    struct Payload: Encodable {
        /// The two sides' names (`eminem/sick`, `eminem/terrific`).
        var names: [String]
        /// The variant's encoder attention; its tokens are `tokens.variant`.
        var stack: ViewPayload.PayloadStack
        var inputs: TraceInputs
        var outputs: ViewPayload.OutputSummary?
        /// The words both sides have, in reading order: the rows and columns of the matrices.
        var words: [Word]
        /// Words only the base has (deleted), and only the variant has (inserted).
        var onlyA: [String]
        var onlyB: [String]
        /// Every head, most changed first: `[layer, head, JS divergence]`.
        var ranking: [[Double]]
    }

    struct Word: Encodable {
        /// The word in the base, and in the variant when it was changed (`terrific` for `sick`).
        var text: String
        var changedTo: String?
        var segment: Int
        var special: Bool
        /// Token indices of the word in the base and in the variant.
        var a: [Int]
        var b: [Int]
    }

    /// Checks the pair and builds the page's payload: the base's as the head view has it (encoder
    /// only), with the variant beside it.
    static func payload(base: Trace, variant: Trace, options: ViewOptions, names: (String, String)) throws -> ViewPayload {
        guard let stackA = base.stacks[.encoder], let stackB = variant.stacks[.encoder] else {
            throw CoreError("the compare view compares the encoder's attention, and \(base.stacks[.encoder] == nil ? names.0 : names.1) has none",
                            hint: "compare two traces of an encoder or decoder-only model, or two encoder-decoder traces by their encoder")
        }
        guard stackA.layerCount == stackB.layerCount, stackA.headCount == stackB.headCount else {
            throw CoreError("the traces have \(stackA.layerCount) × \(stackA.headCount) and \(stackB.layerCount) × \(stackB.headCount) heads",
                            hint: "compare two traces of the same model (a base and its variant, or two revisions)")
        }
        if let stack = options.stack, stack != .encoder {
            throw CoreError("the compare view shows the encoder's attention, not the \(stack.rawValue) stack", hint: "leave out --stack")
        }
        var onlyEncoder = base
        onlyEncoder.stacks = [.encoder: stackA]
        onlyEncoder.decoderTokens = nil
        let diff = try TraceDiff.compare(base, variant)
        var chosen = options
        if chosen.layer == nil, chosen.selectedHeads == nil, let top = diff.heads.first {
            chosen.layer = top.layer
            chosen.selectedHeads = [top.head]
        }
        chosen.title = options.title ?? "\(names.0) → \(names.1)"
        var payload = try ViewPayload.build(onlyEncoder, view: .compare, options: chosen, includeQKV: false)
        payload.initial.heads = Array(payload.initial.heads.prefix(1))

        // The variant's attention, the same layers and heads, in its own chunks after the base's.
        let first = payload.stacks[0]
        var blob = BlobBuilder()
        let section = blob.addAttention(stackB.attention, layers: first.layers, heads: first.heads)
        let chunks = ZlibHuffmanEncoder.compressEach(blob.blocks)
        let rawBase = payload.data.length
        var rawOffset = rawBase, compressedOffset = payload.blob.count
        for (block, chunk) in zip(blob.blocks, chunks) {
            payload.data.chunks.append([rawOffset, block.count, compressedOffset, chunk.count])
            rawOffset += block.count
            compressedOffset += chunk.count
            payload.blob += chunk
        }
        payload.data.length = rawOffset
        payload.data.compressedLength = payload.blob.count
        var stack = first
        stack.queryTokens = "variant"
        stack.keyTokens = "variant"
        stack.queries = stackB.attention.shape[2]
        stack.keys = stackB.attention.shape[3]
        stack.attention = .init(offset: rawBase + section.offset, count: section.count, type: section.type)
        payload.tokens["variant"] = variant.tokens.map(ViewPayload.payloadToken)

        let alignment = diff.alignment
        let words = alignment.commonPairs.map { pair -> Word in
            let a = alignment.wordsA[pair.a!], b = alignment.wordsB[pair.b!]
            return Word(text: a.text, changedTo: pair.status == .changed ? b.text : nil, segment: a.segment, special: a.special,
                        a: a.tokens, b: b.tokens)
        }
        let onlyA = alignment.pairs.filter { $0.b == nil }.map { alignment.wordsA[$0.a!].text }
        let onlyB = alignment.pairs.filter { $0.a == nil }.map { alignment.wordsB[$0.b!].text }
        var outputs: ViewPayload.OutputSummary?
        if variant.outputs.similarity != nil || variant.outputs.label != nil {
            outputs = .init(similarity: variant.outputs.similarity, label: variant.outputs.label, probability: variant.outputs.probabilities?.max())
        }
        payload.comparison = Payload(names: [names.0, names.1], stack: stack, inputs: variant.inputs, outputs: outputs, words: words,
                                     onlyA: onlyA, onlyB: onlyB,
                                     ranking: diff.heads.map { [Double($0.layer), Double($0.head), $0.jsDivergence] })
        return payload
    }
}
