/// The model view: a grid of layers × heads (the model's own numbers on the axes), each cell a
/// thumbnail of its head's pattern (lines, or a matrix for long inputs); clicking a cell opens it
/// large with tokens and hover. The page logic lives in `Resources/model.js`, its self-test in
/// `Resources/model.selftest.js`.
enum ModelView: ViewDefinition {
    static let scripts = ["core.js", "diagram.js", "model.js", "model.selftest.js"]
    static let needsQKV = false
}
