import Foundation
import Testing

/// `attnlab trace --ablate/--knockout/--scale`: the outputs and attention under the intervention in
/// the usual JSON layout, which records what was run; bad values are usage errors, references the
/// model lacks one error line, and no file is left.
@Suite(.serialized) struct InterventionOptionsTests {
    static let pair = ["--model", CLI.miniLM, "--text", "the eminem tune was totally awesome.",
                       "--pair", "dude, that song from eminem was terrific!"]

    func trace(_ arguments: [String]) throws -> [String: Any] {
        let result = try CLI.run(["trace"] + Self.pair + arguments + ["--format", "json"])
        #expect(result.status == 0, "\(arguments): \(result.stderr)")
        return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
    }

    @Test func interventionsChangeTheOutputsAndAreRecorded() throws {
        let plain = try trace([])
        #expect(plain["interventions"] == nil, "a plain pass records none")
        let similarity = { (json: [String: Any]) in (json["outputs"] as! [String: Any])["similarity"] as! Double }

        let ablated = try trace(["--ablate", "5.4", "--ablate", "4.11", "--ablation", "mean"])
        let recorded = ablated["interventions"] as? [[String: Any]]
        #expect(recorded?.first?["kind"] as? String == "ablate" && recorded?.first?["mode"] as? String == "mean")
        #expect(recorded?.first?["heads"] as? [String] == ["5.4", "4.11"])
        #expect(abs(similarity(ablated) - similarity(plain)) > 1e-4, "ablating two heads moves the similarity")

        // Knocking out terrific → awesome in layer 5 leaves every head's weight 0 there, the rows renormalised.
        let cut = try trace(["--knockout", "terrific>awesome@5"])
        let tokens = cut["tokens"] as! [String]
        let (from, to) = (tokens.firstIndex(of: "terrific")!, tokens.firstIndex(of: "awesome")!)
        let attention = cut["attention"] as! [[[[Double]]]]
        for head in 0 ..< 12 {
            #expect(attention[5][head][from][to] == 0, "layer 5, head \(head)")
            #expect(abs(attention[5][head][from].reduce(0, +) - 1) < 1e-5, "row sums to 1")
        }
        #expect(attention[4][4][from][to] == (plain["attention"] as! [[[[Double]]]])[4][4][from][to], "layer 4 is untouched")

        let scaled = try trace(["--scale", "5.4=0"])
        let zeroed = try trace(["--ablate", "5.4"])
        #expect(abs(similarity(scaled) - similarity(zeroed)) < 1e-9, "scaling a head by 0 is ablating it with zeros")
    }

    @Test func badValuesAndMissingReferences() throws {
        let folder = try CLI.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("t.safetensors").path
        func expectError(_ arguments: [String], status: Int32, _ fragment: String) throws {
            let result = try CLI.run(["trace"] + Self.pair + arguments + ["--out", out])
            #expect(result.status == status, "\(arguments): status \(result.status), \(result.stderr)")
            #expect(result.stderr.contains(fragment), "\(arguments): \(result.stderr)")
            if status == 1 { #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)") }
            #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) left a file")
        }
        try expectError(["--ablate", "5"], status: 2, "\"5\" is not a head; write LAYER.HEAD")
        try expectError(["--scale", "5.4=x"], status: 2, "write LAYER.HEAD=FACTOR")
        try expectError(["--knockout", "terrific-awesome"], status: 2, "write FROM>TO")
        try expectError(["--ablation", "mean"], status: 2, "give --ablate LAYER.HEAD too")
        try expectError(["--ablate", "9.0"], status: 1, "layer 9 is out of range (the model has layers 0–5)")
        try expectError(["--ablate", "5.12"], status: 1, "head 12 is out of range (the model has heads 0–11)")
        try expectError(["--knockout", "wonderful>awesome@5"], status: 1, "no word \"wonderful\" in the input")
        try expectError(["--ablate", "0.0", "--stack", "decoder"], status: 1, "decoder")
    }
}
