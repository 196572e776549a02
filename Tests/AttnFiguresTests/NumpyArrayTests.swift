import AttnCore
import Foundation
import Testing
@testable import AttnFigures

/// The bytes of an `.npy` file, written as `np.save` writes version 1.0.
func npy(descr: String, shape: [Int], fortran: Bool = false, payload: Data) -> Data {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
    let length = UInt16(header.utf8.count)
    data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
    data.append(Data(header.utf8))
    data.append(payload)
    return data
}

func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> Data {
    var data = Data()
    for value in values { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    return data
}

struct NumpyArrayTests {
    @Test func readsFloat32Float64AndFloat16() throws {
        let values: [Float] = [0.5, 0.25, 0.125, 1, 0, 0.75]
        let f4 = try NumpyArray.parse(npy(descr: "<f4", shape: [2, 3], payload: littleEndian(values.map(\.bitPattern))), path: "a.npy")
        #expect(f4.shape == [2, 3] && f4.scalars == values)
        let f8 = try NumpyArray.parse(npy(descr: "<f8", shape: [3, 2], payload: littleEndian(values.map { Double($0).bitPattern })), path: "b.npy")
        #expect(f8.shape == [3, 2] && f8.scalars == values)
        let f2 = try NumpyArray.parse(npy(descr: "<f2", shape: [1, 2, 3], payload: littleEndian(values.map { Float16($0).bitPattern })), path: "c.npy")
        #expect(f2.shape == [1, 2, 3] && f2.scalars == values)
    }

    @Test func readsAFileFromDisk() throws {
        let folder = try temporaryFolder()
        let url = folder.appendingPathComponent("runs.npy")
        try npy(descr: "<f4", shape: [2, 2, 2], payload: littleEndian([Float](repeating: 0.5, count: 8).map(\.bitPattern))).write(to: url)
        let array = try NumpyArray.read(url)
        #expect(array.shape == [2, 2, 2])
    }

    @Test func rejectsWhatItCannotRead() throws {
        let four = littleEndian([Float](repeating: 1, count: 4).map(\.bitPattern))
        func message(_ data: Data) -> String {
            do {
                _ = try NumpyArray.parse(data, path: "x.npy")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(npy(descr: ">f4", shape: [2, 2], payload: four)).contains("big-endian"))
        #expect(message(npy(descr: "<i4", shape: [2, 2], payload: four)).contains("astype(np.float32)"))
        #expect(message(npy(descr: "<f4", shape: [2, 2], fortran: true, payload: four)).contains("Fortran"))
        #expect(message(npy(descr: "<f4", shape: [3, 3], payload: four)).contains("truncated"))
        #expect(message(Data("PK\u{3}\u{4}zip".utf8)).contains("not a NumPy .npy file"))
        #expect(throws: FigureError.self) { try NumpyArray.read(URL(fileURLWithPath: "/nonexistent/x.npy")) }
    }

    @Test func refusesAShapeWhoseSizeOverflows() {
        // 2^32 × 2^32 × 4 bytes wraps around to 0 without a check (it trapped before).
        let four = littleEndian([Float](repeating: 1, count: 4).map(\.bitPattern))
        for shape in [[1 << 32, 1 << 32], [1 << 62, 2], [3, 1 << 61, 2]] {
            #expect(throws: FigureError.self) { try NumpyArray.parse(npy(descr: "<f4", shape: shape, payload: four), path: "x.npy") }
        }
        #expect { try NumpyArray.parse(npy(descr: "<f8", shape: [1 << 62], payload: four), path: "x.npy") } throws: {
            "\($0)".contains("more elements than can be counted")
        }
    }

    @Test func refusesAFIFO() throws {
        let fifo = try temporaryFolder().appendingPathComponent("runs.npy")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        #expect { try NumpyArray.read(fifo) } throws: { "\($0)".contains("is a FIFO (named pipe), not a regular file") }
    }
}
