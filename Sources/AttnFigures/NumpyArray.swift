import AttnCore
import Foundation

/// Reads NumPy `.npy` files (`np.save`): float16, float32 or float64, little-endian, C order.
public enum NumpyArray {
    /// Reads the array at `url` as Float32.
    public static func read(_ url: URL) throws -> Tensor {
        let data: Data
        do {
            data = try RegularFile.read(url)
        } catch let error as CoreError {
            throw FigureError(error.message, location: error.location, hint: error.hint)
        }
        return try parse(data, path: url.path)
    }

    /// Parses the bytes of an `.npy` file; `path` names it in errors.
    public static func parse(_ data: Data, path: String) throws -> Tensor {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1 ... 5]) == Array("NUMPY".utf8) else {
            throw FigureError("not a NumPy .npy file (no \\x93NUMPY magic)", location: path,
                              hint: "save arrays with np.save(\"x.npy\", array); .npz archives are not read")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw FigureError("the .npy header is truncated", location: path) }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw FigureError(".npy format version \(major) is not known", location: path, hint: "save with a current NumPy")
        }
        guard headerStart + headerLength <= data.count else {
            throw FigureError("the .npy header runs past the end of the file", location: path, hint: "the file is truncated")
        }
        let headerBytes = data.subdata(in: data.startIndex + headerStart ..< data.startIndex + headerStart + headerLength)
        guard let header = String(data: headerBytes, encoding: .utf8) else {
            throw FigureError("the .npy header is not text", location: path)
        }
        let descr = try field("descr", in: header, path: path)
        let fortran = try field("fortran_order", in: header, path: path)
        let shapeText = try field("shape", in: header, path: path)

        let elementSize: Int
        switch descr {
        case "'<f4'", "\"<f4\"": elementSize = 4
        case "'<f8'", "\"<f8\"": elementSize = 8
        case "'<f2'", "\"<f2\"": elementSize = 2
        default:
            let plain = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            let hint = plain.hasPrefix(">")
                ? "it is big-endian; save it with array.astype(\"<f4\")"
                : "save it with array.astype(np.float32)"
            throw FigureError("the array's type is \(plain), not float16, float32 or float64 (little-endian)", location: path, hint: hint)
        }
        guard fortran == "False" else {
            throw FigureError("the array is in Fortran order", location: path,
                              hint: "save it with np.save(path, np.ascontiguousarray(array))")
        }
        let shape = try parseShape(shapeText, path: path)
        let payloadStart = headerStart + headerLength
        guard let payloadBytes = CheckedSize.bytes(shape, elementSize: elementSize) else {
            throw FigureError("shape \(shape) has more elements than can be counted", location: path, hint: "the file is corrupt")
        }
        guard payloadBytes <= data.count - payloadStart else {
            throw FigureError("shape \(shape) needs \(payloadBytes) bytes of data but the file holds \(data.count - payloadStart)",
                              location: path, hint: "the file is truncated")
        }
        let count = payloadBytes / elementSize
        var scalars = [Float](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[payloadStart...])
            switch elementSize {
            case 4:
                for i in 0 ..< count { scalars[i] = Float(bitPattern: payload.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
            case 8:
                for i in 0 ..< count { scalars[i] = Float(Double(bitPattern: payload.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian)) }
            default:
                for i in 0 ..< count { scalars[i] = Float(Float16(bitPattern: payload.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)) }
            }
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The text of one value of the header's Python dict literal (up to the next top-level comma).
    private static func field(_ name: String, in header: String, path: String) throws -> String {
        guard let key = header.range(of: "'\(name)'") ?? header.range(of: "\"\(name)\""),
              let colon = header[key.upperBound...].firstIndex(of: ":") else {
            throw FigureError("the .npy header has no \"\(name)\"", location: path, hint: "the file is corrupt")
        }
        var depth = 0
        var end = header.index(after: colon)
        while end < header.endIndex {
            let character = header[end]
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if depth == 0 && (character == "," || character == "}") { break }
            if depth < 0 { break }
            end = header.index(after: end)
        }
        return header[header.index(after: colon) ..< end].trimmingCharacters(in: .whitespaces)
    }

    private static func parseShape(_ text: String, path: String) throws -> [Int] {
        guard text.hasPrefix("("), text.hasSuffix(")") else {
            throw FigureError("the .npy shape \(text) is not a tuple", location: path)
        }
        let inner = text.dropFirst().dropLast()
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "L", with: "")
            if trimmed.isEmpty { continue }
            guard let value = Int(trimmed), value >= 0 else {
                throw FigureError("the .npy shape \(text) is not a tuple of sizes", location: path)
            }
            shape.append(value)
        }
        return shape
    }
}
