import Foundation

/// The parts of a SentencePiece model file (`spiece.model`, Marian's `source.spm`) that tokenizing
/// needs, read from its protocol-buffer encoding (`sentencepiece_model.proto`'s `ModelProto`).
struct SentencePieceModelFile: Sendable {
    /// `SentencePiece.Type`.
    enum PieceType: Int, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    struct Piece: Sendable {
        var text: String
        var score: Double
        var type: PieceType
    }

    var pieces: [Piece] = []
    /// `TrainerSpec.model_type`: 1 Unigram, 2 BPE, 3 word, 4 character.
    var modelType = 1
    var byteFallback = false
    var treatWhitespaceAsSuffix = false
    /// `NormalizerSpec`.
    var charsmap: [UInt8] = []
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    var unknownID: Int? { pieces.firstIndex { $0.type == .unknown } }

    /// Reads the file at `url`.
    init(url: URL) throws {
        let data = try TokenizerLoader.readFile(url)
        try self.init(bytes: [UInt8](data), file: url.path)
    }

    init(bytes: [UInt8], file: String) throws {
        var model = ProtobufReader(bytes: bytes[...], file: file, path: "ModelProto")
        while let field = try model.nextField() {
            switch (field.number, field.value) {
            case (1, .bytes(let bytes)):
                var reader = ProtobufReader(bytes: bytes, file: file, path: "ModelProto.pieces[\(pieces.count)]")
                var piece = Piece(text: "", score: 0, type: .normal)
                while let pieceField = try reader.nextField() {
                    switch (pieceField.number, pieceField.value) {
                    case (1, .bytes(let text)):
                        guard let string = String(bytes: text, encoding: .utf8) else {
                            throw reader.error("the piece is not UTF-8")
                        }
                        piece.text = string
                    case (2, .fixed32(let bits)): piece.score = Double(Float(bitPattern: bits))
                    case (3, .varint(let type)):
                        guard let known = PieceType(rawValue: Int(type)) else { throw reader.error("unknown piece type \(type)") }
                        piece.type = known
                    default: break
                    }
                }
                pieces.append(piece)
            case (2, .bytes(let bytes)):
                var reader = ProtobufReader(bytes: bytes, file: file, path: "ModelProto.trainer_spec")
                while let specField = try reader.nextField() {
                    switch (specField.number, specField.value) {
                    case (3, .varint(let type)): modelType = Int(type)
                    case (24, .varint(let flag)): treatWhitespaceAsSuffix = flag != 0
                    case (35, .varint(let flag)): byteFallback = flag != 0
                    default: break
                    }
                }
            case (3, .bytes(let bytes)):
                var reader = ProtobufReader(bytes: bytes, file: file, path: "ModelProto.normalizer_spec")
                while let specField = try reader.nextField() {
                    switch (specField.number, specField.value) {
                    case (2, .bytes(let map)): charsmap = Array(map)
                    case (3, .varint(let flag)): addDummyPrefix = flag != 0
                    case (4, .varint(let flag)): removeExtraWhitespaces = flag != 0
                    case (5, .varint(let flag)): escapeWhitespaces = flag != 0
                    default: break
                    }
                }
            default:
                break
            }
        }
        guard !pieces.isEmpty else {
            throw TokenizerError.invalidFile(file, key: "ModelProto.pieces", "has no pieces: this is not a SentencePiece model",
                                             hint: "re-download the .spm / .model file")
        }
    }
}

/// SentencePiece's own normalizer (`normalizer.cc`), used when a model has no tokenizer.json: the
/// longest charsmap rule at each position, then runs of spaces collapsed, spaces at the ends
/// dropped, spaces written `▁` and a `▁` put before the text.
struct SentencePieceNormalizer: TextNormalizer {
    var charsmap: PrecompiledCharsmap?
    var addDummyPrefix: Bool
    var removeExtraWhitespaces: Bool
    var escapeWhitespaces: Bool

    func normalize(_ text: inout NormalizedText) {
        let scalars = text.scalars
        var bytes: [UInt8] = []
        var scalarAtByte: [Int] = []  // for each byte, its scalar; then one past the end
        bytes.reserveCapacity(scalars.count)
        for (index, scalar) in scalars.enumerated() {
            UTF8.encode(scalar) { bytes.append($0); scalarAtByte.append(index) }
        }
        scalarAtByte.append(scalars.count)
        // Byte offset of each scalar start.
        var byteOfScalar = [Int](repeating: bytes.count, count: scalars.count + 1)
        for byte in stride(from: bytes.count - 1, through: 0, by: -1) { byteOfScalar[scalarAtByte[byte]] = byte }

        /// What the text at scalar `index` normalizes to, and how many scalars that consumes.
        func normalizePrefix(_ index: Int) -> (consumed: Int, output: [Unicode.Scalar]) {
            if let charsmap, let match = charsmap.longestMatch(bytes, from: byteOfScalar[index]) {
                // A rule ends on a character boundary in any sane charsmap; round up if not.
                var end = index + 1
                while end < scalars.count, byteOfScalar[end] < byteOfScalar[index] + match.length { end += 1 }
                return (end - index, match.replacement)
            }
            return (1, [scalars[index]])
        }

        var pieces: [(old: Range<Int>, new: [Unicode.Scalar])] = []
        var index = 0
        if removeExtraWhitespaces {
            while index < scalars.count {
                let prefix = normalizePrefix(index)
                if prefix.output != [" "] { break }
                pieces.append((index..<index + prefix.consumed, []))
                index += prefix.consumed
            }
        }
        let hasText = index < scalars.count
        let space: Unicode.Scalar = escapeWhitespaces ? "▁" : " "
        var previousIsSpace = removeExtraWhitespaces
        while index < scalars.count {
            let prefix = normalizePrefix(index)
            var output = prefix.output[...]
            if previousIsSpace { while output.first == " " { output = output.dropFirst() } }
            if !output.isEmpty {
                previousIsSpace = output.last == " "
            }
            pieces.append((index..<index + prefix.consumed, output.map { $0 == " " ? space : $0 }))
            index += prefix.consumed
            if !removeExtraWhitespaces { previousIsSpace = false }
        }
        text.rebuild(pieces)
        if hasText, addDummyPrefix {
            if text.isEmpty {
                return  // the dummy space would be the trailing space removed below
            }
            text.prepend([space])
        }
        if removeExtraWhitespaces {
            while text.scalars.last == space {
                text.scalars.removeLast()
                text.alignments.removeLast()
            }
        }
    }
}

/// A reader of protocol-buffer fields, with errors that name the file and the message.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    var bytes: ArraySlice<UInt8>
    let file: String
    let path: String

    init(bytes: ArraySlice<UInt8>, file: String, path: String) {
        self.bytes = bytes
        self.file = file
        self.path = path
    }

    func error(_ message: String) -> TokenizerError {
        TokenizerError.invalidFile(file, key: path, "is not a valid SentencePiece model: \(message)",
                                   hint: "the file is damaged or truncated; re-download it")
    }

    mutating func varint() throws -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            guard shift < 64 else { throw error("a number is longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw error("the data ends inside a number")
    }

    /// The next field, nil at the end of the message.
    mutating func nextField() throws -> (number: Int, value: Value)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        let number = Int(key >> 3)
        guard number > 0 else { throw error("field number 0") }
        switch key & 7 {
        case 0:
            return (number, .varint(try varint()))
        case 1:
            guard bytes.count >= 8 else { throw error("the data ends inside field \(number)") }
            var value: UInt64 = 0
            for (shift, byte) in bytes.prefix(8).enumerated() { value |= UInt64(byte) << (8 * UInt64(shift)) }
            bytes = bytes.dropFirst(8)
            return (number, .fixed64(value))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.count) else {
                throw error("field \(number) claims \(length) bytes, only \(bytes.count) remain")
            }
            let value = bytes.prefix(Int(length))
            bytes = bytes.dropFirst(Int(length))
            return (number, .bytes(value))
        case 5:
            guard bytes.count >= 4 else { throw error("the data ends inside field \(number)") }
            var value: UInt32 = 0
            for (shift, byte) in bytes.prefix(4).enumerated() { value |= UInt32(byte) << (8 * UInt32(shift)) }
            bytes = bytes.dropFirst(4)
            return (number, .fixed32(value))
        default:
            throw error("field \(number) has wire type \(key & 7), which SentencePiece models do not use")
        }
    }
}
