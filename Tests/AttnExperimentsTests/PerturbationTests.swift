import Testing
@testable import AttnExperiments

@Suite struct PerturbationTests {
    let input = InputSpec(id: "eminem", a: "the eminem tune was totally awesome.", b: "Dude, that song from Eminem was SICK! Sick.", decoder: nil, baseName: "base")

    func apply(_ kind: PerturbationSpec.Kind, in target: SegmentTarget = .both, mask: String? = "[MASK]") -> Variant? {
        PerturbationSpec(id: "p", kind: kind, target: target).apply(to: input, maskToken: mask)
    }

    @Test func replaceIsWholeWordAndCasePreserving() throws {
        let variant = try #require(apply(.replace(from: "sick", to: "terrific")))
        #expect(variant.b == "Dude, that song from Eminem was TERRIFIC! Terrific.")
        #expect(variant.a == input.a)
        #expect(variant.edits.map(\.before) == ["SICK", "Sick"])
        #expect(variant.edits[0].segment == 1 && variant.edits[0].baseStart == 32 && variant.edits[0].variantEnd == 40)
        #expect(variant.path == "eminem/p")
    }

    @Test func replaceDoesNotTouchPartsOfWords() {
        #expect(apply(.replace(from: "was", to: "is"), in: .a)?.a == "the eminem tune is totally awesome.")
        #expect(apply(.replace(from: "tot", to: "x")) == nil)   // only inside "totally"
    }

    @Test func replacePhrasesAndRespectTheTarget() throws {
        #expect(apply(.replace(from: "that song", to: "this track"))?.b == "Dude, this track from Eminem was SICK! Sick.")
        #expect(apply(.replace(from: "eminem", to: "X"), in: .a)?.b == input.b)
        #expect(apply(.replace(from: "awesome", to: "x"), in: .b) == nil)
    }

    @Test func deleteTakesOneSpaceWithTheWord() {
        #expect(apply(.delete("totally"))?.a == "the eminem tune was awesome.")
        #expect(apply(.delete("the"), in: .a)?.a == "eminem tune was totally awesome.")
    }

    @Test func insertAfterOrBefore() {
        #expect(apply(.insert(text: "really", anchor: "was", after: false), in: .a)?.a == "the eminem tune really was totally awesome.")
        #expect(apply(.insert(text: "new", anchor: "tune", after: true), in: .a)?.a == "the eminem tune new was totally awesome.")
    }

    @Test func maskUsesTheModelsMaskToken() {
        #expect(apply(.mask("awesome"), mask: "<mask>")?.a == "the eminem tune was totally <mask>.")
        #expect(apply(.mask("awesome"), mask: nil) == nil)
    }

    @Test func swapExchangesTheSentences() throws {
        let variant = try #require(apply(.swap))
        #expect(variant.a == input.b && variant.b == input.a && variant.swapped)
        let single = InputSpec(id: "s", a: "one", b: nil, decoder: nil, baseName: "base")
        #expect(PerturbationSpec(id: "p", kind: .swap, target: .both).apply(to: single, maskToken: nil) == nil)
    }
}
