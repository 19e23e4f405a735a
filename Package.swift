// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Minder",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "minderd", targets: ["minderd"]),
        .library(name: "Minder", targets: ["Minder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // supervisord's config dialect: pure, every outside fact comes in through ConfigInputs.
        .target(name: "MinderConfig"),
        // The supervisor library: what touches the real system.
        .target(name: "Minder", dependencies: ["MinderConfig"]),
        .executableTarget(
            name: "minderd",
            dependencies: [
                "Minder",
                "MinderConfig",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "MinderConfigTests", dependencies: ["MinderConfig"]),
        .testTarget(name: "MinderdTests", dependencies: ["Minder", "MinderConfig"]),
    ],
    swiftLanguageModes: [.v6]
)
