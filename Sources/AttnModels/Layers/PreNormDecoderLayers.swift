import AttnCore
import Foundation

// What the Llama family's decoders share (Llama, Mistral, Qwen2, Qwen3, Gemma, Phi-3): the keys of
// their config.json, the rotary settings in either of transformers' layouts, the pre-norm layer and
// its weight names, and the decoder stack with its forward pass. Each architecture's file states its
// own defaults and what it changes on top.

/// The config.json keys every Llama-family decoder has, as written (nil when absent); each
/// architecture supplies the defaults transformers' configuration class has for the absent ones.
public struct DecoderConfigKeys: Codable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var hiddenAct: String?
    public var maxPositionEmbeddings: Int?
    public var rmsNormEps: Double?
    /// transformers 4's layout: the base here and the scaling in `rope_scaling`.
    public var ropeTheta: Double?
    public var ropeScaling: RopeScaling?
    /// transformers 5's layout: `{"rope_type": …, "rope_theta": …, "factor": …}`.
    public var ropeParameters: RopeScaling?
    public var partialRotaryFactor: Double?
    public var tieWordEmbeddings: Bool?
    public var attentionBias: Bool?
    public var mlpBias: Bool?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling", ropeParameters = "rope_parameters", partialRotaryFactor = "partial_rotary_factor"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias", mlpBias = "mlp_bias"
    }

    /// `num_key_value_heads`, or the query heads when absent.
    var keyValueHeads: Int { numKeyValueHeads ?? numAttentionHeads }

    /// The head width: `head_dim`, or hidden / heads. (Architectures whose configuration class has
    /// another default, Qwen3's 128 and Gemma's 256, set `headDim` when decoding.)
    var headWidth: Int { headDim ?? hiddenSize / max(numAttentionHeads, 1) }

    /// The rotary settings, as transformers' `convert_rope_params_to_dict` resolves them: `rope_scaling`
    /// when given, else `rope_parameters`; the base from there, else `rope_theta`, else 10 000; the
    /// rotating share from there, else `partial_rotary_factor`; llama3 and yarn's original context
    /// from there, else `max_position_embeddings`.
    var rope: RopeScaling {
        var rope = ropeScaling ?? ropeParameters ?? RopeScaling()
        rope.ropeTheta = rope.ropeTheta ?? ropeTheta ?? 10_000
        rope.partialRotaryFactor = rope.partialRotaryFactor ?? partialRotaryFactor ?? 1
        if ["llama3", "yarn"].contains(rope.kind) {
            rope.originalMaxPositionEmbeddings = rope.originalMaxPositionEmbeddings ?? maxPositionEmbeddings
        }
        return rope
    }

    /// The problems every Llama-family model shares: sizes, grouped heads, the norm's epsilon and
    /// the rotary settings, before anything is allocated.
    func check(_ check: inout ConfigCheck, ropeTypes: Set<String> = ["default", "linear", "llama3", "yarn"]) {
        check.vocabulary("vocab_size", vocabSize)
        check.width("hidden_size", hiddenSize)
        check.width("intermediate_size", intermediateSize)
        check.layers("num_hidden_layers", numHiddenLayers)
        check.heads("num_attention_heads", numAttentionHeads)
        check.heads("num_key_value_heads", numKeyValueHeads)
        check.multiple("num_attention_heads", numAttentionHeads, of: "num_key_value_heads", keyValueHeads)
        check.require(keyValueHeads <= numAttentionHeads || keyValueHeads < 1,
                      "num_key_value_heads \(keyValueHeads) is more than num_attention_heads \(numAttentionHeads)")
        if headDim == nil {
            check.multiple("hidden_size", hiddenSize, of: "num_attention_heads", numAttentionHeads)
        }
        check.width("head_dim", headDim)
        check.positions("max_position_embeddings", maxPositionEmbeddings)
        check.positive("rms_norm_eps", rmsNormEps)
        let rope = self.rope
        check.positive("rope_theta", rope.ropeTheta)
        check.require(ropeTypes.contains(rope.kind),
                      "rope type \"\(rope.kind)\" is not supported for this architecture (AttnLab runs \(ropeTypes.sorted().joined(separator: ", ")))")
        if let factor = rope.partialRotaryFactor {
            let width = Double(headWidth) * factor
            check.require(factor > 0 && factor <= 1 && Int(width) >= 2 && Int(width) % 2 == 0,
                          "partial_rotary_factor \(factor) does not give an even rotary width of at least 2")
        }
    }

    /// The rotary embedding of a head `headDim` wide.
    func rotaryEmbedding(headDim: Int, path: String) throws -> RotaryEmbedding {
        let rope = self.rope
        return try RotaryEmbedding(headDim: headDim, theta: rope.ropeTheta ?? 10_000, scaling: rope,
                                   maxPositions: maxPositionEmbeddings ?? 2048, partialFactor: rope.partialRotaryFactor ?? 1, path: path)
    }
}

/// The pre-norm decoder layer of the Llama family: `x + attention(norm(x))`, then
/// `x + feedForward(norm(x))`, both norms RMSNorms.
struct PreNormDecoderLayer: Sendable {
    var inputNorm: RMSNorm
    var attention: SelfAttention
    var postAttentionNorm: RMSNorm
    var feedForward: FeedForward

    func callAsFunction(_ x: Tensor, mask: AttentionMask, stack: inout StackPass, layer: Int) -> Tensor {
        var x = x
        stack.visit(.residual, layer: layer, &x)
        x = x + attention(inputNorm(x), mask: mask, stack: &stack, layer: layer)   // (n, h)
        var mlp = feedForward(postAttentionNorm(x))                                // (n, h)
        stack.visit(.mlp, layer: layer, &mlp)
        return x + mlp
    }
}

/// The weights of a Llama-family layer under transformers' names (`layers.N.self_attn.q_proj`,
/// `k_proj`, `v_proj`, `o_proj`, `mlp.gate_proj`, `up_proj`, `down_proj`, `input_layernorm`,
/// `post_attention_layernorm`, and Qwen3's `self_attn.q_norm` / `k_norm`), under the base prefix.
enum LlamaFamilyLayers {
    struct Options {
        var hidden: Int
        var shape: HeadShape
        var inner: Int
        var eps: Float
        /// Biases of the q, k and v projections (Qwen2; `attention_bias` elsewhere).
        var projectionBias: Bool
        /// Bias of the output projection (`attention_bias` in Llama and Qwen3; never in Qwen2).
        var outputBias: Bool
        var mlpBias: Bool
        var activation: Activation
        var rotary: RotaryEmbedding
        /// Qwen3's per-head RMSNorm of queries and keys, before the rotation.
        var queryKeyNorm = false
        /// Gemma's norms multiply by `1 + w`.
        var unitOffset = false
    }

    static func layer(_ w: WeightLoader, _ i: Int, _ o: Options) throws -> PreNormDecoderLayer {
        let p = "layers.\(i)."
        var attention = try SelfAttention(w, query: p + "self_attn.q_proj", key: p + "self_attn.k_proj", value: p + "self_attn.v_proj",
                                          output: p + "self_attn.o_proj", hidden: o.hidden, shape: o.shape,
                                          bias: o.projectionBias, outputBias: o.outputBias)
        attention.transform = QueryKeyTransform(
            queryNorm: o.queryKeyNorm ? try RMSNorm(w, p + "self_attn.q_norm", dim: o.shape.headDim, eps: o.eps) : nil,
            keyNorm: o.queryKeyNorm ? try RMSNorm(w, p + "self_attn.k_norm", dim: o.shape.headDim, eps: o.eps) : nil,
            rotary: o.rotary)
        let (h, m) = (o.hidden, o.inner)
        let feedForward = try FeedForward(gate: try w.linear(p + "mlp.gate_proj", in: h, out: m, bias: o.mlpBias, base: true),
                                          up: try w.linear(p + "mlp.up_proj", in: h, out: m, bias: o.mlpBias, base: true),
                                          down: try w.linear(p + "mlp.down_proj", in: m, out: h, bias: o.mlpBias, base: true),
                                          activation: o.activation)
        return PreNormDecoderLayer(inputNorm: try RMSNorm(w, p + "input_layernorm", dim: h, eps: o.eps, unitOffset: o.unitOffset),
                                   attention: attention,
                                   postAttentionNorm: try RMSNorm(w, p + "post_attention_layernorm", dim: h, eps: o.eps, unitOffset: o.unitOffset),
                                   feedForward: feedForward)
    }

    /// The output projection `[vocab, hidden]`: the token embeddings when tied, else `lm_head.weight`.
    static func languageModelHead(_ w: WeightLoader, tied tie: Bool, embeddings: Tensor, vocabulary: Int, hidden: Int) throws -> Tensor {
        // Tied, transformers uses the embeddings whatever the file holds under lm_head.weight.
        tie ? embeddings : try w.take("lm_head.weight", [vocabulary, hidden])
    }

    /// FLOPs of a decoder on `n` tokens: per layer the q, k, v and output projections, the two
    /// attention products and a gated feed-forward block, and the LM head at one position.
    static func flops(tokens n: Int, layers: Int, hidden h: Int, shape: HeadShape, inner m: Int, vocabulary: Int) -> Double {
        let (n, h) = (Double(n), Double(h))
        let projections = 2 * n * h * Double(2 * shape.queryWidth + 2 * shape.keyValueWidth)
        let products = 4 * n * n * Double(shape.queryWidth)
        return Double(layers) * (projections + products + feedForwardFLOPs(rows: Int(n), hidden: Int(h), inner: m, matrices: 3))
            + 2 * h * Double(vocabulary)
    }
}

extension LlamaFamilyLayers.Options {
    /// The layers `c` describes: heads and widths as it says, the norms' epsilon `rms_norm_eps`
    /// (else `eps`), the activation `hidden_act` (else `activation`) and the rotary settings;
    /// biases and norms as the architecture says.
    init(_ c: DecoderConfigKeys, path: String, eps defaultEps: Double = 1e-6, activation defaultActivation: String = "silu",
         projectionBias: Bool, outputBias: Bool, mlpBias: Bool, queryKeyNorm: Bool = false, unitOffset: Bool = false) throws {
        hidden = c.hiddenSize
        shape = HeadShape(heads: c.numAttentionHeads, keyValueHeads: c.keyValueHeads, headDim: c.headWidth)
        inner = c.intermediateSize
        eps = Float(c.rmsNormEps ?? defaultEps)
        (self.projectionBias, self.outputBias, self.mlpBias) = (projectionBias, outputBias, mlpBias)
        activation = try Activation(named: c.hiddenAct ?? defaultActivation, path: path)
        rotary = try c.rotaryEmbedding(headDim: shape.headDim, path: path)
        (self.queryKeyNorm, self.unitOffset) = (queryKeyNorm, unitOffset)
    }
}

/// The decoder of every Llama-family model: the token embeddings (`embed_tokens`), the pre-norm
/// layers, the final RMSNorm (`norm`) and the LM head (`lm_head`, or the embeddings when tied), under
/// the base prefix `model.`. What an architecture changes comes in as values: the layers' options
/// (biases, Qwen3's q/k norms, Gemma's `1 + w` norms), Gemma's embedding scale, one sliding window
/// for every layer, and Phi-3's layers with fused weights.
struct PreNormDecoderStack: Sendable {
    let embeddings: Tensor              // embed_tokens [vocab, hidden]
    /// What the embeddings are multiplied by: Gemma's √hidden (in float32), else 1.
    let embeddingScale: Float
    let layers: [PreNormDecoderLayer]
    let finalNorm: RMSNorm
    let languageModelHead: Tensor       // [vocab, hidden]
    /// The window of every layer's attention (Mistral, Qwen2 and Qwen3 when used, Phi-3 when set),
    /// or nil for plain causal attention.
    let slidingWindow: Int?
    let shape: HeadShape
    let hidden: Int
    let inner: Int
    let vocabulary: Int

    /// Loads the decoder `keys` describes from `weights`, naming `architecture` in the loader's
    /// errors; `layer` builds layer `i` (Llama's layer unless the architecture has its own).
    init(_ weights: WeightStore, architecture: String, keys c: DecoderConfigKeys, options: LlamaFamilyLayers.Options,
         tied: Bool, embeddingScale: Float = 1, slidingWindow: Int? = nil,
         layer: (WeightLoader, Int, LlamaFamilyLayers.Options) throws -> PreNormDecoderLayer = LlamaFamilyLayers.layer) throws {
        (hidden, inner, vocabulary, shape) = (options.hidden, options.inner, c.vocabSize, options.shape)
        (self.embeddingScale, self.slidingWindow) = (embeddingScale, slidingWindow)
        let w = WeightLoader(store: weights, probe: "embed_tokens.weight", prefixes: ["model.", ""], architecture: architecture)
        embeddings = try w.base("embed_tokens.weight", [vocabulary, hidden])
        layers = try (0 ..< c.numHiddenLayers).map { try layer(w, $0, options) }
        finalNorm = try RMSNorm(w, "norm", dim: hidden, eps: options.eps, unitOffset: options.unitOffset)
        languageModelHead = try LlamaFamilyLayers.languageModelHead(w, tied: tied, embeddings: embeddings,
                                                                    vocabulary: vocabulary, hidden: hidden)
        try w.finish()
    }

    /// The LM head: next-token logits at every position.
    var outputHeads: OutputHeads { OutputHeads(languageModel: .projection(languageModelHead, task: .causalLM)) }

    func summary(architecture: String, maxPositions: Int) -> ModelSummary {
        ModelSummary(architecture: architecture, layers: layers.count, heads: shape.heads, keyValueHeads: shape.keyValueHeads,
                     hidden: hidden, intermediate: inner, vocabulary: vocabulary, maxPositions: maxPositions)
    }

    /// The forward pass: embeddings, the layers (or the rest of them, when a scan resumes), the
    /// final norm.
    func callAsFunction(_ input: ModelInput, _ options: ForwardOptions) -> ModelOutput {
        let n = input.ids.count                             // tokens
        let L = layers.count
        // One causal stack over the input's tokens, kept as `encoder` (as for GPT-2).
        var stack = StackPass(.encoder, layers: L, shape: shape, queries: n, keys: n, hidden: hidden,
                              scales: StackPass.scales(1 / Float(shape.headDim).squareRoot(), layers: L),
                              causal: true, slidingWindow: slidingWindow, rotary: true, pass: options)
        let mask = AttentionMask(keys: input.attentionMask, causal: true, window: slidingWindow)
        var x = embed(input.ids, in: embeddings, scale: embeddingScale)           // (n, h)
        for l in stack.layerRange(input: &x) {
            x = layers[l](x, mask: mask, stack: &stack, layer: l)                  // (n, h)
            if l < L - 1 { stack.keepHidden(x, at: l + 1) }
        }
        // The final RMSNorm; transformers reports its output as the last hidden state.
        x = finalNorm(x)
        stack.keepHidden(x, at: L)
        return ModelOutput(stacks: [.encoder: stack.stack], lastHidden: x)
    }

    /// FLOPs of a forward pass on `n` tokens, as `LlamaFamilyLayers.flops` counts them.
    func flops(tokens n: Int) -> Double {
        LlamaFamilyLayers.flops(tokens: n, layers: layers.count, hidden: hidden, shape: shape, inner: inner, vocabulary: vocabulary)
    }
}
