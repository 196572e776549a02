import AttnCore

/// Where each file of a run lives, relative to the run folder (and, for `attnlab view RUN --out DIR`,
/// relative to DIR). The model, input and variant names that make these paths come from experiment
/// files, CSV files and manifests; each is checked by `PathComponent`, so none can point outside.
public enum RunPaths {
    /// `traces/<model>/<input>/<variant>.safetensors`
    public static func trace(model: String, variant: Variant) throws -> String {
        "traces/" + (try folder(model: model, variant: variant)) + ".safetensors"
    }

    /// `views/<model>/<input>/<variant>-<view>.html`
    public static func view(model: String, variant: Variant, view: String) throws -> String {
        "views/" + (try folder(model: model, variant: variant)) + "-\(try PathComponent(view, what: "view name")).html"
    }

    /// `figures/<model>/<input>/<variant>-<kind>.png`
    public static func figure(model: String, variant: Variant, kind: String) throws -> String {
        "figures/" + (try folder(model: model, variant: variant)) + "-\(try PathComponent(kind, what: "figure kind")).png"
    }

    /// `views/<model>/<scan>-scan.html`: a scan's page.
    public static func scanView(model: String, scan: String) throws -> String {
        "views/" + (try PathComponent.path([(model, what: "model name"), (scan, what: "scan id")])) + "-scan.html"
    }

    /// `<model>/<input>/<variant>`, each part checked.
    public static func folder(model: String, variant: Variant) throws -> String {
        try PathComponent.path([(model, what: "model name"), (variant.input, what: "input id"), (variant.name, what: "variant name")])
    }
}
