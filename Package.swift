// swift-tools-version:6.0
import PackageDescription

// Optimised in debug builds too, so that tests run real models quickly. Release builds use the
// default -O, with every check on: these modules read files a user supplies, and -Ounchecked
// would turn a wrong size into a silent out-of-bounds read instead of a stop.
let optimised: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "AttnLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "attnlab", targets: ["attnlab"]),
        // The engine for other Swift packages (README, "From Swift"): depend on a local checkout with
        // `.package(path:)`, since SwiftPM allows the optimisation flags above only in local packages.
        .library(name: "AttnLab", targets: ["AttnCore", "AttnModels", "AttnDiff", "AttnFigures", "AttnViews",
                                            "AttnExperiments", "AttnReports"]),
        // The fuzz entry points, for the libFuzzer package in Tools/fuzz.
        .library(name: "AttnFuzz", targets: ["AttnFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: libopenblas-dev, libgit2-dev, libcairo2-dev, zlib1g-dev).
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2",
                       providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CCairo", pkgConfig: "cairo",
                       providers: [.apt(["libcairo2-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // The numeric code is optimised in debug builds too, so that tests run real models quickly.
        // The element-wise kernels in C, for an AVX2 + FMA version chosen at run time (Swift cannot
        // compile one function for another CPU than the rest).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "AttnCore", dependencies: ["CBLAS", "CKernels"], swiftSettings: optimised),
        .target(name: "AttnModels", dependencies: ["AttnCore", "CZlib"], swiftSettings: optimised),
        .target(name: "AttnDiff", dependencies: ["AttnCore", "CKernels"]),
        .target(name: "AttnExperiments", dependencies: ["AttnCore", "AttnModels", "AttnDiff", "Yams"]),
        .target(name: "AttnViews", dependencies: ["AttnCore", "AttnDiff"],
                resources: [.copy("Resources")]),
        .target(name: "AttnFigures", dependencies: ["AttnCore", "AttnDiff", "CCairo", "CZlib"]),
        // libgit2 behind a Swift API: read objects, status, log, an atomic commit of a set of paths.
        .target(name: "AttnGit", dependencies: ["AttnCore", "CGit2"]),
        .target(name: "AttnSnapshots", dependencies: ["AttnCore", "AttnDiff", "AttnGit"]),
        // Run reports (tables, comparisons and links to views, from a run and its traces) and
        // snapshot review pages.
        .target(name: "AttnReports", dependencies: ["AttnCore", "AttnDiff", "AttnExperiments", "AttnViews", "AttnFigures",
                                                    "AttnGit", "AttnSnapshots"]),
        // The local server of `attnlab serve`: routes, sessions, the model cache, security. Every
        // route calls the library function a command calls.
        .target(name: "AttnServe", dependencies: ["AttnCore", "AttnModels", "AttnDiff", "AttnExperiments", "AttnViews", "AttnReports", "AttnSnapshots",
                                                  .product(name: "Hummingbird", package: "hummingbird")],
                resources: [.copy("Resources")]),
        // Every reader of a user's file as a fuzz target, with seeds and seeded mutations (FuzzTests,
        // and Tools/fuzz for libFuzzer).
        .target(name: "AttnFuzz", dependencies: ["AttnCore", "AttnModels", "AttnDiff", "AttnExperiments", "AttnViews", "AttnFigures", "AttnSnapshots"],
                swiftSettings: optimised),
        .executableTarget(name: "attnlab", dependencies: [
            "AttnCore", "AttnModels", "AttnDiff", "AttnExperiments", "AttnViews", "AttnFigures", "AttnGit", "AttnSnapshots", "AttnReports",
            "AttnServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "AttnCoreTests", dependencies: ["AttnCore"]),
        .testTarget(name: "AttnModelsTests", dependencies: ["AttnModels", "CZlib"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "AttnDiffTests", dependencies: ["AttnDiff"]),
        .testTarget(name: "AttnExperimentsTests", dependencies: ["AttnExperiments"]),
        .testTarget(name: "AttnViewsTests", dependencies: ["AttnViews", "AttnModels", "AttnDiff"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "AttnFiguresTests", dependencies: ["AttnFigures"],
                    resources: [.copy("Fixtures")]),
        // Temporary repositories set up through libgit2, for the git and snapshot tests.
        .target(name: "GitTestSupport", dependencies: ["AttnCore", "AttnGit", "CGit2"], path: "Tests/GitTestSupport"),
        .testTarget(name: "AttnGitTests", dependencies: ["AttnGit", "GitTestSupport"]),
        .testTarget(name: "AttnSnapshotsTests", dependencies: ["AttnSnapshots", "GitTestSupport"]),
        .testTarget(name: "AttnReportsTests", dependencies: ["AttnReports"]),
        // Starts the server on a free port; drives the app in headless Chromium; runs the built `attnlab`.
        .testTarget(name: "AttnServeTests", dependencies: ["AttnServe", "AttnCore", "AttnModels", "AttnDiff", "AttnExperiments",
                                                            "AttnViews", "attnlab"]),
        // A seeded fuzz campaign over every reader, about a minute; crashing inputs kept in Fixtures.
        .testTarget(name: "FuzzTests", dependencies: ["AttnFuzz"], resources: [.copy("Fixtures")]),
        // Runs the built `attnlab` binary as a user would.
        .testTarget(name: "attnlabTests", dependencies: ["attnlab", "AttnCore"], resources: [.copy("Fixtures")]),
    ],
    // Swift 5 mode: the numeric code shares unsafe pointers across threads on purpose (disjoint ranges).
    swiftLanguageModes: [.v5]
)
