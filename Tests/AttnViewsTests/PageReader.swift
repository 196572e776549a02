import Foundation

/// Reads a view page back in Swift: the payload JSON, and the numbers in its compressed blob.
struct PageReader {
    let html: String
    let fields: [String: Any]
    let blob: [UInt8]

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(_ page: Data) throws {
        html = String(decoding: page, as: UTF8.self)
        let marker = "<script type=\"application/json\" id=\"attnlab-payload\">"
        guard let open = html.range(of: marker), let close = html.range(of: "</script>", range: open.upperBound ..< html.endIndex) else {
            throw Failure(description: "the page has no payload element")
        }
        let json = Data(html[open.upperBound ..< close.lowerBound].utf8)
        guard let document = try JSONSerialization.jsonObject(with: json) as? [String: Any],
              let fields = document["fields"] as? [String: Any], let blob = document["blob"] as? String,
              let bytes = Data(base64Encoded: blob) else {
            throw Failure(description: "the payload is not {blob, fields}")
        }
        self.fields = fields
        self.blob = [UInt8](bytes)
    }

    /// The payload text exactly as it stands between the script tags.
    var payloadText: String {
        let marker = "<script type=\"application/json\" id=\"attnlab-payload\">"
        let open = html.range(of: marker)!
        let close = html.range(of: "</script>", range: open.upperBound ..< html.endIndex)!
        return String(html[open.upperBound ..< close.lowerBound])
    }

    var stacks: [[String: Any]] { fields["stacks"] as? [[String: Any]] ?? [] }

    func stack(_ kind: String) -> [String: Any]? { stacks.first { $0["kind"] as? String == kind } }

    /// All chunks decompressed, in order.
    func raw() throws -> [UInt8] {
        let data = fields["data"] as! [String: Any]
        var out: [UInt8] = []
        for chunk in data["chunks"] as! [[Int]] {
            let decoded = try TestInflater.inflate(Array(blob[chunk[2] ..< chunk[2] + chunk[3]]))
            guard decoded.count == chunk[1], out.count == chunk[0] else { throw Failure(description: "chunk \(chunk) decodes to \(decoded.count) bytes") }
            out += decoded
        }
        return out
    }
}

/// A minimal inflater for the tests: zlib streams of dynamic-Huffman blocks holding literals,
/// which is everything AttnLab's encoder writes; it checks the Adler-32.
enum TestInflater {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func inflate(_ input: [UInt8]) throws -> [UInt8] {
        guard input.count >= 6, input[0] & 0x0f == 8, (Int(input[0]) << 8 | Int(input[1])) % 31 == 0 else {
            throw Failure(description: "not a zlib header")
        }
        var reader = BitReader(bytes: input, position: 2)
        var out: [UInt8] = []
        var final = false
        while !final {
            final = try reader.bits(1) == 1
            guard try reader.bits(2) == 2 else { throw Failure(description: "expected a dynamic Huffman block") }
            let literalCount = try reader.bits(5) + 257, distanceCount = try reader.bits(5) + 1, codeLengthCount = try reader.bits(4) + 4
            let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
            var codeLengthLengths = [Int](repeating: 0, count: 19)
            for i in 0 ..< codeLengthCount { codeLengthLengths[order[i]] = try reader.bits(3) }
            let codeLengthCode = Code(lengths: codeLengthLengths)
            var lengths: [Int] = []
            while lengths.count < literalCount + distanceCount {
                let symbol = try codeLengthCode.decode(&reader)
                switch symbol {
                case 0 ..< 16: lengths.append(symbol)
                case 16: lengths += Array(repeating: lengths.last ?? 0, count: 3 + (try reader.bits(2)))
                case 17: lengths += Array(repeating: 0, count: 3 + (try reader.bits(3)))
                default: lengths += Array(repeating: 0, count: 11 + (try reader.bits(7)))
                }
            }
            let literals = Code(lengths: Array(lengths[0 ..< literalCount]))
            let distances = Code(lengths: Array(lengths[literalCount...]))
            let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
            let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
            while true {
                let symbol = try literals.decode(&reader)
                if symbol == 256 { break }
                if symbol < 256 { out.append(UInt8(symbol)); continue }
                // A copy; AttnLab sends only distance 1 (distance code 0, no extra bits).
                guard symbol - 257 < lengthBase.count else { throw Failure(description: "invalid length code \(symbol)") }
                let length = lengthBase[symbol - 257] + (try reader.bits(lengthExtra[symbol - 257]))
                guard try distances.decode(&reader) == 0, let last = out.last else { throw Failure(description: "unexpected distance") }
                out += [UInt8](repeating: last, count: length)
            }
        }
        // The checksum starts at the next byte boundary.
        let position = reader.bit == 0 ? reader.position : reader.position + 1
        guard position + 4 <= input.count else { throw Failure(description: "no Adler-32") }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in out { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        let stated = input[position ..< position + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard stated == (b << 16 | a) else { throw Failure(description: "Adler-32 mismatch") }
        return out
    }

    struct BitReader {
        let bytes: [UInt8]
        var position: Int
        var bit = 0

        mutating func bits(_ count: Int) throws -> Int {
            var value = 0
            for i in 0 ..< count { value |= try nextBit() << i }
            return value
        }

        mutating func nextBit() throws -> Int {
            guard position < bytes.count else { throw Failure(description: "the stream ends early") }
            let value = Int(bytes[position] >> bit) & 1
            bit += 1
            if bit == 8 { bit = 0; position += 1 }
            return value
        }
    }

    /// Canonical Huffman decoding, one bit at a time (slow and plain).
    struct Code {
        var table: [Int: [Int: Int]] = [:]   // length → code → symbol

        init(lengths: [Int]) {
            let maxLength = lengths.max() ?? 0
            var next = [Int](repeating: 0, count: maxLength + 2)
            var code = 0
            if maxLength > 0 {
                for bits in 1 ... maxLength {
                    code = (code + lengths.filter { $0 == bits - 1 && bits > 1 }.count) << 1
                    next[bits] = code
                }
            }
            for (symbol, length) in lengths.enumerated() where length > 0 {
                table[length, default: [:]][next[length]] = symbol
                next[length] += 1
            }
        }

        func decode(_ reader: inout BitReader) throws -> Int {
            var code = 0
            for length in 1 ... 15 {
                code = code << 1 | (try reader.nextBit())
                if let symbol = table[length]?[code] { return symbol }
            }
            throw Failure(description: "invalid Huffman code")
        }
    }
}
