// swift-tools-version:6.2
import PackageDescription
import Foundation

// Hot element-wise loops need AVX2/FMA code generation; Swift emits SSE only by default
// (see shared FACTS). The default baseline is x86-64-v3 (AVX2, FMA, BMI2: every x86-64 server
// CPU since Haswell and Zen 1), not `native`: a binary built on one node of a mixed cluster must
// run on the others, and on this machine (Zen 3) the baseline measured as fast as `native`
// (README, "Use as a library"). `TANDEM_MARCH` picks another (native for the build machine
// alone, x86-64 for a CPU without AVX2).
//
// Tools version 6.2 is what lets a package that depends on Tandem by version accept these
// flags (SwiftPM refused "unsafe build flags" in versioned dependencies before 6.2).
let march = ProcessInfo.processInfo.environment["TANDEM_MARCH"] ?? "x86-64-v3"
let codegen: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=\(march)"])]

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tandem", targets: ["tandem"]),
        .library(name: "Tandem", targets: ["Tandem"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target Tandem` (DocC) for the library's API.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // Audio: decoding (WAV, FLAC, Ogg), resampling to 16 kHz, and the spectrogram's FFTs.
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile",
                       providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CSampleRate", pkgConfig: "samplerate",
                       providers: [.apt(["libsamplerate0-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f",
                       providers: [.apt(["libfftw3-dev"])]),
        // -Wno-psabi: a portable build (TANDEM_MARCH=x86-64) passes 32-byte vectors between the
        // kernels' static inline helpers without AVX; clang warns that such an ABI differs, which
        // cannot matter for functions that never leave their file.
        // oneDNN (libdnnl-dev) for the larger matrix products, which it runs faster than
        // OpenBLAS here (Tensor/Kernels.swift); libgomp is its OpenMP runtime.
        .target(name: "CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-march=\(march)", "-Wno-psabi"])],
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // Signal handlers and the atomics the collective watchdog reads: C, because a signal
        // handler must be async-signal-safe.
        .target(name: "CRuntime"),
        .target(name: "Tandem", dependencies: ["CMPI", "CBLAS", "CZlib", "CSndFile", "CSampleRate", "CFFTW", "CKernels", "CRuntime"], swiftSettings: codegen),
        .executableTarget(name: "tandem",
                          dependencies: ["Tandem",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: codegen),
        // A model written in Swift against the library's API (residual blocks, a tied weight, a
        // layer of its own that talks to the other ranks); the test suite runs it three ways.
        .executableTarget(name: "residual-example",
                          dependencies: ["Tandem",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: codegen),
        .testTarget(name: "TandemTests", dependencies: ["Tandem"], swiftSettings: codegen),
    ],
    // The code predates Swift 6's strict concurrency checking; its ranks share memory through
    // MPI windows and threads it manages itself.
    swiftLanguageModes: [.v5]
)
