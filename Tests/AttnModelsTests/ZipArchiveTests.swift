import AttnCore
import Foundation
import Testing
@testable import AttnModels

/// The zip container of pytorch_model.bin: nothing it declares is trusted.
@Suite struct ZipArchiveTests {
    let folder: URL

    init() throws {
        folder = try PyTorchPickleTests.temporaryFolder()
    }

    func write(_ bytes: [UInt8], _ name: String = "pytorch_model.bin") throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A checkpoint of one float32 tensor `w` = [0, 1, 2, 3, 4, 5] shaped [2, 3].
    func checkpoint(deflate: Bool = false, declaredSize: UInt64? = nil, zip64: Bool = false, storage: [UInt8]? = nil) -> TestZip {
        var zip = TestZip()
        let floats = (0 ..< 6).flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) }
        zip.add("archive/data.pkl", PyTorchPickleTests.statePickle(count: 6, shape: [2, 3]), deflate: deflate, declaredSize: declaredSize, zip64: zip64)
        zip.add("archive/byteorder", Array("little".utf8))
        zip.add("archive/data/0", storage ?? floats, deflate: deflate, declaredSize: declaredSize, zip64: zip64)
        return zip
    }

    /// Raw deflate data that inflates to `megabytes` MB of zeros, about 1 kB per MB: 1 MB of
    /// zeros compressed with a full flush is a block that can be repeated, then an empty last block.
    static func bomb(megabytes: Int) -> [UInt8] {
        let chunk = TestZip.deflateFlushed([UInt8](repeating: 0, count: 1 << 20))
        return Array(repeating: chunk, count: megabytes).flatMap { $0 } + [0x03, 0x00]
    }

    @Test func readsStoredAndDeflatedArchives() throws {
        for deflate in [false, true] {
            let path = try write(checkpoint(deflate: deflate).bytes())
            let tensor = try PyTorchCheckpoint(path: path).tensor("w")
            #expect(tensor == Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5]), "deflate: \(deflate)")
        }
    }

    @Test func declaredSizesAreNeverTrusted() throws {
        // Each deflated entry declares 2^62 bytes (ZIP64); buffers sized by it trapped. The real
        // bytes are read, and nothing is reserved in advance.
        let path = try write(checkpoint(deflate: true, declaredSize: 1 << 62, zip64: true).bytes())
        #expect(try PyTorchCheckpoint(path: path).tensor("w").scalars == [0, 1, 2, 3, 4, 5])
        // A stored entry whose declared size disagrees with its bytes is refused.
        let stored = try write(checkpoint(declaredSize: 1 << 40, zip64: true).bytes())
        let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: stored) }
        #expect(error.message.contains("is stored uncompressed but declares 1099511627776 bytes"))
        // A storage that declares fewer bytes than the tensor needs is refused before reading.
        let short = try write(checkpoint(storage: [UInt8](repeating: 0, count: 20)).bytes())
        #expect(throws: ModelError.self) { try PyTorchCheckpoint(path: short) }
        // A deflated storage whose real bytes are fewer than the declared ones is refused on reading.
        var lying = checkpoint(deflate: true)
        lying.entries[2] = .init(name: "archive/data/0", data: [UInt8](repeating: 0, count: 20), deflate: true, declaredSize: 24)
        let lyingCheckpoint = try PyTorchCheckpoint(path: try write(lying.bytes()))
        let readError = try #require(throws: ModelError.self) { try lyingCheckpoint.tensor("w") }
        #expect(readError.message.contains("storage 0 holds 20 bytes, but tensor w reaches byte 24"))
    }

    @Test func aZipBombPickleIsRefusedWithoutInflatingIt() throws {
        // 1.5 MB of deflate data that inflates to 1.5 GB, as data.pkl: reading stops at 64 MB.
        let bytes = try Self.replacingPayload(of: "archive/data.pkl", in: checkpoint(deflate: true), with: Self.bomb(megabytes: 1500))
        #expect(bytes.count < 2_000_000)
        let start = Date()
        let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: try write(bytes)) }
        #expect(error.message.contains("holds more than 64 MB"))
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func aZipBombStorageInflatesOnlyWhatTheTensorNeeds() throws {
        // The storage entry inflates to 1.5 GB; the tensor needs 24 bytes, and only those are inflated.
        let zip = checkpoint(deflate: true)
        let bytes = try Self.replacingPayload(of: "archive/data/0", in: zip, with: Self.bomb(megabytes: 1500))
        let start = Date()
        let tensor = try PyTorchCheckpoint(path: try write(bytes)).tensor("w")
        #expect(tensor.scalars == [Float](repeating: 0, count: 6))
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let fifo = folder.appendingPathComponent("pytorch_model.bin").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let error = try #require(throws: CoreError.self) { try PyTorchCheckpoint(path: fifo) }
        #expect(error.message.contains("is a FIFO (named pipe), not a regular file"))
    }

    @Test func damagedDirectoriesAreErrors() throws {
        let good = checkpoint().bytes()
        // The end record's directory offset (bytes 16–19 of the 22-byte record) pointed past the end.
        var outside = good
        outside.replaceSubrange(outside.count - 6 ..< outside.count - 2, with: [0xFF, 0xFF, 0xFF, 0x7F])
        // An entry count far larger than the directory can hold.
        var count = good
        count.replaceSubrange(count.count - 12 ..< count.count - 10, with: [0xFF, 0xFF])
        for (bytes, phrase) in [(outside, "central directory lies outside the file"), (count, "declares 65535 entries")] {
            let error = try #require(throws: ModelError.self) { try PyTorchCheckpoint(path: try write(bytes)) }
            #expect(error.message.contains(phrase), "\(error)")
        }
    }

    /// The archive with one entry's compressed bytes replaced (its declared size kept).
    static func replacingPayload(of name: String, in zip: TestZip, with payload: [UInt8]) throws -> [UInt8] {
        var zip = zip
        let index = try #require(zip.entries.firstIndex { $0.name == name })
        zip.entries[index].rawPayload = payload
        return zip.bytes()
    }
}
