import AttnCore

// Stand-ins for what the `reliability` branch brings (PathComponent, RunPaths, Trace.checkFinite),
// so this branch builds until main has it; removed when main is merged.

public struct PathComponent {
    public let name: String
    public init(_ name: String, what: String) throws {
        guard SpecReader.isSlug(name) else { throw CoreError("the \(what) \(JSONText.quote(name)) cannot name a file or folder") }
        self.name = name
    }
    static func path(_ parts: [(String, what: String)]) throws -> String {
        try parts.map { try PathComponent($0.0, what: $0.what).name }.joined(separator: "/")
    }
}

public enum RunPaths {
    public static func trace(model: String, variant: Variant) throws -> String {
        "traces/" + (try folder(model: model, variant: variant)) + ".safetensors"
    }
    public static func view(model: String, variant: Variant, view: String) throws -> String {
        "views/" + (try folder(model: model, variant: variant)) + "-\(try PathComponent(view, what: "view name").name).html"
    }
    public static func figure(model: String, variant: Variant, kind: String) throws -> String {
        "figures/" + (try folder(model: model, variant: variant)) + "-\(try PathComponent(kind, what: "figure kind").name).png"
    }
    public static func folder(model: String, variant: Variant) throws -> String {
        try PathComponent.path([(model, what: "model name"), (variant.input, what: "input id"), (variant.name, what: "variant name")])
    }
}

extension Trace {
    func checkFinite() throws {}
}
