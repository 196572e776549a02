/// The neuron view: for one layer, head and query token, the query q, each key k, q×k element by
/// element, q·k scaled, the attention α (the softmax), and beyond BertViz each value v and each
/// key's contribution ‖α·v‖ to the output, so that a head that attends to `[SEP]` but moves
/// nothing there shows as such. Needs the trace's queries, keys and values.
/// The page logic lives in `Resources/neuron.js`, its self-test in `Resources/neuron.selftest.js`.
enum NeuronView: ViewDefinition {
    static let scripts = ["core.js", "neuron.js", "neuron.selftest.js"]
    static let needsQKV = true
}
