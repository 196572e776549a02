import AttnFuzz
import CFuzzer
import Foundation

// libFuzzer calls these two functions; it owns `main`. Build and run as the README says:
//   ATTNLAB_FUZZ_TARGET=safetensors .build/release/attnlab-fuzz corpus/safetensors -max_total_time=600
// With ATTNLAB_FUZZ_SEEDS=1 the target's seeds are first written into the corpus folder given.

/// The reader under fuzzing, from ATTNLAB_FUZZ_TARGET.
private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["ATTNLAB_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.named(name) else {
        let names = FuzzTargets.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("attnlab-fuzz: set ATTNLAB_FUZZ_TARGET to one of \(names)\n".utf8))
        exit(2)
    }
    return target
}()

private let scratch = try! FuzzScratch(folder: FileManager.default.temporaryDirectory
    .appendingPathComponent("attnlab-fuzz-\(getpid())"))

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let arguments = (0 ..< Int(argc.pointee)).compactMap { argv.pointee?[$0].map { String(cString: $0) } }
    if ProcessInfo.processInfo.environment["ATTNLAB_FUZZ_SEEDS"] != nil,
       let corpus = arguments.dropFirst().first(where: { !$0.hasPrefix("-") }) {
        let folder = URL(fileURLWithPath: corpus)
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (index, seed) in target.seeds().enumerated() {
            try? seed.write(to: folder.appendingPathComponent("seed-\(index)"))
        }
    }
    _ = scratch
    return 0
}

/// SwiftPM links an executable's entry point under this name; with -parse-as-library there is
/// none, so it is given here and hands over to libFuzzer's driver.
@_cdecl("attnlab_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in testOneInput(bytes!, size) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    try? target.read(Data(bytes: bytes, count: count), scratch)
    return 0
}
