import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// Each intervention kind on the tiny model of every architecture, against PyTorch with forward
/// hooks (Tools/reference/make_intervention_fixtures.py): attention within 1e-5, the last hidden
/// state and the logits within 1e-4.
@Suite struct InterventionParityTests {
    static let folder = Fixtures.url("interventions")

    static var fixtures: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
    }

    @Test func everyArchitectureHasEveryKind() {
        let names = Self.fixtures
        for model in ["gpt2", "roberta", "distilbert", "albert", "bart", "marian", "t5"] {
            for kind in ["ablate", "scale", "knockout", "knockout-head", "patch-head", "patch-resid", "mean"] {
                #expect(names.contains("\(model).\(kind).safetensors"), "\(model).\(kind)")
            }
        }
        for model in ["bart", "marian", "t5"] { #expect(names.contains("\(model).decoder.safetensors")) }
        for kind in ["ablate", "knockout", "patch-head"] { #expect(names.contains("minilm.\(kind).safetensors")) }
    }

    @Test(arguments: fixtures)
    func matchesPyTorchHooks(fixture: String) throws {
        let file = try SafeTensorsFile(path: Self.folder.appendingPathComponent(fixture).path)
        let case_ = try JSONSerialization.jsonObject(with: Data(file.metadata["case"]!.utf8)) as! [String: Any]
        let name = String(fixture.split(separator: ".")[0])
        let model = try ModelRegistry.load(folder: name == "minilm" ? try Fixtures.realModel("sentence-transformers/all-MiniLM-L6-v2")
                                                                     : ArchitectureFixtures.url(name))
        func ints(_ value: Any?) -> [Int]? { (value as? [Any])?.map { ($0 as! NSNumber).intValue } }
        let input = ModelInput(ids: ints(case_["ids"])!, decoderIds: ints(case_["decoder_ids"]))
        var edits: [SiteEdit] = []
        for edit in case_["edits"] as! [[String: Any]] {
            let stack = StackKind(rawValue: edit["stack"] as! String)!
            let layer = (edit["layer"] as! NSNumber).intValue
            let head = (edit["head"] as? NSNumber)?.intValue ?? 0
            switch edit["kind"] as! String {
            case "zero": edits.append(.headOutput(stack: stack, layer: layer, head: head, change: .zero))
            case "scale": edits.append(.headOutput(stack: stack, layer: layer, head: head, change: .scale((edit["factor"] as! NSNumber).floatValue)))
            case "constant":
                let vector = (edit["vector"] as! [Any]).map { ($0 as! NSNumber).floatValue }
                edits.append(.headOutput(stack: stack, layer: layer, head: head, change: .constant(vector)))
            case "cut":
                edits.append(.cutEdges(stack: stack, layer: layer, heads: ints(edit["heads"]).map(Set.init),
                                       queries: ints(edit["queries"])!, keys: ints(edit["keys"])!))
            case "copy":
                let site = Site(stack, layer, edit["site"] as! String == "head" ? .head : .residual)
                let recorder = SitePlan(record: [site])
                let source = ModelInput(ids: ints(case_["source_ids"])!, decoderIds: input.decoderIds)
                _ = try model.forward(source, options: ForwardOptions(sites: recorder))
                let rows = (edit["rows"] as! [[Any]]).map { RowMapping(target: ($0[0] as! NSNumber).intValue, source: ($0[1] as! NSNumber).intValue) }
                edits.append(.copy(site: site, heads: ints(edit["heads"]).map(Set.init), rows: rows, from: try #require(recorder.recording(site))))
            default:
                Issue.record("unknown edit \(edit)")
            }
        }
        let output = try model.forward(input, options: ForwardOptions(sites: SitePlan(edits: edits)))
        let plain = try model.forward(input, capture: [])
        #expect(output.lastHidden != plain.lastHidden, "\(fixture): the intervention changed nothing")
        for kind in StackKind.allCases {
            guard file.entries["\(kind.rawValue).attention"] != nil else { continue }
            expectClose(try #require(output.stacks[kind]).attention, try file.tensor("\(kind.rawValue).attention"), within: 1e-5,
                        "\(fixture) \(kind.rawValue).attention")
        }
        expectClose(output.lastHidden, try file.tensor("last_hidden"), within: 1e-4, "\(fixture) last hidden")
        if file.entries["logits"] != nil {
            let expected = try file.tensor("logits")
            let logits = model.outputHeads.languageModel != nil
                ? try model.languageModelLogits(output, positions: Array(0 ..< output.lastHidden.shape[0]))
                : try model.classificationLogits(output)
            expectClose(logits.reshaped(expected.shape), expected, within: 1e-4, "\(fixture) logits")
        }
    }
}
