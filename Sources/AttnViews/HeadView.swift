/// The head view (BertViz semantics): a layer selector, one coloured square per head (click
/// toggles, double-click solos), lines from each token on the left to each token on the right
/// weighted by attention, hover to isolate a token's lines and shade the other side per head,
/// a sentence filter for pairs and a stack selector for encoder-decoders.
/// The drawing lives in `Resources/diagram.js`, the page logic in `Resources/head.js`, its
/// self-test in `Resources/head.selftest.js`.
enum HeadView: ViewDefinition {
    static let scripts = ["core.js", "diagram.js", "head.js", "head.selftest.js"]
    static let needsQKV = false
}
