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

    /// A run's variants: two models, two inputs; `base(of:)` finds the unperturbed one of the same model and input.
    struct Traced: ModelVariant {
        var model: String
        var variant: Variant
    }

    @Test func theBaseIsOfTheSameModelAndInput() throws {
        let other = InputSpec(id: "other", a: "sick of it", b: nil, decoder: nil, baseName: "sick")
        let terrific = try #require(PerturbationSpec(id: "terrific", kind: .replace(from: "sick", to: "terrific"), target: .both)
            .apply(to: input, maskToken: nil))
        let run = [Traced(model: "minilm", variant: .base(of: other)), Traced(model: "bert", variant: .base(of: input)),
                   Traced(model: "minilm", variant: .base(of: input)), Traced(model: "minilm", variant: terrific)]
        let base = try #require(run.base(of: Traced(model: "minilm", variant: terrific)))
        #expect(base.model == "minilm" && base.variant.path == "eminem/base")
        #expect(run.base(of: run[0])?.variant.path == "other/sick", "a base is its own base")
        #expect(run.base(of: Traced(model: "gpt2", variant: terrific)) == nil)
    }
}
