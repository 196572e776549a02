import Dispatch

/// A zlib stream (RFC 1950 around RFC 1951 deflate) that codes bytes with Huffman codes, and runs
/// of one repeated byte as copies of the byte before (matches at distance 1).
///
/// Quantised attention has a skewed byte distribution but few long repeats other than runs of
/// zeros (the masked half of a causal model's attention, and weights below 1/65025), so Huffman
/// coding plus runs comes within a few percent of zlib's best level, and it is simple and fast.
/// Browsers decode it natively (`DecompressionStream("deflate")`), Python with `zlib.decompress`.
/// The stream is deterministic: the same blocks always give the same bytes.
enum ZlibHuffmanEncoder {
    /// Compresses `blocks` (each gets its own Huffman table, so sections with different
    /// distributions each get a fitting code) into one zlib stream.
    static func compress(_ blocks: [[UInt8]]) -> [UInt8] {
        var writer = BitWriter(capacity: blocks.reduce(0) { $0 + $1.count } / 2 + 64)
        // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes CMF·256 + FLG a multiple of 31.
        writer.writeBits(0x78, 8)
        writer.writeBits(0x01, 8)
        let nonEmpty = blocks.filter { !$0.isEmpty }
        if nonEmpty.isEmpty {
            writeBlock([], final: true, into: &writer)
        } else {
            for (index, block) in nonEmpty.enumerated() {
                writeBlock(block, final: index == nonEmpty.count - 1, into: &writer)
            }
        }
        writer.alignToByte()
        var adler = Adler32()
        for block in blocks { adler.update(block) }
        for shift in stride(from: 24, through: 0, by: -8) { writer.writeBits(UInt32((adler.value >> UInt32(shift)) & 0xff), 8) }
        return writer.finish()
    }

    /// Each block as its own zlib stream, compressed in parallel; same result as one by one.
    static func compressEach(_ blocks: [[UInt8]]) -> [[UInt8]] {
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[UInt8]>.allocate(capacity: blocks.count)
        results.initialize(repeating: [])
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        // Largest first, so that two threads finish together.
        let order = blocks.indices.sorted { blocks[$0].count > blocks[$1].count }
        DispatchQueue.concurrentPerform(iterations: order.count) { index in
            results[order[index]] = compress([blocks[order[index]]])
        }
        return Array(results)
    }

    static let endOfBlock = 256
    /// The order in which code-length code lengths are sent (RFC 1951, 3.2.7).
    static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    /// A byte repeated this many times after its first occurrence is sent as copies: shorter runs
    /// cost less as literals.
    static let shortestRun = 8
    /// Deflate's length codes 257…285: the shortest length of each, and its extra bits.
    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]

    /// One symbol of the literal/length alphabet: a byte (0…255), or a copy of `length` (3…258)
    /// bytes from distance 1.
    struct Symbol {
        var code: UInt16
        var extra: UInt8 = 0
        var extraBits: UInt8 = 0
    }

    /// The code of a copy `length` long (3…258), with its extra bits.
    static func lengthSymbol(_ length: Int) -> Symbol {
        if length == 258 { return Symbol(code: 285) }
        var index = lengthBase.count - 2
        while lengthBase[index] > length { index -= 1 }
        return Symbol(code: UInt16(257 + index), extra: UInt8(length - lengthBase[index]), extraBits: UInt8(lengthExtra[index]))
    }

    /// `bytes` as literals, runs of a repeated byte as its first occurrence and then copies.
    static func symbols(_ bytes: [UInt8]) -> [Symbol] {
        var symbols: [Symbol] = []
        symbols.reserveCapacity(bytes.count / 2)
        bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                let byte = buffer[index]
                var end = index + 1
                while end < buffer.count && buffer[end] == byte { end += 1 }
                symbols.append(Symbol(code: UInt16(byte)))
                var repeats = end - index - 1
                if repeats >= shortestRun {
                    while repeats >= 3 {
                        var length = min(repeats, 258)
                        if repeats - length > 0 && repeats - length < 3 { length = repeats - 3 }
                        symbols.append(lengthSymbol(length))
                        repeats -= length
                    }
                }
                for _ in 0 ..< repeats { symbols.append(Symbol(code: UInt16(byte))) }
                index = end
            }
        }
        return symbols
    }

    /// One dynamic-Huffman block holding `bytes`.
    static func writeBlock(_ bytes: [UInt8], final: Bool, into writer: inout BitWriter) {
        let symbols = symbols(bytes)
        var frequencies = [Int](repeating: 0, count: 286)
        for symbol in symbols { frequencies[Int(symbol.code)] += 1 }
        frequencies[endOfBlock] = 1
        var literalLengths = HuffmanCode.lengths(for: frequencies, limit: 15)
        // Send no more lengths than the largest symbol used needs (at least 257).
        while literalLengths.count > 257 && literalLengths[literalLengths.count - 1] == 0 { literalLengths.removeLast() }
        let literalCode = HuffmanCode(lengths: literalLengths)
        // Every copy is from distance 1 (distance code 0): one code of one bit (RFC 1951, 3.2.7).
        let distanceLengths = [1]

        // The code lengths themselves, run-length coded with symbols 16, 17 and 18.
        let runs = runLengthCoded(literalLengths + distanceLengths)
        var codeLengthFrequencies = [Int](repeating: 0, count: 19)
        for run in runs { codeLengthFrequencies[run.symbol] += 1 }
        let codeLengthLengths = HuffmanCode.lengths(for: codeLengthFrequencies, limit: 7)
        let codeLengthCode = HuffmanCode(lengths: codeLengthLengths)
        var codeLengthCount = 19
        while codeLengthCount > 4 && codeLengthLengths[codeLengthOrder[codeLengthCount - 1]] == 0 { codeLengthCount -= 1 }

        writer.writeBits(final ? 1 : 0, 1)
        writer.writeBits(2, 2)                               // BTYPE 10: dynamic Huffman codes
        writer.writeBits(UInt32(literalLengths.count - 257), 5)
        writer.writeBits(UInt32(distanceLengths.count - 1), 5)
        writer.writeBits(UInt32(codeLengthCount - 4), 4)
        for index in 0 ..< codeLengthCount { writer.writeBits(UInt32(codeLengthLengths[codeLengthOrder[index]]), 3) }
        for run in runs {
            codeLengthCode.write(run.symbol, into: &writer)
            switch run.symbol {
            case 16: writer.writeBits(UInt32(run.repeatCount - 3), 2)
            case 17: writer.writeBits(UInt32(run.repeatCount - 3), 3)
            case 18: writer.writeBits(UInt32(run.repeatCount - 11), 7)
            default: break
            }
        }
        for symbol in symbols {
            literalCode.write(Int(symbol.code), into: &writer)
            if symbol.code > endOfBlock {
                if symbol.extraBits > 0 { writer.writeBits(UInt32(symbol.extra), Int(symbol.extraBits)) }
                writer.writeBits(0, 1)                       // distance code 0: distance 1
            }
        }
        literalCode.write(endOfBlock, into: &writer)
    }

    struct CodeLengthRun { var symbol: Int; var repeatCount: Int }

    /// RFC 1951's run-length coding of a code-length sequence: 16 repeats the previous length
    /// 3–6 times, 17 sends 3–10 zeros, 18 sends 11–138 zeros.
    static func runLengthCoded(_ lengths: [Int]) -> [CodeLengthRun] {
        var runs: [CodeLengthRun] = []
        var index = 0
        while index < lengths.count {
            let value = lengths[index]
            var runLength = 1
            while index + runLength < lengths.count && lengths[index + runLength] == value { runLength += 1 }
            index += runLength
            if value == 0 {
                while runLength >= 11 { let n = min(runLength, 138); runs.append(.init(symbol: 18, repeatCount: n)); runLength -= n }
                if runLength >= 3 { runs.append(.init(symbol: 17, repeatCount: runLength)); runLength = 0 }
                for _ in 0 ..< runLength { runs.append(.init(symbol: 0, repeatCount: 1)) }
            } else {
                runs.append(.init(symbol: value, repeatCount: 1))
                runLength -= 1
                while runLength >= 3 { let n = min(runLength, 6); runs.append(.init(symbol: 16, repeatCount: n)); runLength -= n }
                for _ in 0 ..< runLength { runs.append(.init(symbol: value, repeatCount: 1)) }
            }
        }
        return runs
    }
}

/// A canonical Huffman code (RFC 1951, 3.2.2), with codes bit-reversed for an LSB-first stream.
struct HuffmanCode {
    var codes: [UInt32]
    var lengths: [Int]

    init(lengths: [Int]) {
        self.lengths = lengths
        let maxLength = lengths.max() ?? 0
        var lengthCounts = [Int](repeating: 0, count: maxLength + 1)
        for length in lengths where length > 0 { lengthCounts[length] += 1 }
        var nextCode = [UInt32](repeating: 0, count: maxLength + 2)
        var code: UInt32 = 0
        if maxLength > 0 {
            for bits in 1 ... maxLength {
                code = (code + UInt32(lengthCounts[bits - 1])) << 1
                nextCode[bits] = code
            }
        }
        codes = [UInt32](repeating: 0, count: lengths.count)
        for symbol in lengths.indices where lengths[symbol] > 0 {
            let length = lengths[symbol]
            codes[symbol] = Self.reversed(nextCode[length], bits: length)
            nextCode[length] += 1
        }
    }

    @inline(__always)
    func write(_ symbol: Int, into writer: inout BitWriter) {
        writer.writeBits(codes[symbol], lengths[symbol])
    }

    static func reversed(_ code: UInt32, bits: Int) -> UInt32 {
        var result: UInt32 = 0
        var code = code
        for _ in 0 ..< bits { result = (result << 1) | (code & 1); code >>= 1 }
        return result
    }

    /// Huffman code lengths for `frequencies`, none longer than `limit`. At least two symbols get
    /// a code, so that the code is complete even when only one symbol occurs.
    static func lengths(for frequencies: [Int], limit: Int) -> [Int] {
        var weights = frequencies
        // A one-symbol code is incomplete, which decoders may reject: give unused symbols a code too.
        var spare = 0
        while weights.filter({ $0 > 0 }).count < 2 && spare < weights.count {
            if weights[spare] == 0 { weights[spare] = 1 }
            spare += 1
        }
        while true {
            let lengths = unlimitedLengths(weights)
            if (lengths.max() ?? 0) <= limit { return lengths }
            // Flatten the distribution until the tree is shallow enough; halving converges
            // because equal weights give a balanced tree.
            weights = weights.map { $0 == 0 ? 0 : max(1, $0 >> 1) }
        }
    }

    /// Code lengths of an optimal (unlimited) Huffman tree, built with two queues over sorted leaves.
    private static func unlimitedLengths(_ weights: [Int]) -> [Int] {
        let leaves = weights.indices.filter { weights[$0] > 0 }.sorted { (weights[$0], $0) < (weights[$1], $1) }
        var lengths = [Int](repeating: 0, count: weights.count)
        guard leaves.count > 1 else {
            for leaf in leaves { lengths[leaf] = 1 }
            return lengths
        }
        // Nodes 0..<leaves.count are leaves; later ones are internal, in creation order.
        var nodeWeight = leaves.map { weights[$0] }
        var parent = [Int](repeating: -1, count: 2 * leaves.count - 1)
        var leafCursor = 0, internalCursor = leaves.count
        func takeSmallest() -> Int {
            if leafCursor < leaves.count && (internalCursor >= nodeWeight.count || nodeWeight[leafCursor] <= nodeWeight[internalCursor]) {
                leafCursor += 1
                return leafCursor - 1
            }
            internalCursor += 1
            return internalCursor - 1
        }
        while nodeWeight.count < 2 * leaves.count - 1 {
            let a = takeSmallest(), b = takeSmallest()
            let node = nodeWeight.count
            nodeWeight.append(nodeWeight[a] + nodeWeight[b])
            parent[a] = node
            parent[b] = node
        }
        // Depth of every node, from the root (the last node) down; parents always come after children.
        var depth = [Int](repeating: 0, count: nodeWeight.count)
        for node in stride(from: nodeWeight.count - 2, through: 0, by: -1) { depth[node] = depth[parent[node]] + 1 }
        for (index, leaf) in leaves.enumerated() { lengths[leaf] = depth[index] }
        return lengths
    }
}

/// Packs bits least-significant first, as deflate does.
struct BitWriter {
    private(set) var bytes: [UInt8]
    private var accumulator: UInt64 = 0
    private var pending = 0

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always)
    mutating func writeBits(_ value: UInt32, _ count: Int) {
        accumulator |= UInt64(value) << UInt64(pending)
        pending += count
        if pending >= 32 {
            bytes.append(UInt8(truncatingIfNeeded: accumulator))
            bytes.append(UInt8(truncatingIfNeeded: accumulator >> 8))
            bytes.append(UInt8(truncatingIfNeeded: accumulator >> 16))
            bytes.append(UInt8(truncatingIfNeeded: accumulator >> 24))
            accumulator >>= 32
            pending -= 32
        }
    }

    /// Pads with zero bits to the next byte boundary.
    mutating func alignToByte() {
        if pending % 8 != 0 { writeBits(0, 8 - pending % 8) }
    }

    mutating func finish() -> [UInt8] {
        alignToByte()
        while pending > 0 {
            bytes.append(UInt8(truncatingIfNeeded: accumulator))
            accumulator >>= 8
            pending -= 8
        }
        return bytes
    }
}

/// The Adler-32 checksum zlib streams end with.
struct Adler32 {
    private var a: UInt32 = 1
    private var b: UInt32 = 0

    var value: UInt32 { (b << 16) | a }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            var index = 0
            while index < buffer.count {
                // 5552 is the most bytes that cannot overflow b before the modulo (zlib's NMAX).
                let end = min(index + 5552, buffer.count)
                while index < end {
                    a &+= UInt32(buffer[index])
                    b &+= a
                    index += 1
                }
                a %= 65521
                b %= 65521
            }
        }
    }
}
