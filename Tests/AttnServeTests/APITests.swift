import AttnCore
import AttnDiff
import AttnExperiments
import AttnModels
import AttnViews
import Foundation
import Testing
@testable import AttnServe

/// The API gives what the library gives: the same traces, diffs, scans and views as the commands,
/// and saves experiments the parser reads.
@Suite(.serialized)
struct APITests {
    static let miniLM = "sentence-transformers/all-MiniLM-L6-v2"
    static let model: LoadedModel = try! LoadedModel(miniLM, locator: ModelLocator(roots: [ServerHarness.repository.appendingPathComponent("Models")],
                                                                                 hubCaches: []))

    static func request(_ a: String, _ b: String?) -> TraceRequest {
        TraceRequest(a: a, b: b, task: .similarity, capture: [.qkv])
    }

    static func trace(_ server: ServerHarness, _ id: String) async throws -> Trace {
        let file = try await server.request("/api/trace/\(id).safetensors")
        #expect(file.status == 200)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-served-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.body.write(to: url)
        return try TraceFile.read(url)
    }

    @Test func analyzeGivesWhatTheLibraryGives() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let result = try await server.post("/api/analyze", Eminem.analyze())
            #expect(result.status == 200, "\(result.text.prefix(300))")
            let json = result.json
            #expect(json["task"] as? String == "similarity")
            let variants = try #require(json["variants"] as? [[String: Any]])
            #expect(variants.map { $0["name"] as? String } == ["sick", "terrific"])
            #expect(variants.map { $0["label"] as? String } == ["not-paraphrase", "paraphrase"])
            #expect(variants[1]["b"] as? String == "dude, that song from eminem was terrific!")

            // The traces are `LoadedModel.trace`'s, to the bit.
            let direct = [try Self.model.trace(Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was sick!")),
                          try Self.model.trace(Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was terrific!"))]
            for (variant, expected) in zip(variants, direct) {
                let served = try await Self.trace(server, try #require(variant["trace"] as? String))
                #expect(served.outputs == expected.outputs)
                #expect(served.stacks == expected.stacks)
                #expect(served.tokens == expected.tokens)
                // JSONSerialization rounds some doubles on Linux; JSONDecoder reads them exactly.
                let outputs = try JSONDecoder().decode(TraceOutputs.self, from: try JSONSerialization.data(withJSONObject: try #require(variant["outputs"])))
                #expect(abs((outputs.similarity ?? 0) - (expected.outputs.similarity ?? 1)) < 1e-15)
            }
            // The README's numbers.
            #expect(abs((direct[0].outputs.similarity ?? 0) - 0.6790) < 5e-5)
            #expect(abs((direct[1].outputs.similarity ?? 0) - 0.8088) < 5e-5)

            // The diff is `attnlab diff`'s.
            let diff = try #require(json["diff"] as? [String: Any])
            let expected = try TraceDiff.compare(direct[0], direct[1])
            let heads = try #require(diff["heads"] as? [[String: Any]])
            #expect(heads.prefix(3).map { [$0["layer"] as? Int, $0["head"] as? Int] } == expected.heads.prefix(3).map { [$0.layer, $0.head] })
            #expect(abs((heads.first?["js_divergence"] as? Double ?? 0) - (expected.heads.first?.jsDivergence ?? 1)) < 1e-15)
            let words = try #require(diff["words"] as? [[String: Any]])
            #expect(words.first?["text"] as? String == expected.words.first?.text)
            #expect((diff["changed"] as? [[String?]])?.first == ["sick", "terrific"])
        }
    }

    @Test func interventionsAreInterventionRunnersAndNamedAsVariants() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let entry: [String: Any] = ["id": "no-5.4", "intervention": ["kind": "ablate", "heads": ["5.4", "4.11"], "mode": "mean"]]
            let result = try await server.post("/api/analyze", Eminem.analyze(intervention: entry))
            #expect(result.status == 200, "\(result.text.prefix(300))")
            let variants = try #require(result.json["variants"] as? [[String: Any]])
            #expect(variants.map { $0["name"] as? String } == ["sick", "terrific", "sick+no-5.4", "terrific+no-5.4"])
            #expect(variants.map { $0["path"] as? String }.last == "eminem/terrific+no-5.4")
            let intervention = Intervention.ablate([HeadRef(layer: 5, head: 4), HeadRef(layer: 4, head: 11)], mode: .mean)
            let base = Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was sick!")
            let variant = Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was terrific!")
            // Mean ablation averages over the experiment's base input, for every variant.
            for (served, request) in zip(variants.suffix(2), [base, variant]) {
                let expected = try InterventionRunner.trace(request, interventions: [intervention], model: Self.model, meanReference: [base])
                let trace = try await Self.trace(server, try #require(served["trace"] as? String))
                #expect(trace.outputs == expected.outputs)
                #expect(trace.stacks == expected.stacks)
                #expect(trace.interventions == [intervention])
            }
            #expect(result.json["interventionDiff"] != nil)
            // A head the model does not have is the runner's own error.
            let bad: [String: Any] = ["intervention": ["kind": "ablate", "heads": ["9.4"]]]
            let refused = try await server.post("/api/analyze", Eminem.analyze(intervention: bad))
            #expect(refused.status == 400)
            #expect((refused.json["error"] as? String)?.contains("layer 9 is out of range") == true)
        }
    }

    @Test func perturbationsAreTheExperimentsOwn() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let cases: [([String: Any], String)] = [
                (["id": "no-dude", "kind": "delete", "word": "dude", "in": "b"], ", that song from eminem was sick!"),
                (["id": "mask-sick", "kind": "mask", "word": "sick", "in": "b"], "dude, that song from eminem was [MASK]!"),
                (["id": "really", "kind": "insert", "word": "sick", "text": "really", "in": "b"], "dude, that song from eminem was really sick!"),
                (["id": "SICK", "kind": "replace", "word": "SICK", "with": "fine", "in": "b"], "dude, that song from eminem was fine!"),
            ]
            for (perturbation, expected) in cases {
                let result = try await server.post("/api/analyze", Eminem.analyze(perturbation: perturbation))
                #expect(result.status == 200, "\(perturbation): \(result.text.prefix(200))")
                let variants = result.json["variants"] as? [[String: Any]] ?? []
                #expect(variants.last?["b"] as? String == expected)
                let spec = try JSONDecoder().decode(ExperimentDraft.Perturbation.self, from: try JSONSerialization.data(withJSONObject: perturbation)).spec()
                let input = ExperimentDraft.Input(id: "eminem", a: Eminem.input["a"] as! String, b: Eminem.input["b"] as? String, base: "sick").spec
                #expect(spec.apply(to: input, maskToken: "[MASK]")?.b == expected)
            }
            let missing = try await server.post("/api/analyze", Eminem.analyze(perturbation: ["id": "x", "kind": "replace", "word": "awesome", "with": "good", "in": "b"]))
            #expect(missing.status == 400)
            #expect(missing.json["error"] as? String == "no word \"awesome\" in sentence B")
        }
    }

    @Test func aNewerRequestOfTheLaneSupersedesTheOlder() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            _ = try await server.post("/api/analyze", Eminem.analyze())  // loads the model
            let long = String(repeating: "awesome ", count: 250)
            var slow = Eminem.analyze(perturbation: nil)
            slow["input"] = ["id": "x", "a": long, "b": long]
            let first = Task { try await server.post("/api/analyze?session=s1&lane=analyze", slow) }
            // The newer request must reach the lane after the older one, however loaded the machine.
            while !server.server.lanes.isActive(session: "s1", lane: "analyze") { try await Task.sleep(for: .milliseconds(5)) }
            let second = try await server.post("/api/analyze?session=s1&lane=analyze", Eminem.analyze())
            #expect(second.status == 200)
            let superseded = try await first.value
            #expect(superseded.status == 409, "\(superseded.status) \(superseded.text.prefix(100))")
            #expect((superseded.json["error"] as? String)?.contains("superseded") == true)
        }
    }

    /// A 512-token input holds one worker for its own time; a short request of another page is
    /// answered meanwhile.
    @Test func aLongInputDoesNotBlockOthers() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            _ = try await server.post("/api/analyze", Eminem.analyze())
            var long = Eminem.analyze(perturbation: nil)
            long["input"] = ["id": "x", "a": String(repeating: "awesome ", count: 255), "b": String(repeating: "awesome ", count: 254)]
            let clock = ContinuousClock()
            let start = clock.now
            let first = Task { () -> (HTTPResult, Duration) in
                let result = try await server.post("/api/analyze?session=a&lane=analyze", long)
                return (result, clock.now - start)
            }
            try await Task.sleep(for: .milliseconds(30))
            let short = try await server.post("/api/analyze?session=b&lane=analyze", Eminem.analyze(perturbation: ["id": "fine", "kind": "replace", "word": "sick", "with": "fine", "in": "b"]))
            let shortDone = clock.now - start
            let (longResult, longDone) = try await first.value
            #expect(short.status == 200)
            #expect(longResult.status == 200, "\(longResult.text.prefix(200))")
            let tokens = ((longResult.json["variants"] as? [[String: Any]])?.first?["tokens"] as? [Any])?.count
            #expect(tokens == 512)
            #expect(shortDone < longDone, "the short request took \(shortDone), the 512-token one \(longDone)")
        }
    }

    @Test func viewsAreTheStaticPages() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let result = try await server.post("/api/analyze", Eminem.analyze())
            let id = try #require((result.json["variants"] as? [[String: Any]])?.last?["trace"] as? String)
            let served = try Self.model.trace(Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was terrific!"))
            // The views of one trace (the compare view takes two: the app shows base and variant side by
            // side; the scan view draws a scan, not a trace).
            for kind in ViewKind.allCases where kind != .compare && kind != .scan {
                let page = try await server.request("/api/view?trace=\(id)&view=\(kind.rawValue)&layer=5&heads=4&mode=light")
                #expect(page.status == 200)
                #expect(page.headers["content-security-policy"]?.hasPrefix("sandbox allow-scripts") == true)
                var options = ViewOptions(mode: .light)
                options.layer = 5
                options.selectedHeads = [4]
                let expected = try ViewRenderer.render(served, view: kind, options: options)
                #expect(page.body == expected, "\(kind) view differs from attnlab view's")
            }
            #expect(try await server.request("/api/view?trace=\(id)&view=compare").status == 400)
            #expect(try await server.request("/api/view?trace=\(id)&view=scan").status == 400)
            #expect(try await server.request("/api/view?trace=t999-none").status == 404)
            #expect(try await server.request("/api/view?trace=\(id)&view=other").status == 400)
        }
    }

    @Test func scansAreScanRunners() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let body: [String: Any] = ["model": Eminem.model, "target": Eminem.input,
                                       "source": ["id": "s", "a": Eminem.input["a"]!, "b": "dude, that song from eminem was terrific!"],
                                       "targetName": "sick", "sourceName": "terrific", "site": "head", "mode": "patch", "metric": "similarity"]
            let result = try await server.post("/api/scan", body)
            #expect(result.status == 200, "\(result.text.prefix(300))")
            let scan = try JSONDecoder().decode(ScanResult.self, from: try JSONSerialization.data(withJSONObject: try #require(result.json["scan"])))
            let base = Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was sick!")
            let source = Self.request("the eminem tune was totally awesome.", "dude, that song from eminem was terrific!")
            let expected = try ScanRunner.run(ScanSpec(metric: .similarity), model: Self.model, target: base, source: source, names: ("sick", "terrific"))
            #expect(scan == expected)
            #expect(scan.layers.count == 6 && scan.columns.count == 12)
            #expect(result.json["sourceTrace"] is String && result.json["targetTrace"] is String)
        }
    }

    @Test func saveWritesAnExperimentTheParserReads() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let draft: [String: Any] = [
                "name": "saved-one", "description": "made \"live\": sick → terrific",
                "models": [Eminem.model], "inputs": [Eminem.input], "perturbations": [Eminem.terrific], "interventions": [],
                "expectations": [["variant": "eminem/terrific", "check": "label", "label": "paraphrase"],
                                 ["variant": "eminem/terrific", "check": "invariant", "output": "similarity", "tolerance": 0.2]],
                "capture": ["qkv"], "views": [],
            ]
            let saved = try await server.post("/api/save", ["draft": draft])
            #expect(saved.status == 200, "\(saved.text.prefix(400))")
            #expect(saved.json["path"] as? String == "Experiments/saved-one.yaml")
            let file = server.project.appendingPathComponent("Experiments/saved-one.yaml")
            let experiment = try ExperimentParser.load(file)
            #expect(experiment.name == "saved-one")
            #expect(experiment.description == "made \"live\": sick → terrific")
            #expect(experiment.models.first?.task == .similarity && experiment.models.first?.threshold == 0.75)
            #expect(experiment.inputs.first?.baseName == "sick" && experiment.inputs.first?.b == Eminem.input["b"] as? String)
            #expect(experiment.perturbations.first?.kind == .replace(from: "sick", to: "terrific") && experiment.perturbations.first?.target == .b)
            #expect(experiment.expectations.count == 2)
            #expect(experiment.capture == [.qkv])
            // Not over an existing file, unless asked.
            #expect(try await server.post("/api/save", ["draft": draft]).status == 409)
            #expect(try await server.post("/api/save", ["draft": draft, "overwrite": true]).status == 200)
            // A draft the parser refuses is not written.
            var bad = draft
            bad["name"] = "bad-one"
            bad["models"] = [["id": "x", "task": "similarity", "threshold": 0.5, "labels": ["one"]]]
            let refused = try await server.post("/api/save", ["draft": bad])
            #expect(refused.status == 422, "\(refused.text)")
            #expect(!FileManager.default.fileExists(atPath: server.project.appendingPathComponent("Experiments/bad-one.yaml").path))
        }
    }

    @Test func runsAreListed() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let folder = server.project.appendingPathComponent("runs/demo/20260101-000000")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data("<p>r</p>".utf8).write(to: folder.appendingPathComponent("report.html"))
            let runs = try await server.request("/api/runs")
            #expect(runs.status == 200)
            #expect(runs.jsonArray.first?["report"] as? String == "runs/demo/20260101-000000/report.html")
            #expect(runs.jsonArray.first?["experiment"] as? String == "demo")
        }
    }

    /// A model with a chat template (here MiniLM's files with a template beside them): the page's
    /// messages are rendered by `ChatTemplate` and traced as the text.
    @Test func chatMessagesAreRenderedByTheModelsTemplate() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            let folder = server.project.appendingPathComponent("Chat/chatty")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let source = ServerHarness.repository.appendingPathComponent("Models/sentence-transformers/all-MiniLM-L6-v2")
            for name in try FileManager.default.contentsOfDirectory(atPath: source.path) {
                try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
            }
            let template = "{% for message in messages %}{{ message['role'] }}: {{ message['content'] | trim }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
            try Data(template.utf8).write(to: folder.appendingPathComponent("chat_template.jinja"))
            setenv("ATTNLAB_MODELS", server.project.appendingPathComponent("Chat").path, 1)
            defer { unsetenv("ATTNLAB_MODELS") }
            let chatServer = AttnServer(settings: ServerSettings(port: 0, project: server.project))
            let loaded = try await chatServer.models.model("chatty")
            #expect(loaded.chat != nil)
            let info = Workbench.info(loaded.model, chat: loaded.chat != nil)
            #expect(info.chat)

            let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: " Is it <b>sick</b>? ")]
            let request = try JSONDecoder().decode(AnalyzeRequest.self, from: try JSONSerialization.data(withJSONObject: [
                "model": ["id": "chatty"], "input": ["id": "chat", "a": ""],
                "messages": messages.map { ["role": $0.role, "content": $0.content] },
            ]))
            let workbench = Workbench(traces: chatServer.traces, limits: chatServer.settings.limits)
            let result = try workbench.analyze(request, model: loaded.model, chat: loaded.chat, flag: CancelFlag())
            let expected = try #require(loaded.chat).render(messages)
            #expect(expected == "system: Be brief.\nuser: Is it <b>sick</b>?\nassistant:")
            #expect(result.input.a == expected)
            #expect(result.variants.first?.a == expected)
            // Without a template, messages are refused.
            let plain = try await server.post("/api/analyze", ["model": ["id": APITests.miniLM], "input": ["id": "x", "a": ""],
                                                               "messages": [["role": "user", "content": "hi"]]])
            #expect(plain.status == 400)
            #expect((plain.json["error"] as? String)?.contains("no chat template") == true)
        }
    }
}

/// Reviews and the command itself.
@Suite(.serialized)
struct ReviewAndCommandTests {
    /// `attnlab review`'s page, from the app: the project's snapshots at two revisions.
    @Test func reviewsAreTheReviewCommandsPages() async throws {
        try await ServerHarness.with { (server: ServerHarness) async throws in
            // No repository: the command's own error.
            let none = try await server.request("/api/review")
            #expect(none.status == 400, "\(none.text)")
            // A repository with the case study's snapshots, then a change to one of them.
            let project = server.project
            try Self.git(["init", "-q"], in: project)
            try FileManager.default.copyItem(at: ServerHarness.repository.appendingPathComponent("Snapshots"), to: project.appendingPathComponent("Snapshots"))
            try Self.git(["add", "Snapshots"], in: project)
            try Self.git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshots"], in: project)
            let page = try await server.request("/api/review?a=HEAD&b=working-tree&experiment=paraphrase-eminem")
            #expect(page.status == 200, "\(page.text.prefix(300))")
            #expect(page.headers["content-security-policy"]?.hasPrefix("sandbox") == true)
            #expect(page.text.contains("paraphrase-eminem"))
            #expect(try await server.request("/api/review?a=no-such-revision").status == 400)
            #expect(try await server.request("/api/review?a=--output=x").status == 400)
        }
    }

    static func git(_ arguments: [String], in folder: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = folder
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "git \(arguments.joined(separator: " "))")
    }

    /// `attnlab serve --port 0` prints its address with the token and serves the app there; with
    /// --host other than loopback it warns.
    @Test func theCommandPrintsItsAddressAndServes() async throws {
        for (host, warns) in [("127.0.0.1", false), ("0.0.0.0", true)] {
            let process = Process()
            process.executableURL = AppBrowserTests.binary
            process.arguments = ["serve", "--port", "0", "--host", host]
            process.currentDirectoryURL = ServerHarness.repository
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
            let printed = try await offPool { () throws -> String in
                var text = ""
                let deadline = Date().addingTimeInterval(60)
                while !text.contains("Ctrl-C"), Date() < deadline {
                    let chunk = out.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                return text
            }
            let address = try #require(printed.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("http://") }.map(String.init), "printed: \(printed)")
            #expect(address.hasPrefix("http://127.0.0.1:") && address.contains("/?token="), "\(address)")
            let port = Int(address.dropFirst("http://127.0.0.1:".count).prefix { $0.isNumber })!
            let token = String(address.split(separator: "=").last!)
            #expect(token.count == 48)
            let ok = try await offPool { try HTTPResult.exchange(port: port, Data("GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: token \(token)\r\nConnection: close\r\n\r\n".utf8), timeout: 30) }
            #expect(ok.status == 200)
            let refused = try await offPool { try HTTPResult.exchange(port: port, Data("GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8), timeout: 30) }
            #expect(refused.status == 403)
            // It stops on SIGTERM, although this test's thread, and so the process, started with it blocked.
            process.terminate()
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            let stopped = !process.isRunning
            #expect(stopped, "attnlab serve did not stop on SIGTERM")
            if !stopped { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let warning = String(decoding: err.fileHandleForReading.readUntilEnd(), as: UTF8.self)
            #expect(warning.contains("warning: listening on 0.0.0.0") == warns, "\(host): \(warning)")
        }
    }
}
