// swift-tools-version:5.9
import PackageDescription
import Foundation

// Your own project names Tandem by its repository and version, as any package:
//
//     .package(url: "https://your.git.server/tandem.git", from: "0.1.0")
//
// Inside Tandem's repository this example uses the checkout it sits in, unless TANDEM_GIT_URL
// names a git repository with a 0.1.0 tag: the test suite does that, to build it as a user would.
let tandem: Package.Dependency = ProcessInfo.processInfo.environment["TANDEM_GIT_URL"]
    .map { .package(url: $0, from: "0.1.0") } ?? .package(name: "Tandem", path: "../..")

let package = Package(
    name: "NumPyClassifier",
    dependencies: [tandem],
    targets: [
        .executableTarget(name: "NumPyClassifier", dependencies: [.product(name: "Tandem", package: "Tandem")]),
    ]
)
