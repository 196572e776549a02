import AttnCore
import Foundation

/// OpenBLAS reads OPENBLAS_CORETYPE only when it is loaded. When it picked a generic kernel for a
/// CPU that has AVX2 or AVX-512 (seen in virtual machines), start this process again, once, with
/// the right kernel named. A user's own OPENBLAS_CORETYPE is left alone.
enum OpenBLASKernels {
    static func ensureFast() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil,
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let core = BLAS.betterCore(cpuFlags: Set(flagsLine.split(separator: " ").map(String.init)))
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv returned: carry on with the slower kernels.
    }
}
