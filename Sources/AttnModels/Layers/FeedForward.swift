import AttnCore
import Foundation

/// A feed-forward block, with its branches named as checkpoints name them:
/// - plain: `down(act(up(x)))` (BERT's intermediate/output, GPT-2's c_fc/c_proj, T5's wi/wo);
/// - gated: `down(act(gate(x)) ⊙ up(x))` (Llama's gate_proj/up_proj/down_proj, T5 v1.1's
///   wi_0/wi_1/wo, Gemma's GeGLU), gate and up fused into one product `[hidden → 2·inner]`.
struct FeedForward: Sendable {
    /// Plain: the activated branch `[hidden → inner]`. Gated: nil (see `gateUp`).
    var up: Linear?
    /// Gated: the gate (activated) and up (linear) branches fused, gate first: `[hidden → 2·inner]`.
    var gateUp: Linear?
    var down: Linear
    var activation: Activation

    /// A plain block.
    init(up: Linear, down: Linear, activation: Activation) {
        self.up = up
        self.down = down
        self.activation = activation
    }

    /// A gated block from its two branches.
    init(gate: Linear, up: Linear, down: Linear, activation: Activation) throws {
        guard gate.inFeatures == up.inFeatures, gate.outFeatures == up.outFeatures else {
            throw ModelError("the gate and up projections of a feed-forward block differ in shape")
        }
        gateUp = try gate.joiningOutputs(with: up)
        self.down = down
        self.activation = activation
    }

    /// A gated block whose branches a checkpoint stores fused, gate first (Phi-3's `gate_up_proj`).
    init(gateUp: Linear, down: Linear, activation: Activation) {
        self.gateUp = gateUp
        self.down = down
        self.activation = activation
    }

    var inner: Int { down.inFeatures }

    func callAsFunction(_ x: Tensor) -> Tensor {
        if let up {
            var hidden = up(x)                                  // (n, inner)
            hidden.apply { activation($0, count: $1) }
            return down(hidden)
        }
        let m = inner
        let fused = gateUp!(x)                                  // (n, 2·inner): gate | up
        let n = fused.count / (2 * m)
        var hidden = Tensor(uninitialized: [n, m])              // (n, inner)
        hidden.withUnsafeMutableBufferPointer { h in
            fused.withUnsafeBufferPointer { f in
                for r in 0 ..< n {
                    let (out, gate, up) = (h.baseAddress! + r * m, f.baseAddress! + r * 2 * m, f.baseAddress! + r * 2 * m + m)
                    out.update(from: gate, count: m)
                    activation(out, count: m)
                    for j in 0 ..< m { out[j] *= up[j] }
                }
            }
        }
        return down(hidden)
    }

    /// Matrices of the block, for FLOP counts (2, or 3 when gated).
    var matrices: Int { up == nil ? 3 : 2 }
}

/// The activations named by `hidden_act`, `activation_function`, `activation`, `hidden_activation`
/// or T5's `feed_forward_proj`, as transformers' `ACT2FN` computes them.
enum Activation: Sendable {
    case gelu, geluTanh, relu, silu, tanh

    init(named name: String, path: String) throws {
        switch name {
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "relu": self = .relu
        case "silu", "swish": self = .silu
        case "tanh": self = .tanh
        default:
            throw ModelError("activation \"\(name)\" is not supported", location: path,
                             hint: "supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish, tanh")
        }
    }

    /// Applies the activation in place, long arrays split over the threads.
    func callAsFunction(_ values: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count) { range in
            let x = values + range.lowerBound, count = range.count
            switch self {
            case .gelu: Kernels.gelu(x, count: count)
            case .geluTanh: Kernels.geluTanh(x, count: count)
            case .relu: Kernels.relu(x, count: count)
            case .silu: for i in 0 ..< count { x[i] = x[i] / (1 + Foundation.exp(-x[i])) }
            case .tanh: for i in 0 ..< count { x[i] = Foundation.tanh(x[i]) }
            }
        }
    }
}
