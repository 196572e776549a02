import Foundation
import Testing
@testable import AttnCore

/// The safetensors reader trusts nothing in a header until it has checked it.
@Suite struct SafeTensorsTests {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("attnlab-safetensors-\(UUID().uuidString)")

    func write(_ data: Data, _ name: String = "x.safetensors") throws -> String {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    /// A file with the given header JSON and `body` bytes of data.
    func file(header: String, body: Int) -> Data {
        var length = UInt64(header.utf8.count).littleEndian
        var data = Data(bytes: &length, count: 8)
        data.append(Data(header.utf8))
        data.append(Data(repeating: 0, count: body))
        return data
    }

    func expectError(_ data: Data, containing phrase: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try write(data)
        do {
            _ = try SafeTensorsFile(path: path)
            Issue.record("no error for a file that should have \(phrase)", sourceLocation: sourceLocation)
        } catch let error as CoreError {
            #expect(error.description.contains(phrase), "\(error)", sourceLocation: sourceLocation)
            #expect(error.location?.hasPrefix(path) == true, "the error names the file", sourceLocation: sourceLocation)
        }
    }

    @Test func roundTripsF32AndF16WithMetadata() throws {
        var writer = SafeTensorsWriter(metadata: ["note": "hello \"world\"\n"])
        writer.add("b.weight", Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, 1e-3, 65504]))
        writer.add("a.half", Tensor(shape: [3], scalars: [0.5, -1, 2]), as: .f16)
        let path = try write(writer.encoded())
        let file = try SafeTensorsFile(path: path)
        #expect(file.names == ["a.half", "b.weight"])
        #expect(file.metadata["note"] == "hello \"world\"\n")
        #expect(try file.tensor("b.weight") == Tensor(shape: [2, 3], scalars: [1, -2, 3.5, 0, 1e-3, 65504]))
        #expect(try file.tensor("a.half").scalars == [0.5, -1, 2])
        #expect(file.entries["a.half"]?.dtype == .f16)
    }

    @Test func sameTensorsGiveTheSameBytes() {
        var one = SafeTensorsWriter(), two = SafeTensorsWriter()
        one.add("x", Tensor(shape: [1], scalars: [1])); one.add("y", Tensor(shape: [1], scalars: [2]))
        two.add("y", Tensor(shape: [1], scalars: [2])); two.add("x", Tensor(shape: [1], scalars: [1]))
        #expect(one.encoded() == two.encoded())
    }

    @Test func readsBF16() throws {
        // bf16 of 1.0 is 0x3F80, of -2.0 is 0xC000.
        var data = file(header: #"{"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#, body: 0)
        data.append(contentsOf: [0x80, 0x3F, 0x00, 0xC0])
        #expect(try SafeTensorsFile(path: try write(data)).tensor("t").scalars == [1, -2])
    }

    @Test func rejectsAFileShorterThanItsLengthField() throws {
        try expectError(Data([1, 2, 3]), containing: "shorter than the 8-byte header length")
    }

    @Test func rejectsAHeaderLengthPastTheEnd() throws {
        var data = file(header: "{}", body: 0)
        data.replaceSubrange(0 ..< 8, with: withUnsafeBytes(of: UInt64(4096).littleEndian) { Data($0) })
        try expectError(data, containing: "runs past the end")
    }

    @Test func rejectsAHeaderThatIsNotJSON() throws {
        try expectError(file(header: "{not json", body: 0), containing: "not valid JSON")
    }

    @Test func rejectsAnUnknownDtype() throws {
        try expectError(file(header: #"{"t":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#, body: 4), containing: "unknown dtype \"F31\"")
    }

    @Test func rejectsOffsetsPastTheEnd() throws {
        try expectError(file(header: #"{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, body: 8), containing: "outside the 8 bytes of data")
    }

    @Test func rejectsAShapeThatDisagreesWithTheBytes() throws {
        try expectError(file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, body: 8), containing: "needs 12 bytes")
    }

    @Test func rejectsOverlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        try expectError(file(header: header, body: 12), containing: "overlap")
    }

    @Test func rejectsNegativeShapes() throws {
        try expectError(file(header: #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#, body: 0), containing: "non-negative")
    }

    @Test func refusesToReadIntegersAsFloats() throws {
        let path = try write(file(header: #"{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, body: 8))
        #expect(throws: CoreError.self) { try SafeTensorsFile(path: path).tensor("ids") }
    }

    @Test func namesAMissingFile() {
        #expect { try SafeTensorsFile(path: "/nonexistent/model.safetensors") } throws: { error in
            "\(error)".contains("/nonexistent/model.safetensors") && "\(error)".contains("cannot open")
        }
    }
    // MARK: The header must describe the data exactly (as Hugging Face's reader checks)

    @Test func rejectsAHeaderOneByteShort() throws {
        // The declared header length is one byte short (a trailing space of the padding is left
        // out), so the data would start one byte early and every tensor read one byte off.
        var writer = SafeTensorsWriter()
        writer.add("t", Tensor(shape: [2], scalars: [1, 2]))
        var data = writer.encoded()
        let length = data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        withUnsafeBytes(of: (length - 1).littleEndian) { data.replaceSubrange(0 ..< 8, with: $0) }
        try expectError(data, containing: "the header describes 8 bytes of tensor data but the file holds 9")
    }

    @Test func rejectsBytesAppended() throws {
        var writer = SafeTensorsWriter()
        writer.add("t", Tensor(shape: [2], scalars: [1, 2]))
        try expectError(writer.encoded() + Data(repeating: 0x41, count: 1 << 20), containing: "has bytes appended")
    }

    @Test func rejectsAGapBetweenTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        try expectError(file(header: header, body: 12), containing: "leaves 4 bytes unused")
    }

    @Test func rejectsAShapeWhoseByteCountOverflows() throws {
        // 2^39 × 2^39 × 4 bytes does not fit in 64 bits; it must not wrap around to a small size.
        let header = #"{"t":{"dtype":"F32","shape":[549755813888,549755813888,64],"data_offsets":[0,0]}}"#
        try expectError(file(header: header, body: 0), containing: "more elements than can be counted")
    }

    @Test func refusesAFIFOWithoutBlocking() throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let fifo = folder.appendingPathComponent("model.safetensors").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opening a FIFO that no one writes to would block forever; it is refused at once.
        let error = try #require(throws: CoreError.self) { try SafeTensorsFile(path: fifo) }
        #expect(error.description == "\(fifo): is a FIFO (named pipe), not a regular file; give the path of a file")
        let folderError = try #require(throws: CoreError.self) { try SafeTensorsFile(path: folder.path) }
        #expect(folderError.message.contains("is a folder, not a regular file"))
    }

    @Test func tensorNamesWithControlCharactersAreEscapedInErrors() throws {
        let header = #"{"x\nerror: forged\u001b[31m":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        let path = try write(file(header: header, body: 4))
        let error = try #require(throws: CoreError.self) { try SafeTensorsFile(path: path) }
        #expect(!error.description.contains("\n") && !error.description.contains("\u{1B}"))
        #expect(error.description.contains(#"x\nerror: forged\u{1B}[31m"#))
    }
}
