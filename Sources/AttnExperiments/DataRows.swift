import AttnCore
import Foundation

/// One row of a CSV or JSONL file of inputs: its number (1 for the first data row), the line it
/// starts on, and its fields, or what is wrong with it.
struct DataRow: Sendable, Equatable {
    var number: Int
    var line: Int
    var fields: [String: String]
    /// Why the row cannot be read (a field count that does not match the header, not a JSON
    /// object, not UTF-8); nil for a good row.
    var problem: String?
}

/// The formats an inputs file may have, by its extension.
enum DataFormat: String, Sendable {
    case csv, jsonl

    init?(_ url: URL) {
        switch url.pathExtension.lowercased() {
        case "csv": self = .csv
        case "jsonl", "ndjson": self = .jsonl
        default: return nil
        }
    }
}

/// Reads a CSV (RFC 4180: a header row, quoted fields, doubled quotes, commas and newlines inside
/// quotes) or JSONL file row by row, in chunks, so that a file of any size is read with one row in
/// memory. The SHA-256 of the bytes read is kept as it goes.
final class DataRowReader {
    /// The longest row read: longer ones (a quote never closed, a file without newlines) are a
    /// problem of that row, not a reason to read the whole file into memory.
    static let maximumRowBytes = 1 << 20

    let url: URL
    let format: DataFormat
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var hasher = SHA256()
    private var line = 1
    private var rowNumber = 0
    private var header: [String]?

    init(url: URL, format: DataFormat) throws {
        self.url = url
        self.format = format
        let descriptor: Int32
        do {
            descriptor = try RegularFile.open(url.path).descriptor
        } catch let error as CoreError {
            throw ExperimentError("cannot read the inputs file: \(error.message)", location: url.path,
                                  hint: error.hint ?? "check the path (it is relative to the experiment file)")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        self.handle = handle
    }


    /// The SHA-256 of the file's bytes, once every row has been read.
    func finalHash() -> String { hasher.finalize() }

    /// The next row, or nil at the end of the file.
    func next() throws -> DataRow? {
        switch format {
        case .jsonl: return try nextJSONLine()
        case .csv:
            if header == nil {
                guard let (_, fields, problem) = try nextRecord() else { return nil }
                if let problem { throw ExperimentError("the header row: \(problem)", location: url.path) }
                header = fields.map { $0.trimmingCharacters(in: .whitespaces) }
                if header?.contains("a") != true && header?.contains("text") != true {
                    throw ExperimentError("the header row names no column \"a\" (or \"text\")", location: url.path,
                                          hint: "the first row names the columns: id,a,b (only a is needed)")
                }
            }
            while true {
                guard let (start, fields, problem) = try nextRecord() else { return nil }
                // A blank line between rows is no row.
                if problem == nil, fields.count == 1, fields[0].isEmpty { continue }
                rowNumber += 1
                let columns = header ?? []
                if let problem { return DataRow(number: rowNumber, line: start, fields: [:], problem: problem) }
                guard fields.count == columns.count else {
                    return DataRow(number: rowNumber, line: start, fields: [:],
                                   problem: "it has \(fields.count) field\(fields.count == 1 ? "" : "s"), the header has \(columns.count)")
                }
                return DataRow(number: rowNumber, line: start, fields: Dictionary(zip(columns, fields), uniquingKeysWith: { a, _ in a }))
            }
        }
    }

    // MARK: bytes

    /// Makes at least one more byte available, or returns false at the end of the file.
    private func fill() throws -> Bool {
        if position < buffer.count { return true }
        if atEnd { return false }
        let chunk: Data
        do {
            chunk = try handle.read(upToCount: 1 << 16) ?? Data()
        } catch {
            throw ExperimentError("cannot read the inputs file (\(error.localizedDescription))", location: url.path)
        }
        if chunk.isEmpty {
            atEnd = true
            return false
        }
        hasher.update(chunk)
        buffer = [UInt8](chunk)
        position = 0
        return true
    }

    // MARK: JSONL

    private func nextJSONLine() throws -> DataRow? {
        while true {
            var bytes: [UInt8] = []
            var tooLong = false
            var sawAny = false
            let start = line
            while try fill() {
                sawAny = true
                let byte = buffer[position]
                position += 1
                if byte == 0x0A { line += 1; break }
                if bytes.count < Self.maximumRowBytes { bytes.append(byte) } else { tooLong = true }
            }
            guard sawAny else { return nil }
            if bytes.last == 0x0D { bytes.removeLast() }
            if !tooLong, bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                if atEnd && position >= buffer.count && bytes.isEmpty { return nil }
                continue
            }
            rowNumber += 1
            if tooLong { return DataRow(number: rowNumber, line: start, fields: [:], problem: "the line is longer than \(Self.maximumRowBytes) bytes") }
            guard String(validating: bytes, as: UTF8.self) != nil else {
                return DataRow(number: rowNumber, line: start, fields: [:], problem: "it is not UTF-8 text")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any] else {
                return DataRow(number: rowNumber, line: start, fields: [:], problem: "it is not a JSON object ({\"id\": …, \"a\": …, \"b\": …})")
            }
            var fields: [String: String] = [:]
            for (key, value) in object {
                switch value {
                case let text as String:
                    fields[key] = text
                case is NSNull:
                    continue
                case let number as Int where key == "id" && !(value is Bool):
                    fields[key] = String(number)
                default:
                    if ["id", "a", "b", "text", "decoder"].contains(key) {
                        return DataRow(number: rowNumber, line: start, fields: [:], problem: "\"\(key)\" is not text")
                    }
                }
            }
            return DataRow(number: rowNumber, line: start, fields: fields)
        }
    }

    // MARK: CSV

    /// The next record: the line it starts on, its fields, and a problem when it cannot be read.
    private func nextRecord() throws -> (Int, [String], String?)? {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false, afterQuote = false, sawAny = false, tooLong = false
        var size = 0
        let start = line
        func finishField() -> String? {
            defer { field.removeAll(keepingCapacity: true) }
            return String(validating: field, as: UTF8.self)
        }
        var notUTF8 = false
        while try fill() {
            sawAny = true
            let byte = buffer[position]
            position += 1
            size += 1
            if size > Self.maximumRowBytes { tooLong = true }
            if byte == 0x0A { line += 1 }
            if quoted {
                if byte == 0x22 { quoted = false; afterQuote = true } else if !tooLong { field.append(byte) }
                continue
            }
            switch byte {
            case 0x22:
                if afterQuote { field.append(0x22) }
                quoted = true
            case 0x2C:
                if let text = finishField() { fields.append(text) } else { notUTF8 = true; fields.append("") }
            case 0x0A:
                if let text = finishField() { fields.append(text) } else { notUTF8 = true; fields.append("") }
                return (start, fields, problem(tooLong: tooLong, notUTF8: notUTF8, openQuote: false))
            case 0x0D:
                break
            default:
                if !tooLong { field.append(byte) }
            }
            afterQuote = false
        }
        guard sawAny else { return nil }
        if let text = finishField() { fields.append(text) } else { notUTF8 = true; fields.append("") }
        return (start, fields, problem(tooLong: tooLong, notUTF8: notUTF8, openQuote: quoted))
    }

    private func problem(tooLong: Bool, notUTF8: Bool, openQuote: Bool) -> String? {
        if openQuote { return "a quoted field is not closed (a \" is missing)" }
        if tooLong { return "the row is longer than \(Self.maximumRowBytes) bytes (is a quote not closed?)" }
        if notUTF8 { return "it is not UTF-8 text" }
        return nil
    }
}
