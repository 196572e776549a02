// swift-tools-version:6.0
// libFuzzer over AttnLab's readers, for long runs by hand (see the README's tests section). A package
// of its own, because a libFuzzer binary has libFuzzer's `main` and is built with -parse-as-library.
import Foundation
import PackageDescription

/// A path dependency is known by its folder's name (`attnlab`, or a worktree's name).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

let package = Package(
    name: "AttnLabFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "../..")],
    targets: [
        .target(name: "CFuzzer"),
        .executableTarget(name: "attnlab-fuzz", dependencies: ["CFuzzer", .product(name: "AttnFuzz", package: repository.lastPathComponent)]),
    ],
    swiftLanguageModes: [.v5]
)
