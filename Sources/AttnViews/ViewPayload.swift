import AttnCore
import Foundation

/// The one payload every view reads: tokens, stacks, what is included and selected, and the
/// numbers, packed into one compressed binary blob.
///
/// In the page it is the JSON inside `<script type="application/json" id="attnlab-payload">`:
/// `{"blob": BASE64, "fields": this structure}`. The blob is a series of independent zlib streams
/// (`data.chunks`: raw offset, raw length, offset in the blob, compressed length), one per layer
/// of each section, so that a page decodes only the layers it shows. Decompressed, the chunks
/// form the sections the stacks point to:
/// - `u8-sqrt`: attention, one byte per value `b = round(255·√a)`, read back as `(b/255)²`, so that
///   small weights keep their relative precision (1/512 is stored as 11, not rounded to 0);
///   laid out `[included layers, included heads, queries, keys]`.
/// - `f16-planes`: queries, keys or values as IEEE half floats; per included layer, the low bytes
///   of `[heads, n, headDim]`, then their high bytes (the high bytes compress well on their own).
struct ViewPayload: Encodable {
    var format = 1
    var view: ViewKind
    var title: String
    var model: String
    var architecture: String
    var inputs: TraceInputs
    var outputs: OutputSummary?
    /// Tokens by axis name: `input` (the trace's tokens) and `decoder`.
    var tokens: [String: [PayloadToken]]
    var stacks: [PayloadStack]
    var initial: InitialSelection
    var data: DataInfo
    /// The compare view's second side (nil for the other views).
    var comparison: CompareView.Payload?
    /// The compressed blob; written into the page beside the JSON fields, not through `Encodable`.
    var blob: [UInt8] = []

    enum CodingKeys: String, CodingKey {
        case format, view, title, model, architecture, inputs, outputs, tokens, stacks, initial, data, comparison
    }

    struct PayloadToken: Encodable {
        /// Raw token (`##nem`), shown on hover.
        var text: String
        /// Prettified token (`nem`), shown.
        var display: String
        var segment: Int
        var special: Bool
    }

    struct OutputSummary: Encodable {
        var similarity: Double?
        var label: String?
        var probability: Double?
    }

    struct Section: Encodable {
        var offset: Int
        var count: Int
        var type: String
    }

    struct PayloadStack: Encodable {
        var kind: StackKind
        /// Which token list lies along each axis (`input` or `decoder`).
        var queryTokens: String
        var keyTokens: String
        /// The model's numbers of the included layers and heads, in order.
        var layers: [Int]
        var heads: [Int]
        /// How many heads and layers the model has (the included ones may be fewer).
        var modelLayers: Int
        var modelHeads: Int
        var queries: Int
        var keys: Int
        var attention: Section
        var query: Section?
        var key: Section?
        var value: Section?
        var headDim: Int?
        /// The size of each value vector (usually `headDim`).
        var valueDim: Int?
        /// The factor q·k is multiplied by before the softmax, per included layer (1/√d for most
        /// models; 1 for T5, which folds it into its weights; GPT-2 may divide it by the layer).
        var scoreScales: [Double]?
        /// The key/value heads the included heads read, in order, and how many query heads share
        /// one (grouped-query attention; 1 otherwise): query head h reads key/value head h / group.
        var keyValueHeads: [Int]?
        var keyValueGroup: Int?
        /// A bias the trace does not hold was added to the scores (T5's relative positions).
        var positionBias: Bool?
        /// Each query sees only itself and the keys before it.
        var causal: Bool?
    }

    struct InitialSelection: Encodable {
        var stack: StackKind
        var layer: Int
        var heads: [Int]
        var token: Int?
        /// `all`, `aa`, `bb`, `ab` or `ba`.
        var filter: String
        var threshold: Double
        var topK: Int
        /// The model view leaves the first key out of its thumbnails (the attention sink of causal models).
        var hideFirstKey: Bool
    }

    struct DataInfo: Encodable {
        /// `zlib-chunks`: the blob is a series of zlib streams.
        var encoding: String
        /// Bytes once decompressed.
        var length: Int
        /// Bytes compressed (before base64).
        var compressedLength: Int
        /// Per chunk: offset and length once decompressed, offset and length in the blob.
        var chunks: [[Int]]
    }

    /// Architectures whose attention does not divide q·k by √d, for traces that do not state their scales.
    static let unscaledArchitectures: Set<String> = ["t5", "mt5", "umt5", "longt5"]

    /// Checks `options` against `trace` and packs what the view needs.
    static func build(_ trace: Trace, view: ViewKind, options: ViewOptions, includeQKV: Bool) throws -> ViewPayload {
        var available = trace.stacks.keys.sorted()
        if includeQKV {
            available = available.filter { kind in
                let stack = trace.stacks[kind]!
                return stack.query != nil && stack.key != nil && stack.value != nil
            }
            guard !available.isEmpty else {
                throw CoreError("the neuron view needs the queries, keys and values of the attention heads, and this trace has only attention",
                                hint: "trace again with `--capture attention,qkv`")
            }
        }
        let stackNames = available.map(\.rawValue).joined(separator: ", ")
        let firstStack: StackKind
        if let wanted = options.stack {
            guard trace.stacks[wanted] != nil else {
                throw CoreError("the trace has no \(wanted.rawValue) stack (it has \(trace.stacks.keys.sorted().map(\.rawValue).joined(separator: ", ")))",
                                hint: "choose --stack \(stackNames)")
            }
            guard available.contains(wanted) else {
                throw CoreError("the neuron view needs the queries, keys and values of the \(wanted.rawValue) stack, and this trace has only its attention",
                                hint: "trace again with `--capture attention,qkv`, or choose --stack \(stackNames)")
            }
            firstStack = wanted
        } else {
            firstStack = available.contains(.encoder) ? .encoder : available[0]
        }

        let modelLayers = available.map { trace.stacks[$0]!.layerCount }.max() ?? 0
        let modelHeads = available.map { trace.stacks[$0]!.headCount }.max() ?? 0
        let includedLayers = try checkedList(options.includeLayers, count: modelLayers, what: "layer", option: "--layers")
        let includedHeads = try checkedList(options.includeHeads, count: modelHeads, what: "head", option: "--heads")

        var blob = BlobBuilder()
        var stacks: [PayloadStack] = []
        for kind in available {
            let stack = trace.stacks[kind]!
            let layers = includedLayers.filter { $0 < stack.layerCount }
            let heads = includedHeads.filter { $0 < stack.headCount }
            guard !layers.isEmpty, !heads.isEmpty else { continue }
            let queries = stack.attention.shape[2], keys = stack.attention.shape[3]
            var packed = PayloadStack(
                kind: kind, queryTokens: kind == .encoder ? "input" : "decoder", keyTokens: kind == .decoder ? "decoder" : "input",
                layers: layers, heads: heads, modelLayers: stack.layerCount, modelHeads: stack.headCount,
                queries: queries, keys: keys,
                attention: blob.addAttention(stack.attention, layers: layers, heads: heads))
            packed.causal = stack.geometry?.causal
            if includeQKV, let query = stack.query, let key = stack.key, let value = stack.value {
                let headDim = query.shape[3]
                guard key.shape[3] == headDim else {
                    throw CoreError("\(kind.rawValue).query has head size \(headDim) but \(kind.rawValue).key has \(key.shape[3])",
                                    hint: "queries and keys must have the same head size")
                }
                // Keys and values are kept per key/value head; the page maps each query head to its own.
                let group = max(1, stack.headCount / stack.keyValueHeadCount)
                let keyValueHeads = Array(Set(heads.map { $0 / group })).sorted()
                packed.query = blob.addHalfFloats(query, layers: layers, heads: heads)
                packed.key = blob.addHalfFloats(key, layers: layers, heads: keyValueHeads)
                packed.value = blob.addHalfFloats(value, layers: layers, heads: keyValueHeads)
                packed.headDim = headDim
                packed.valueDim = value.shape[3]
                packed.keyValueHeads = keyValueHeads
                packed.keyValueGroup = group
                if let geometry = stack.geometry {
                    packed.scoreScales = layers.map { Double(geometry.scales[$0]) }
                    packed.positionBias = geometry.positionBias
                } else {
                    let guess = unscaledArchitectures.contains(trace.provenance.architecture.lowercased()) ? 1 : 1 / Double(headDim).squareRoot()
                    packed.scoreScales = layers.map { _ in guess }
                }
            }
            stacks.append(packed)
        }
        guard let first = stacks.first(where: { $0.kind == firstStack }) else {
            throw CoreError("the \(firstStack.rawValue) stack has none of the included layers and heads",
                            hint: "include some of its \(trace.stacks[firstStack]!.layerCount) layers with --layers")
        }

        let layer = try initialLayer(options.layer, stack: first)
        let heads = try initialHeads(options.selectedHeads, stack: first, view: view)
        let queryCount = trace.queryTokens(firstStack).count
        if let token = options.token, !(0 ..< queryCount).contains(token) {
            throw CoreError("token \(token) is out of range: the \(firstStack.rawValue) stack has \(queryCount) query tokens (0–\(queryCount - 1))",
                            hint: "choose --token between 0 and \(queryCount - 1)")
        }
        if options.sentences != .all {
            guard trace.isPair else {
                throw CoreError("--sentences \(options.sentences.rawValue) needs a sentence pair, and this trace has one sentence",
                                hint: "leave it out, or trace a pair")
            }
            guard firstStack == .encoder else {
                throw CoreError("--sentences filters the encoder's self-attention, and the view opens on the \(firstStack.rawValue) stack",
                                hint: "choose --stack encoder")
            }
        }
        let longest = stacks.map { max($0.queries, $0.keys) }.max() ?? 0
        let threshold = options.threshold ?? (longest > 64 ? 0.01 : 0)
        guard (0 ... 1).contains(threshold) else {
            throw CoreError("threshold \(threshold) is not a weight: it must lie between 0 and 1", hint: "for example --threshold 0.05")
        }
        guard options.topK >= 0 else {
            throw CoreError("top-k \(options.topK) is negative", hint: "use --top-k 0 to draw every line, or a count such as 5")
        }

        var tokens = ["input": trace.tokens.map(payloadToken)]
        if let decoderTokens = trace.decoderTokens { tokens["decoder"] = decoderTokens.map(payloadToken) }
        let compressedChunks = ZlibHuffmanEncoder.compressEach(blob.blocks)
        var chunks: [[Int]] = [], rawOffset = 0, compressedOffset = 0
        var compressed: [UInt8] = []
        compressed.reserveCapacity(compressedChunks.reduce(0) { $0 + $1.count })
        for (block, chunk) in zip(blob.blocks, compressedChunks) {
            chunks.append([rawOffset, block.count, compressedOffset, chunk.count])
            rawOffset += block.count
            compressedOffset += chunk.count
            compressed += chunk
        }
        var outputs: OutputSummary?
        if trace.outputs.similarity != nil || trace.outputs.label != nil {
            let probability = trace.outputs.probabilities?.max()
            outputs = OutputSummary(similarity: trace.outputs.similarity, label: trace.outputs.label, probability: probability)
        }
        return ViewPayload(
            view: view, title: options.title ?? defaultTitle(trace), model: trace.provenance.model,
            architecture: trace.provenance.architecture, inputs: trace.inputs, outputs: outputs, tokens: tokens, stacks: stacks,
            initial: InitialSelection(stack: firstStack, layer: layer, heads: heads, token: options.token,
                                      filter: options.sentences.rawValue.replacingOccurrences(of: "-", with: ""),
                                      threshold: threshold, topK: options.topK,
                                      hideFirstKey: options.sink == .hide || (options.sink == .auto && stacks.contains { $0.causal == true })),
            data: DataInfo(encoding: "zlib-chunks", length: blob.length, compressedLength: compressed.count, chunks: chunks),
            blob: compressed)
    }

    static func payloadToken(_ token: TraceToken) -> PayloadToken {
        PayloadToken(text: token.text, display: token.display, segment: token.segment, special: token.special)
    }

    static func defaultTitle(_ trace: Trace) -> String {
        var text = trace.inputs.a
        if let b = trace.inputs.b { text += " / " + b }
        if let decoder = trace.inputs.decoder { text += " → " + decoder }
        if text.count > 140 { text = String(text.prefix(140)) + "…" }
        return "\(trace.provenance.model): \(text)"
    }

    /// A sorted list without duplicates, every entry in `0..<count`; all of them when `list` is nil.
    static func checkedList(_ list: [Int]?, count: Int, what: String, option: String) throws -> [Int] {
        guard let list else { return Array(0 ..< count) }
        guard !list.isEmpty else { throw CoreError("\(option) lists no \(what)s", hint: "list some, for example \(option) 0,2-4") }
        for number in list where !(0 ..< count).contains(number) {
            throw CoreError("\(option) names \(what) \(number), but the model has \(count) \(what)s (0–\(count - 1))",
                            hint: "choose \(what)s between 0 and \(count - 1)")
        }
        return Array(Set(list)).sorted()
    }

    static func initialLayer(_ layer: Int?, stack: PayloadStack) throws -> Int {
        guard let layer else { return stack.layers[0] }
        guard (0 ..< stack.modelLayers).contains(layer) else {
            throw CoreError("layer \(layer) is out of range: the \(stack.kind.rawValue) stack has \(stack.modelLayers) layers (0–\(stack.modelLayers - 1))",
                            hint: "choose --layer between 0 and \(stack.modelLayers - 1)")
        }
        guard stack.layers.contains(layer) else {
            throw CoreError("layer \(layer) is not among the included layers (\(stack.layers.map(String.init).joined(separator: ",")))",
                            hint: "include it with --layers, or choose another --layer")
        }
        return layer
    }

    static func initialHeads(_ heads: [Int]?, stack: PayloadStack, view: ViewKind) throws -> [Int] {
        guard let heads else { return view == .neuron ? [stack.heads[0]] : stack.heads }
        guard !heads.isEmpty else { throw CoreError("no head is selected", hint: "list some, for example --heads 3,5") }
        for head in heads {
            guard (0 ..< stack.modelHeads).contains(head) else {
                throw CoreError("head \(head) is out of range: the model has \(stack.modelHeads) heads per layer (0–\(stack.modelHeads - 1))",
                                hint: "choose heads between 0 and \(stack.modelHeads - 1)")
            }
            guard stack.heads.contains(head) else {
                throw CoreError("head \(head) is not among the included heads (\(stack.heads.map(String.init).joined(separator: ",")))",
                                hint: "include it, or select another head")
            }
        }
        let sorted = Array(Set(heads)).sorted()
        return view == .neuron ? [heads[0]] : sorted
    }
}

/// Collects the blob's sections as separate blocks (each gets its own Huffman code).
struct BlobBuilder {
    private(set) var blocks: [[UInt8]] = []
    private(set) var length = 0

    private mutating func append(_ block: [UInt8]) {
        blocks.append(block)
        length += block.count
    }

    /// Attention `[layers, heads, q, k]`, the included layers and heads, one block per layer.
    mutating func addAttention(_ attention: Tensor, layers: [Int], heads: [Int]) -> ViewPayload.Section {
        let offset = length
        let modelHeads = attention.shape[1], queries = attention.shape[2], keys = attention.shape[3]
        let matrix = queries * keys
        attention.withUnsafeBufferPointer { values in
            for layer in layers {
                var block = [UInt8](repeating: 0, count: heads.count * matrix)
                block.withUnsafeMutableBufferPointer { out in
                    for (slot, head) in heads.enumerated() {
                        let source = (layer * modelHeads + head) * matrix, target = slot * matrix
                        for index in 0 ..< matrix {
                            out[target + index] = Self.quantised(values[source + index])
                        }
                    }
                }
                append(block)
            }
        }
        return .init(offset: offset, count: layers.count * heads.count * matrix, type: "u8-sqrt")
    }

    /// `round(255·√a)`, with anything outside 0…1 (or NaN) clamped.
    @inline(__always)
    static func quantised(_ value: Float) -> UInt8 {
        guard value > 0 else { return 0 }
        guard value < 1 else { return 255 }
        return UInt8((value.squareRoot() * 255).rounded())
    }

    /// Queries, keys or values `[layers, heads, n, d]` as half floats, per layer in two byte planes.
    mutating func addHalfFloats(_ tensor: Tensor, layers: [Int], heads: [Int]) -> ViewPayload.Section {
        let offset = length
        let modelHeads = tensor.shape[1], perHead = tensor.shape[2] * tensor.shape[3]
        let perLayer = heads.count * perHead
        tensor.withUnsafeBufferPointer { values in
            for layer in layers {
                var low = [UInt8](repeating: 0, count: perLayer), high = [UInt8](repeating: 0, count: perLayer)
                var index = 0
                for head in heads {
                    let source = (layer * modelHeads + head) * perHead
                    for element in 0 ..< perHead {
                        let bits = Float16(values[source + element]).bitPattern
                        low[index] = UInt8(truncatingIfNeeded: bits)
                        high[index] = UInt8(truncatingIfNeeded: bits >> 8)
                        index += 1
                    }
                }
                append(low)
                append(high)
            }
        }
        return .init(offset: offset, count: layers.count * perLayer, type: "f16-planes")
    }
}
