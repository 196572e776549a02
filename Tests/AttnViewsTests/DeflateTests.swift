import Foundation
import Testing
@testable import AttnViews

/// The compressed blob must be a standard zlib stream: browsers and `zlib.decompress` read it.
struct DeflateTests {
    @Test func roundTripsSkewedBytes() throws {
        var generator = SplitMix64(seed: 9)
        // Byte k with probability 2^-(k+1): two bits of information per byte, which a Huffman
        // code reaches exactly, so the stream is about a quarter of the input.
        let bytes = (0 ..< 50_000).map { _ in UInt8(UInt8(truncatingIfNeeded: generator.next()).trailingZeroBitCount) }
        let stream = ZlibHuffmanEncoder.compress([bytes])
        #expect(try TestInflater.inflate(stream) == bytes)
        #expect(stream.count < bytes.count * 26 / 100, "\(stream.count) bytes for \(bytes.count)")
    }

    @Test func roundTripsEdgeCases() throws {
        let cases: [[UInt8]] = [[], [7], [UInt8](repeating: 0, count: 10_000), Array(0 ... 255), (0 ..< 70_000).map { UInt8($0 % 251) }]
        for bytes in cases {
            #expect(try TestInflater.inflate(ZlibHuffmanEncoder.compress([bytes])) == bytes, "\(bytes.count) bytes")
        }
    }

    /// Runs of one byte are sent as copies from distance 1, of every length deflate has.
    @Test func runsBecomeCopies() throws {
        var bytes: [UInt8] = []
        for length in [1, 2, 3, 8, 9, 10, 11, 12, 130, 257, 258, 259, 260, 261, 262, 1000, 100_000] {
            bytes += [UInt8](repeating: UInt8(length % 7), count: length) + [200]
        }
        let stream = ZlibHuffmanEncoder.compress([bytes])
        #expect(try TestInflater.inflate(stream) == bytes)
        #expect(stream.count < 2000, "\(stream.count) bytes for \(bytes.count)")
        // A causal attention matrix: each row's masked end is one run of zeros.
        let n = 300
        var causal = [UInt8](repeating: 0, count: n * n)
        for row in 0 ..< n {
            for column in 0 ... row { causal[row * n + column] = UInt8(1 + (row * 7 + column) % 60) }
        }
        let compressed = ZlibHuffmanEncoder.compress([causal])
        #expect(try TestInflater.inflate(compressed) == causal)
        // About 6 bits for each of the n²/2 unmasked bytes, next to nothing for the masked half.
        let unmasked = n * (n + 1) / 2
        #expect(compressed.count < unmasked * 6 / 8 + n * 4, "\(compressed.count) bytes for \(causal.count)")
    }

    @Test func blocksConcatenate() throws {
        let blocks: [[UInt8]] = [[1, 2, 3], [], [UInt8](repeating: 200, count: 1000), [9]]
        #expect(try TestInflater.inflate(ZlibHuffmanEncoder.compress(blocks)) == blocks.flatMap { $0 })
    }

    @Test func parallelCompressionMatchesSerial() {
        var blocks: [[UInt8]] = []
        for n in 0 ..< 7 {
            let count = 3000 * (n + 1)
            blocks.append((0 ..< count).map { (index: Int) -> UInt8 in UInt8((index * (n + 3)) % 17) })
        }
        #expect(ZlibHuffmanEncoder.compressEach(blocks) == blocks.map { ZlibHuffmanEncoder.compress([$0]) })
    }

    @Test func codeLengthsRespectTheLimit() {
        // Fibonacci frequencies make the deepest possible Huffman tree.
        var frequencies = [1, 1]
        while frequencies.count < 30 { frequencies.append(frequencies[frequencies.count - 1] + frequencies[frequencies.count - 2]) }
        let lengths = HuffmanCode.lengths(for: frequencies, limit: 15)
        #expect(lengths.max()! <= 15)
        // Kraft's equality: a complete prefix code.
        #expect(lengths.reduce(0.0) { $0 + pow(2.0, -Double($1)) } == 1.0)
    }
}
