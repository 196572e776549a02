import AttnCore
import Foundation

/// A template whose slots are filled from lexicons, as CheckList's `editor.template` does:
/// `the {food} was {adj}.` makes one input for every food and adjective. A slot names a list
/// lexicon (`{adj}`), or the same lexicon with a number (`{adj1} and {adj2}`: two different words
/// of `adj`); a slot that appears twice (in `a` and `b`) gets the same word both times. `{{` and
/// `}}` are literal braces. The inputs are named `<template>-1`, `<template>-2`, … in the order of
/// the combinations, the last slot changing fastest.
public struct InputTemplate: Sendable, Equatable {
    public struct Slot: Sendable, Equatable {
        /// As written between the braces (`adj1`).
        public var name: String
        /// The lexicon it takes its words from (`adj`).
        public var lexicon: String
        public var words: [String]
    }

    /// A piece of a template's text: literal text, or a slot (its index in `slots`).
    enum Piece: Sendable, Equatable {
        case text(String)
        case slot(Int)
    }

    public var id: String
    public var baseName: String
    public var slots: [Slot]
    var a: [Piece]
    var b: [Piece]?
    var decoder: [Piece]?
    /// The number of inputs it makes.
    public private(set) var count = 0

    /// The most inputs one template may make (use `sample:` to run part of them).
    public static let maximumCount = 10_000_000

    /// Parses the texts, resolving slots with `lexicons`; throws a message naming the problem.
    init(id: String, a: String, b: String?, decoder: String?, baseName: String, lexicons: [String: Lexicon]) throws(TemplateProblem) {
        self.id = id
        self.baseName = baseName
        var slots: [Slot] = []
        func pieces(_ text: String) throws(TemplateProblem) -> [Piece] {
            var result: [Piece] = []
            var literal = ""
            var index = text.startIndex
            while index < text.endIndex {
                let character = text[index]
                let next = text.index(after: index)
                if character == "{", next < text.endIndex, text[next] == "{" {
                    literal.append("{"); index = text.index(after: next); continue
                }
                if character == "}", next < text.endIndex, text[next] == "}" {
                    literal.append("}"); index = text.index(after: next); continue
                }
                if character == "}" { throw TemplateProblem("a '}' without its '{' in \(JSONText.quoteForTemplate(text)); write }} for a brace") }
                guard character == "{" else { literal.append(character); index = next; continue }
                guard let close = text[next...].firstIndex(of: "}") else {
                    throw TemplateProblem("a '{' without its '}' in \(JSONText.quoteForTemplate(text)); write {{ for a brace")
                }
                let name = String(text[next ..< close]).trimmingCharacters(in: .whitespaces)
                if !literal.isEmpty { result.append(.text(literal)); literal = "" }
                if let existing = slots.firstIndex(where: { $0.name == name }) {
                    result.append(.slot(existing))
                } else {
                    slots.append(try Self.slot(name, lexicons: lexicons))
                    result.append(.slot(slots.count - 1))
                }
                index = text.index(after: close)
            }
            if !literal.isEmpty { result.append(.text(literal)) }
            return result
        }
        self.a = try pieces(a)
        self.b = try b.map { text throws(TemplateProblem) in try pieces(text) }
        self.decoder = try decoder.map { text throws(TemplateProblem) in try pieces(text) }
        self.slots = slots
        if slots.isEmpty { throw TemplateProblem("the template has no slot; write one as {lexicon}, or use a plain input") }
        var total = 0
        try forEachCombination { _ throws(TemplateProblem) in
            total += 1
            if total > Self.maximumCount {
                throw TemplateProblem("the template makes more than \(Self.maximumCount) inputs; use fewer slots or words")
            }
        }
        count = total
        if count == 0 { throw TemplateProblem("no way to fill the slots with different words (a lexicon has too few)") }
    }

    static func slot(_ name: String, lexicons: [String: Lexicon]) throws(TemplateProblem) -> Slot {
        guard !name.isEmpty else { throw TemplateProblem("an empty slot {}; name a lexicon, as {adj}") }
        var lexiconName = name
        if lexicons[name] == nil {
            let stem = String(name.reversed().drop(while: \.isNumber).reversed())
            if stem != name, lexicons[stem] != nil { lexiconName = stem }
        }
        guard let lexicon = lexicons[lexiconName] else {
            let known = lexicons.keys.sorted()
            throw TemplateProblem("no lexicon named \"\(name)\" for the slot {\(name)}"
                                  + (known.isEmpty ? "; define it under lexicons:" : "; lexicons: \(known.joined(separator: ", "))"))
        }
        return Slot(name: name, lexicon: lexiconName, words: lexicon.words)
    }

    /// Calls `body` with the word index of every slot, for each combination in order; slots of one
    /// lexicon under different names never take the same word.
    func forEachCombination<E: Error>(_ body: ([Int]) throws(E) -> Void) throws(E) {
        var choice = [Int](repeating: 0, count: slots.count)
        guard !slots.contains(where: { $0.words.isEmpty }) else { return }
        while true {
            var distinct = true
            for i in slots.indices where distinct {
                for j in slots.indices where j > i && slots[j].lexicon == slots[i].lexicon && choice[j] == choice[i] {
                    distinct = false
                    break
                }
            }
            if distinct { try body(choice) }
            var position = slots.count - 1
            while position >= 0 {
                choice[position] += 1
                if choice[position] < slots[position].words.count { break }
                choice[position] = 0
                position -= 1
            }
            if position < 0 { return }
        }
    }

    /// Every input, in order.
    func forEach<E: Error>(_ body: (InputSpec) throws(E) -> Void) throws(E) {
        var number = 0
        try forEachCombination { (choice: [Int]) throws(E) in
            number += 1
            func fill(_ pieces: [Piece]) -> String {
                pieces.map { piece in
                    switch piece {
                    case .text(let text): text
                    case .slot(let index): slots[index].words[choice[index]]
                    }
                }.joined()
            }
            try body(InputSpec(id: "\(id)-\(number)", a: fill(a), b: b.map(fill), decoder: decoder.map(fill), baseName: baseName))
        }
    }
}

/// What is wrong with a template, in words.
struct TemplateProblem: Error, Equatable {
    var message: String
    init(_ message: String) { self.message = message }
}

extension JSONText {
    static func quoteForTemplate(_ text: String) -> String { quote(text.count > 60 ? String(text.prefix(57)) + "…" : text) }
}
