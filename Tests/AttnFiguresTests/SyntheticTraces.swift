import AttnCore
import Foundation

/// Traces built in code with attention of a realistic structure, so that figure tests need no
/// model: heads that attend to [CLS], to [SEP], to the previous or next token, to their own word,
/// or across the pair between two chosen words; each row a softmax over keys.
enum SyntheticTraces {
    /// A deterministic pseudo-random source (SplitMix64), so that fixtures never change.
    struct Random {
        var state: UInt64

        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Double(z >> 11) / Double(1 << 53)
        }
    }

    /// WordPiece-like tokens of one text: words and punctuation, lower-cased; words longer than
    /// seven letters are cut into a five-letter piece and a `##` rest.
    static func tokenize(_ text: String, segment: Int, firstId: Int) -> [TraceToken] {
        var tokens: [TraceToken] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0, word = 0
        func isLetter(_ s: Unicode.Scalar) -> Bool { CharacterSet.alphanumerics.contains(s) }
        while index < scalars.count {
            let scalar = scalars[index]
            if CharacterSet.whitespaces.contains(scalar) {
                index += 1
                continue
            }
            var end = index + 1
            if isLetter(scalar) { while end < scalars.count, isLetter(scalars[end]) { end += 1 } }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[index ..< end])
            let text = String(view).lowercased()
            if text.count > 7 {
                let cut = text.index(text.startIndex, offsetBy: 5)
                tokens.append(TraceToken(text: String(text[..<cut]), id: firstId + tokens.count, start: index, end: index + 5,
                                         word: word, segment: segment))
                tokens.append(TraceToken(text: "##" + text[cut...], display: String(text[cut...]), id: firstId + tokens.count,
                                         start: index + 5, end: end, word: word, segment: segment))
            } else {
                tokens.append(TraceToken(text: text, id: firstId + tokens.count, start: index, end: end, word: word, segment: segment))
            }
            word += 1
            index = end
        }
        return tokens
    }

    /// `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.
    static func bertTokens(_ a: String, _ b: String? = nil) -> [TraceToken] {
        var tokens = [TraceToken(text: "[CLS]", id: 101, segment: 0, special: true)]
        tokens += tokenize(a, segment: 0, firstId: 1000)
        tokens.append(TraceToken(text: "[SEP]", id: 102, segment: 0, special: true))
        if let b {
            tokens += tokenize(b, segment: 1, firstId: 2000)
            tokens.append(TraceToken(text: "[SEP]", id: 102, segment: 1, special: true))
        }
        return tokens
    }

    /// Attention `[layers, heads, queries, keys]` with a different pattern per head.
    /// `links` are (query, key) pairs that the "semantic" heads attend between, both ways.
    /// `alignment`, when given, names for each query the keys every head attends to (a translation's
    /// word alignment).
    static func attention(queries: [TraceToken], keys: [TraceToken], layers: Int, heads: Int, seed: UInt64,
                          links: [(Int, Int)] = [], causal: Bool = false, alignment: [[Int]]? = nil) -> Tensor {
        var random = Random(state: seed)
        let (n, m) = (queries.count, keys.count)
        var scalars = [Float](repeating: 0, count: layers * heads * n * m)
        let separators = keys.indices.filter { keys[$0].text == "[SEP]" || keys[$0].text == "</s>" }
        for layer in 0 ..< layers {
            for head in 0 ..< heads {
                let pattern = (layer * heads + head) % 6
                for q in 0 ..< n {
                    var logits = (0 ..< m).map { _ in random.next() * 0.8 }
                    switch pattern {
                    case 0: logits[0] += 3.5                                  // [CLS] sink
                    case 1: if q > 0 { logits[min(q - 1, m - 1)] += 4 }      // previous token
                    case 2: logits[min(q + 1, m - 1)] += 4                     // next token
                    case 3:                                                    // own word
                        for k in 0 ..< m where keys[k].word != nil && keys[k].word == queries[q].word && keys[k].segment == queries[q].segment {
                            logits[k] += 2.5
                        }
                    case 4: for k in separators { logits[k] += 3 }             // [SEP]
                    default:                                                   // the linked words, else broad
                        for (a, b) in links where a == q || b == q { logits[a == q ? b : a] += 5 }
                        logits[min(q, m - 1)] += 1
                    }
                    if let alignment { for k in alignment[q] { logits[k] += 4 - Double(alignment[q].count - 1) * 0.7 } }
                    if causal { for k in 0 ..< m where k > q { logits[k] = -.infinity } }
                    let top = logits.max()!
                    let exps = logits.map { Foundation.exp($0 - top) }
                    let sum = exps.reduce(0, +)
                    let base = ((layer * heads + head) * n + q) * m
                    for k in 0 ..< m { scalars[base + k] = Float(exps[k] / sum) }
                }
            }
        }
        return Tensor(shape: [layers, heads, n, m], scalars: scalars)
    }

    static let sentenceA = "the eminem tune was totally awesome."
    static let sentenceB = "dude, that song from eminem was sick!"

    /// The BertViz paper's pair, 6 layers × 12 heads; heads of pattern 5 link "awesome" and "sick".
    static func pair(b: String = sentenceB, seed: UInt64 = 7) -> Trace {
        let tokens = bertTokens(sentenceA, b)
        let awesome = tokens.firstIndex { $0.text == "awesome" }!
        let linked = tokens.lastIndex { $0.segment == 1 && !$0.special && $0.text.count > 1 } ?? tokens.count - 2
        let attention = attention(queries: tokens, keys: tokens, layers: 6, heads: 12, seed: seed, links: [(awesome, linked)])
        return Trace(inputs: TraceInputs(a: sentenceA, b: b), tokens: tokens, stacks: [.encoder: AttentionStack(attention: attention)],
                     provenance: Provenance(model: "synthetic/pair", architecture: "bert"))
    }

    /// One sentence of `count` tokens (with [CLS] and [SEP]).
    static func long(count: Int = 128, layers: Int = 6, heads: Int = 12) -> Trace {
        let words = ["attention", "heads", "often", "look", "at", "the", "previous", "token", "or", "at", "separators", "while",
                     "some", "track", "syntax", "and", "a", "few", "link", "words", "across", "long", "distances", ","]
        var text = ""
        var index = 0
        while bertTokens(text + " " + words[index % words.count]).count <= count {
            text += (text.isEmpty ? "" : " ") + words[index % words.count]
            index += 1
        }
        var tokens = bertTokens(text)
        while tokens.count < count { tokens.insert(TraceToken(text: ".", id: 1012, word: nil), at: tokens.count - 1) }
        let attention = attention(queries: tokens, keys: tokens, layers: layers, heads: heads, seed: 11, links: [(5, 60), (20, 100)])
        return Trace(inputs: TraceInputs(a: text), tokens: tokens, stacks: [.encoder: AttentionStack(attention: attention)],
                     provenance: Provenance(model: "synthetic/long", architecture: "bert"))
    }

    /// An encoder-decoder trace (a translation) with encoder, decoder (causal) and cross stacks.
    static func seq2seq() -> Trace {
        func pieces(_ words: [String], segment: Int) -> [TraceToken] {
            words.enumerated().map { index, word in
                TraceToken(text: word, display: word.replacingOccurrences(of: "▁", with: ""), id: 500 + index,
                           word: word == "</s>" || word == "<pad>" ? nil : index, segment: segment,
                           special: word == "</s>" || word == "<pad>")
            }
        }
        let encoder = pieces(["▁The", "▁environment", "al", "▁scientists", "▁have", "▁discovered", "▁that", "▁climate", "▁change",
                              "▁is", "▁affecting", "▁biodiversity", ".", "</s>"], segment: 0)
        let decoder = pieces(["<pad>", "▁Die", "▁Umwelt", "wissenschaftler", "▁haben", "▁entdeckt", ",", "▁dass", "▁der", "▁Klimawandel",
                              "▁die", "▁Artenvielfalt", "▁beeinflusst", ".", "</s>"], segment: 0)
        let stacks: [StackKind: AttentionStack] = [
            .encoder: AttentionStack(attention: attention(queries: encoder, keys: encoder, layers: 2, heads: 4, seed: 3)),
            .decoder: AttentionStack(attention: attention(queries: decoder, keys: decoder, layers: 2, heads: 4, seed: 4, causal: true)),
            .cross: AttentionStack(attention: attention(queries: decoder, keys: encoder, layers: 2, heads: 4, seed: 5, alignment: [
                [0], [0], [1, 2], [3], [4], [5], [6], [6], [7], [7, 8], [11], [11], [10], [12], [13],
            ])),
        ]
        return Trace(inputs: TraceInputs(a: "The environmental scientists have discovered that climate change is affecting biodiversity.",
                                         decoder: "Die Umweltwissenschaftler haben entdeckt, dass der Klimawandel die Artenvielfalt beeinflusst."),
                     tokens: encoder, decoderTokens: decoder, stacks: stacks,
                     provenance: Provenance(model: "synthetic/made-up-translation", architecture: "marian"))
    }

    /// `count` noisy copies of one head's attention (runs with different seeds), `[count, n, n]`.
    static func runs(of trace: Trace, layer: Int, head: Int, count: Int, noise: Double = 0.25) -> Tensor {
        let attention = trace.stacks[.encoder]!.attention
        let base = attention[layer][head]
        let n = base.shape[0]
        var random = Random(state: 99)
        var all: [Float] = []
        for _ in 0 ..< count {
            for q in 0 ..< n {
                var row = (0 ..< n).map { Double(base[q, $0]) * (1 + noise * (random.next() * 2 - 1)) }
                let sum = row.reduce(0, +)
                row = row.map { $0 / sum }
                all += row.map(Float.init)
            }
        }
        return Tensor(shape: [count, n, n], scalars: all)
    }

    /// `count` checkpoints moving from uniform attention to one head's attention, `[count, n, n]`.
    static func checkpoints(of trace: Trace, layer: Int, head: Int, count: Int) -> Tensor {
        let base = trace.stacks[.encoder]!.attention[layer][head]
        let n = base.shape[0]
        var all: [Float] = []
        for step in 0 ..< count {
            let t = Float(step) / Float(max(count - 1, 1))
            all += base.scalars.map { (1 - t) / Float(n) + t * $0 }
        }
        return Tensor(shape: [count, n, n], scalars: all)
    }
}
