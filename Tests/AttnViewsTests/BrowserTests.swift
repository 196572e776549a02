import AttnCore
import AttnDiff
import Foundation
import Testing
@testable import AttnViews

/// Each view opened in headless Chromium for a sentence, a pair, an encoder-decoder trace and a
/// 512-token trace: the page's `#selftest` performs the interactions (select a layer, toggle and
/// solo heads, hover and pin tokens, switch the sentence filter or the stack, change threshold
/// and top-k, export) and reports what was drawn; no console error may occur.
@Suite(.serialized)
struct BrowserTests {
    enum Scenario: String, CaseIterable, CustomTestStringConvertible {
        case single, pair, encoderDecoder = "encoder-decoder", long
        var testDescription: String { rawValue }

        var trace: Trace {
            switch self {
            case .single: SyntheticTraces.single()
            case .pair: SyntheticTraces.pair()
            case .encoderDecoder: SyntheticTraces.encoderDecoder()
            case .long: SyntheticTraces.long()
            }
        }
    }

    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-view-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Screenshots go here; set ATTNLAB_SCREENSHOTS to keep them somewhere else.
    static let screenshots: URL = {
        let url = ProcessInfo.processInfo.environment["ATTNLAB_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
            ?? folder.appendingPathComponent("screenshots")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static let traces: [Scenario: Trace] = Dictionary(uniqueKeysWithValues: Scenario.allCases.map { ($0, $0.trace) })

    func page(_ scenario: Scenario, _ view: ViewKind, _ options: ViewOptions = ViewOptions(), name: String? = nil) throws -> URL {
        let url = Self.folder.appendingPathComponent("\(name ?? "\(scenario.rawValue)-\(view.rawValue)").html")
        try ViewRenderer.write(Self.traces[scenario]!, view: view, options: options, to: url)
        return url
    }

    func expectPassed(_ result: Chromium.SelfTest, expecting names: [String], _ label: String) {
        #expect(result.errors.isEmpty, "\(label): console errors \(result.errors)")
        #expect(result.failures.isEmpty, "\(label): failed checks \(result.failures)")
        let missing = Set(names).subtracting(result.checkNames)
        #expect(missing.isEmpty, "\(label): checks not run \(missing.sorted())")
        #expect(result.passed, "\(label)")
    }

    static let common = ["first draw", "no markup from tokens", "export SVG", "export PNG"]

    @Test(arguments: Scenario.allCases)
    func headView(_ scenario: Scenario) throws {
        let result = try Chromium.selfTest(try page(scenario, .head))
        var names = ["first draw", "no markup from tokens", "tokens shown", "head squares", "lines drawn for every head", "canvas painted",
                     "raw token on hover", "select layer", "toggle head off", "toggle head on", "double-click solos", "hover isolates lines",
                     "hover shades the other side per head", "S exports the hovered token", "leaving restores all lines", "hover a key isolates its lines", "click pins a token",
                     "export SVG", "export PNG", "click again unpins", "threshold hides weak lines", "top-k per token"]
        if scenario == .pair {
            names += ["filter A → A", "filter B → B", "filter A → B", "filter B → A", "filter All restores", "export keeps token text as text"]
        }
        if scenario == .encoderDecoder { names += ["stack encoder", "stack decoder", "stack cross"] }
        expectPassed(result, expecting: names, "head view, \(scenario)")

        // The page reads the matrices the right way round: token 2's strongest key, per designed head.
        let stack = Self.traces[scenario]!.stacks[.encoder]!
        let keys = stack.attention.shape[3]
        let strongest = result.facts.first { $0.key.hasPrefix("strongest key from token 2") }?.value as? [String: Int] ?? [:]
        #expect(!strongest.isEmpty, "no strongest-key facts")
        for (head, key) in strongest {
            switch (Int(head)! % 4) {
            case 0: #expect(key == keys - 1, "sink head \(head) should attend to the last token")
            case 1: #expect(key == 1, "previous-token head \(head)")
            case 2: #expect(key == 2, "diagonal head \(head)")
            default: break
            }
        }
        if scenario == .long { print("head view, 512 tokens: first draw at \(Int(result.firstDrawMilliseconds ?? -1)) ms after navigation") }
        try screenshot(scenario, .head, ViewOptions(layer: 1, selectedHeads: [0, 1, 2], token: 2))
    }

    @Test(arguments: Scenario.allCases)
    func modelView(_ scenario: Scenario) throws {
        let result = try Chromium.selfTest(try page(scenario, .model))
        var names = ["first draw", "no markup from tokens", "grid of layers × heads", "axes keep the model's numbers", "every thumbnail drawn",
                     "lines thumbnails", "click opens the cell", "open cell has the thumbnail's lines", "hover in the open cell",
                     "export the open cell", "Escape closes it", "threshold thins thumbnails", "top-k thins thumbnails", "export SVG of the grid",
                     "export PNG of the grid", "export SVG of matrices"]
        names.append(scenario == .long ? "switch thumbnails to lines" : "switch thumbnails to matrix")
        if scenario == .pair { names += ["filter A → A", "filter B → B", "filter A → B", "filter B → A"] }
        if scenario == .encoderDecoder { names += ["stack encoder", "stack decoder", "stack cross"] }
        expectPassed(result, expecting: names, "model view, \(scenario)")
        if scenario == .long { print("model view, 512 tokens: first draw at \(Int(result.firstDrawMilliseconds ?? -1)) ms after navigation") }
        try screenshot(scenario, .model, ViewOptions())
    }

    @Test(arguments: Scenario.allCases)
    func neuronView(_ scenario: Scenario) throws {
        let result = try Chromium.selfTest(try page(scenario, .neuron))
        var names = ["first draw", "no markup from tokens", "tokens shown", "vectors drawn", "α is a distribution", "hover a token makes it the query",
                     "select layer", "select head", "export SVG", "export PNG", "hover a key row shows its numbers"]
        if scenario == .encoderDecoder { names += ["stack encoder", "stack decoder", "stack cross"] }
        expectPassed(result, expecting: names, "neuron view, \(scenario)")

        // α is softmax(q·k/√d) here, and the sink head attends to the last token but moves little there.
        let keys = Self.traces[scenario]!.stacks[.encoder]!.attention.shape[3]
        let perHead = result.facts.first { $0.key.hasPrefix("layer ") }?.value as? [String: [String: Double]] ?? [:]
        #expect(!perHead.isEmpty, "no per-head facts")
        for (head, facts) in perHead {
            #expect(facts["softmaxGap"]! < 0.02, "head \(head): α differs from softmax(q·k/√d) by \(facts["softmaxGap"]!)")
            if Int(head)! % 4 == 0 {
                #expect(Int(facts["alphaTop"]!) == keys - 1, "sink head \(head) attends most to the last token")
                #expect(facts["alphaTopShare"]! < facts["alphaTopWeight"]! / 4,
                        "sink head \(head) takes \(facts["alphaTopWeight"]!) of the attention to the last token but moves \(facts["alphaTopShare"]!) from it")
            }
        }
        try screenshot(scenario, .neuron, ViewOptions(layer: 1, selectedHeads: [0], token: 2))
    }

    /// A causal decoder: α is 0 for future keys, and the page says they are masked instead of
    /// reporting a mismatch with the softmax.
    @Test func neuronViewOfACausalStack() throws {
        let result = try Chromium.selfTest(try page(.encoderDecoder, .neuron, ViewOptions(stack: .decoder), name: "decoder-neuron"))
        expectPassed(result, expecting: Self.common, "neuron view, decoder")
        let perHead = result.facts.first { $0.key.hasPrefix("layer ") }?.value as? [String: [String: Double]] ?? [:]
        #expect(!perHead.isEmpty)
        for (head, facts) in perHead {
            #expect(facts["softmaxGap"]! > 0.02, "head \(head): the plain softmax should differ (keys after the query are masked)")
            #expect(facts["maskedGap"]! < 0.02, "head \(head): over unmasked keys α is the softmax")
        }
    }

    /// The compare view of a pair and a perturbed copy ("sick" → "fine", other attention): three
    /// matrices on one colour scale and their difference, recomputed by the page from the stored
    /// weights and checked here against the word alignment's own matrices; hover, layer, head, the
    /// ranking of heads and both line diagrams driven; in dark and light mode.
    @Test(arguments: [DisplayMode.dark, .light])
    func compareView(_ mode: DisplayMode) throws {
        let base = Self.traces[.pair]!, variant = SyntheticTraces.perturbedPair()
        let url = Self.folder.appendingPathComponent("compare-\(mode.rawValue).html")
        try ViewRenderer.writeComparison(base: base, variant: variant, options: ViewOptions(mode: mode), names: ("pair/sick", "pair/fine"), to: url)
        let result = try Chromium.selfTest(url, windowSize: (1280, 900))
        expectPassed(result, expecting: Self.common + ["three panels drawn", "one colour scale for A and B", "difference is B − A", "changed words marked",
                                                       "hover a cell reads A, B and B − A", "select layer", "select head", "ranking jumps to the head",
                                                       "lines on both sides", "hover follows the word across"], "compare view, \(mode)")
        #expect(result.facts["changed words"] as? [String] == ["sick→fine"])
        // The page opened on the head `attnlab diff` ranks first, and its largest change is the alignment's.
        let diff = try TraceDiff.compare(base, variant)
        let largest = try #require(result.facts["largest change"] as? [String: Any])
        let (layer, head) = (largest["layer"] as? Int ?? -1, largest["head"] as? Int ?? -1)
        #expect(layer == diff.heads[0].layer && head == diff.heads[0].head)
        let a = try diff.alignment.wordMatrix(TraceDiff.headMatrix(base.stacks[.encoder]!.attention, layer: layer, head: head), side: .a)
        let b = try diff.alignment.wordMatrix(TraceDiff.headMatrix(variant.stacks[.encoder]!.attention, layer: layer, head: head), side: .b)
        let deltas = zip(a.scalars, b.scalars).map { Double($1 - $0) }
        let strongest = deltas.indices.max { abs(deltas[$0]) < abs(deltas[$1]) }!
        // The page reads weights stored in 8 bits (√-scaled): within 0.01 of the trace's.
        #expect(abs((largest["b"] as? Double ?? 0) - (largest["a"] as? Double ?? 0) - deltas[strongest]) < 0.01,
                "page \(largest), alignment Δ \(deltas[strongest])")
        try screenshotPage(url, name: "compare-\(mode.rawValue)", size: (1280, 900))
    }

    /// A page opened on the last layer: the self-test switches to another one (it used to pick
    /// "the last layer", which changed nothing, and failed).
    @Test(arguments: [ViewKind.head, .neuron])
    func selfTestOfAPageOpenedOnTheLastLayer(_ view: ViewKind) throws {
        let trace = Self.traces[.single]!
        let last = trace.stacks[.encoder]!.layerCount - 1
        let result = try Chromium.selfTest(try page(.single, view, ViewOptions(layer: last), name: "last-layer-\(view.rawValue)"))
        expectPassed(result, expecting: ["select layer"], "\(view) view opened on layer \(last)")
    }

    /// In a window 1,280 pixels wide, the neuron view shows α and ‖α·v‖ without scrolling
    /// sideways, for heads of 64 and 128 dimensions and long token labels; and hidden heads stay
    /// visible in light mode.
    @Test(arguments: [64, 128])
    func neuronViewFitsA1280PixelWindow(headDim: Int) throws {
        let words = ["internationalisation", "counterrevolutionaries", "the", "uncharacteristically", "sat"]
        let tokens = SyntheticTraces.bertTokens(a: words, b: nil)
        let trace = SyntheticTraces.make(tokens: tokens, inputs: TraceInputs(a: words.joined(separator: " ")), layers: 2, heads: 4, headDim: headDim, seed: 9)
        let url = Self.folder.appendingPathComponent("wide-neuron-\(headDim).html")
        try ViewRenderer.write(trace, view: .neuron, options: ViewOptions(mode: .light), to: url)
        let result = try Chromium.selfTest(url, windowSize: (1280, 800))
        expectPassed(result, expecting: ["α fits the window"], "neuron view, head size \(headDim)")
        #expect(result.facts["window width"] as? Int == 1280)
        let head = Self.folder.appendingPathComponent("light-head.html")
        try ViewRenderer.write(Self.traces[.pair]!, view: .head, options: ViewOptions(mode: .light), to: head)
        expectPassed(try Chromium.selfTest(head), expecting: ["hidden head stays visible"], "head view, light mode")
    }

    /// --layers / --heads keep only some layers and heads; the axes keep the model's numbers.
    @Test func modelViewOfSomeLayersAndHeadsInLightMode() throws {
        let options = ViewOptions(mode: .light, includeLayers: [1, 4], includeHeads: [0, 5, 11])
        let result = try Chromium.selfTest(try page(.long, .model, options, name: "long-model-some"))
        expectPassed(result, expecting: ["axes keep the model's numbers", "every thumbnail drawn"], "model view, some layers")
        #expect(result.facts["layers"] as? [Int] == [1, 4])
        #expect(result.facts["heads"] as? [Int] == [0, 5, 11])
    }

    /// Two tokens, one layer, one head: every view starts and its self-test passes.
    @Test(arguments: ViewKind.traceViews)
    func tinyTrace(_ view: ViewKind) throws {
        let url = Self.folder.appendingPathComponent("tiny-\(view.rawValue).html")
        if view == .compare {
            try ViewRenderer.writeComparison(base: SyntheticTraces.tiny(), variant: SyntheticTraces.tiny(), to: url)
        } else {
            try ViewRenderer.write(SyntheticTraces.tiny(), view: view, to: url)
        }
        expectPassed(try Chromium.selfTest(url), expecting: ["first draw"], "\(view) view of two tokens")
    }

    /// Inside a notebook output cell the page is an iframe `srcdoc`, often sandboxed: it must run
    /// there too (the self-test reports to the parent by message).
    @Test(arguments: [ViewKind.head, .model, .neuron])
    func worksAsSandboxedIframeSrcdoc(_ view: ViewKind) throws {
        let html = String(decoding: try ViewRenderer.render(Self.traces[.pair]!, view: view), as: UTF8.self)
        let wrapper = """
        <!doctype html><html><body>
        <pre id="attnlab-selftest-wrapper">waiting</pre>
        <script>
        window.addEventListener('message', (event) => {
          if (!event.data || !event.data.attnlabSelftest) return;
          const out = document.createElement('pre');
          out.id = 'attnlab-selftest';
          out.textContent = JSON.stringify(event.data.attnlabSelftest);
          document.body.append(out);
        });
        </script>
        <iframe name="attnlab-selftest" sandbox="allow-scripts" style="width:1000px;height:800px" srcdoc="\(Markup.escape(html))"></iframe>
        </body></html>
        """
        let url = Self.folder.appendingPathComponent("iframe-\(view.rawValue).html")
        try Data(wrapper.utf8).write(to: url)
        let dom = try Chromium.run(["--virtual-time-budget=60000", "--dump-dom", url.absoluteString])
        let result = try Chromium.parseSelfTest(dom: dom)
        expectPassed(result, expecting: ["first draw", "no markup from tokens"], "\(view) view in a sandboxed srcdoc iframe")
    }

    func screenshot(_ scenario: Scenario, _ view: ViewKind, _ options: ViewOptions) throws {
        let url = try page(scenario, view, options, name: "shot-\(scenario.rawValue)-\(view.rawValue)")
        try screenshotPage(url, name: "view-\(view.rawValue)-\(scenario.rawValue)")
    }

    func screenshotPage(_ url: URL, name: String, size: (Int, Int) = (1000, 700)) throws {
        let file = Self.screenshots.appendingPathComponent("\(name).png")
        try Chromium.screenshot(url, to: file, width: size.0, height: size.1)
        let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
        // A blank page compresses to a few kilobytes; a drawn view does not.
        #expect(size > 15_000, "screenshot \(file.path) is \(size) bytes: is the view blank?")
    }
}
