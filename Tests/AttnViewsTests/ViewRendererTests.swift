import AttnCore
import Foundation
import Testing
@testable import AttnViews

/// What `ViewRenderer.render` puts in a page, checked without a browser.
struct ViewRendererTests {
    @Test func pageIsSelfContained() throws {
        for view in ViewKind.allCases where view != .scan {
            let page = view == .compare ? try ViewRenderer.renderComparison(base: SyntheticTraces.single(), variant: SyntheticTraces.single())
                : try ViewRenderer.render(SyntheticTraces.single(), view: view)
            let html = String(decoding: page, as: UTF8.self)
            #expect(html.hasPrefix("<!doctype html>"))
            // Nothing is fetched: no external script, stylesheet, font or image.
            // (The SVG namespace is a name, not an address anything is fetched from.)
            let withoutNamespace = html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            for pattern in ["<script src", "<link", "http://", "https://", "@import", "url("] {
                #expect(!withoutNamespace.contains(pattern), "\(view) page contains \(pattern)")
            }
            #expect(html.contains("<script type=\"application/json\" id=\"attnlab-payload\">"))
            #expect(html.contains("AttnLab.boot('\(view.rawValue)')"))
        }
    }

    @Test func resourcesCannotCloseTheirScriptElement() throws {
        for name in ["core.js", "diagram.js", "head.js", "model.js", "neuron.js", "head.selftest.js", "model.selftest.js",
                     "neuron.selftest.js", "scan.js", "scan.selftest.js", "views.css"] {
            let text = try Resources.text(name).lowercased()
            #expect(!text.contains("</script"), "\(name) contains </script")
            #expect(!text.contains("<!--"), "\(name) contains <!--")
            #expect(!text.contains("</style"), "\(name) contains </style")
        }
    }

    @Test func tokensCannotBecomeMarkup() throws {
        let trace = SyntheticTraces.pair()
        let page = try ViewRenderer.render(trace, view: .head, options: ViewOptions(title: "a </title><script>window.__attnlabInjected=1</script>"))
        let reader = try PageReader(page)
        // The payload holds no character that could end the script element or open a comment in it.
        for forbidden in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            #expect(!reader.payloadText.contains(forbidden), "payload contains \(forbidden.unicodeScalars.first!.value)")
        }
        #expect(!reader.html.contains("<img"))
        #expect(reader.html.contains("<title>AttnLab head view: a &lt;/title&gt;&lt;script&gt;"))
        // The values survive: the token's text reads back exactly.
        let tokens = (reader.fields["tokens"] as! [String: Any])["input"] as! [[String: Any]]
        #expect(tokens.contains { $0["text"] as? String == SyntheticTraces.xssText })
        #expect(tokens.contains { $0["text"] as? String == "song\u{2028}x" })
    }

    @Test func attentionRoundTripsWithinQuantisation() throws {
        let trace = SyntheticTraces.pair()
        let reader = try PageReader(try ViewRenderer.render(trace, view: .model))
        let raw = try reader.raw()
        let stack = reader.stack("encoder")!
        let section = stack["attention"] as! [String: Any]
        let attention = trace.stacks[.encoder]!.attention
        #expect(section["count"] as? Int == attention.count)
        let offset = section["offset"] as! Int
        var outside = 0
        for index in 0 ..< attention.count {
            let byte = Float(raw[offset + index]) / 255
            let stored = byte * byte, exact = attention.scalars[index]
            // b/255 is within 0.5/255 of √a, so (b/255)² is within (0.5/255)·(2√a + 0.5/255) of a.
            let bound = (0.5 / 255) * (2 * exact.squareRoot() + 0.5 / 255) + 1e-6
            if abs(stored - exact) > bound { outside += 1 }
        }
        #expect(outside == 0, "\(outside) weights outside the quantisation bound")
        // 1/512, the weight of uniform attention over 512 tokens, does not round to zero.
        #expect(BlobBuilder.quantised(1 / 512) > 0)
    }

    @Test func queriesKeysAndValuesRoundTripAsHalfFloats() throws {
        let trace = SyntheticTraces.encoderDecoder()
        let reader = try PageReader(try ViewRenderer.render(trace, view: .neuron, options: ViewOptions(includeLayers: [1], includeHeads: [2, 3])))
        let raw = try reader.raw()
        let cross = reader.stack("cross")!
        #expect(cross["layers"] as? [Int] == [1] && cross["heads"] as? [Int] == [2, 3])
        let section = cross["key"] as! [String: Any]
        let key = trace.stacks[.cross]!.key!     // [layers, heads, encoder tokens, d]
        let (n, d) = (key.shape[2], key.shape[3])
        let perLayer = 2 * n * d
        let offset = section["offset"] as! Int
        for (slot, head) in [2, 3].enumerated() {
            for index in 0 ..< n * d {
                let low = raw[offset + slot * n * d + index], high = raw[offset + perLayer + slot * n * d + index]
                let value = Float(Float16(bitPattern: UInt16(low) | UInt16(high) << 8))
                let exact = key.scalars[((1 * key.shape[1] + head) * n) * d + index]
                #expect(abs(value - exact) <= abs(exact) / 1024 + 1e-4)
            }
        }
        #expect(cross["keyValueHeads"] as? [Int] == [2, 3])
        let scales = try #require(cross["scoreScales"] as? [Double])
        #expect(scales.count == 1 && abs(scales[0] - 1 / 4.0) < 1e-12, "1/√16")
    }

    /// With grouped-query attention the page holds keys and values per key/value head, and the
    /// scales the trace states (GPT-2 dividing by the layer), not a guess from the architecture.
    @Test func groupedKeyValueHeadsAndStatedScalesReachThePage() throws {
        var trace = SyntheticTraces.encoderDecoder()
        var stack = trace.stacks[.cross]!
        let key = stack.key!   // [layers, heads, n, d] → keep heads 0 and 2 as two key/value heads of a group of 2
        let (layers, heads, n, d) = (key.shape[0], key.shape[1], key.shape[2], key.shape[3])
        func grouped(_ t: Tensor) -> Tensor {
            var scalars: [Float] = []
            for l in 0 ..< layers { for h in stride(from: 0, to: heads, by: 2) { scalars += t[l][h].scalars } }
            return Tensor(shape: [layers, heads / 2, n, d], scalars: scalars)
        }
        stack.key = grouped(key)
        stack.value = grouped(stack.value!)
        stack.geometry = AttentionGeometry(scales: (0 ..< layers).map { 0.25 / Float($0 + 1) }, keyValueHeads: heads / 2)
        trace.stacks[.cross] = stack
        try TraceFile.validate(trace, path: "grouped")
        let reader = try PageReader(try ViewRenderer.render(trace, view: .neuron, options: ViewOptions(includeLayers: [1], includeHeads: [2, 3])))
        let cross = reader.stack("cross")!
        #expect(cross["keyValueHeads"] as? [Int] == [1])
        #expect(cross["keyValueGroup"] as? Int == 2)
        let scales = try #require(cross["scoreScales"] as? [Double])
        #expect(abs(scales[0] - 0.125) < 1e-7)
    }

    @Test func includedLayersAndHeadsKeepTheModelsNumbers() throws {
        let trace = SyntheticTraces.long(tokens: 16, layers: 6, heads: 12, withQKV: false)
        let reader = try PageReader(try ViewRenderer.render(trace, view: .model, options: ViewOptions(includeLayers: [4, 1], includeHeads: [11, 0, 5])))
        let stack = reader.stack("encoder")!
        #expect(stack["layers"] as? [Int] == [1, 4])
        #expect(stack["heads"] as? [Int] == [0, 5, 11])
        #expect(stack["modelLayers"] as? Int == 6 && stack["modelHeads"] as? Int == 12)
        // Only what is included is in the file.
        #expect((reader.fields["data"] as! [String: Any])["length"] as? Int == 2 * 3 * 16 * 16)
    }

    @Test func initialSelectionIsRecorded() throws {
        let trace = SyntheticTraces.encoderDecoder()
        let reader = try PageReader(try ViewRenderer.render(trace, view: .head, options: ViewOptions(
            mode: .light, stack: .cross, layer: 1, selectedHeads: [3, 1], token: 2, threshold: 0.05, topK: 3)))
        let initial = reader.fields["initial"] as! [String: Any]
        #expect(initial["stack"] as? String == "cross")
        #expect(initial["layer"] as? Int == 1)
        #expect(initial["heads"] as? [Int] == [1, 3])
        #expect(initial["token"] as? Int == 2)
        #expect(initial["threshold"] as? Double == 0.05)
        #expect(initial["topK"] as? Int == 3)
        #expect(reader.html.contains("<body class=\"attnlab mode-light view-head\">"))
        let pair = try PageReader(try ViewRenderer.render(SyntheticTraces.pair(), view: .model, options: ViewOptions(sentences: .bToA)))
        #expect((pair.fields["initial"] as! [String: Any])["filter"] as? String == "ba")
    }

    @Test func sameTraceGivesTheSameBytes() throws {
        let trace = SyntheticTraces.pair()
        #expect(try ViewRenderer.render(trace, view: .neuron) == ViewRenderer.render(trace, view: .neuron))
    }

    @Test(arguments: [
        (ViewOptions(layer: 3), "layer 3 is out of range: the encoder stack has 3 layers (0–2)"),
        (ViewOptions(selectedHeads: [4]), "head 4 is out of range: the model has 4 heads per layer (0–3)"),
        (ViewOptions(includeHeads: [0, 9]), "--heads names head 9, but the model has 4 heads (0–3)"),
        (ViewOptions(includeLayers: [5]), "--layers names layer 5, but the model has 3 layers (0–2)"),
        (ViewOptions(includeLayers: [0, 1], layer: 2), "layer 2 is not among the included layers (0,1)"),
        (ViewOptions(stack: .cross), "the trace has no cross stack (it has encoder)"),
        (ViewOptions(token: 8), "token 8 is out of range: the encoder stack has 8 query tokens (0–7)"),
        (ViewOptions(threshold: 1.5), "threshold 1.5 is not a weight: it must lie between 0 and 1"),
        (ViewOptions(topK: -1), "top-k -1 is negative"),
        (ViewOptions(sentences: .aToB), "--sentences a-b needs a sentence pair, and this trace has one sentence"),
    ])
    func badOptionsAreClearErrors(options: ViewOptions, message: String) throws {
        let error = #expect(throws: CoreError.self) { try ViewRenderer.render(SyntheticTraces.single(), view: .head, options: options) }
        #expect(error?.message == message)
        #expect(error?.hint != nil)
    }

    @Test func neuronViewWithoutQueriesAndKeysNamesTheCaptureFlag() throws {
        let error = #expect(throws: CoreError.self) { try ViewRenderer.render(SyntheticTraces.attentionOnly(), view: .neuron) }
        #expect(error?.description.contains("--capture attention,qkv") == true, "\(String(describing: error))")
        // The head and model views need only attention.
        _ = try ViewRenderer.render(SyntheticTraces.attentionOnly(), view: .head)
    }

    @Test func failedWriteLeavesNoFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-view-\(UUID().uuidString).html")
        #expect(throws: CoreError.self) { try ViewRenderer.write(SyntheticTraces.attentionOnly(), view: .neuron, to: url) }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        try ViewRenderer.write(SyntheticTraces.single(), view: .head, to: url)
        #expect(FileManager.default.fileExists(atPath: url.path))
        try FileManager.default.removeItem(at: url)
    }

    /// The issue's size targets for a 6 × 12 model (all-MiniLM-L6-v2's shape).
    @Test func pageSizesStayWithinTheTargets() throws {
        let short = try ViewRenderer.render(SyntheticTraces.long(tokens: 128, withQKV: false), view: .model)
        #expect(short.count <= 2_000_000, "128 tokens: \(short.count) bytes")
        let long = try ViewRenderer.render(SyntheticTraces.long(tokens: 512, withQKV: false), view: .model)
        #expect(long.count <= 25_000_000, "512 tokens: \(long.count) bytes")
    }

    /// The compare view takes two traces of one model: a single trace, or traces with other heads,
    /// are refused with what to do; the page carries the variant's tokens and the changed words.
    @Test func theCompareViewNeedsTwoTracesOfOneModel() throws {
        #expect { try ViewRenderer.render(SyntheticTraces.pair(), view: .compare) } throws: { "\($0)".contains("needs two traces") }
        #expect { try ViewRenderer.renderComparison(base: SyntheticTraces.pair(), variant: SyntheticTraces.single()) } throws: {
            "\($0)".contains("2 × 4 and 3 × 4 heads")
        }
        let page = String(decoding: try ViewRenderer.renderComparison(base: SyntheticTraces.pair(), variant: SyntheticTraces.perturbedPair(),
                                                                       names: ("pair/sick", "pair/fine")), as: UTF8.self)
        #expect(page.contains("AttnLab.boot('compare')"))
        #expect(page.contains(#""changedTo":"fine""#) && page.contains(#""names":["pair\/sick","pair\/fine"]"#))
    }
}

