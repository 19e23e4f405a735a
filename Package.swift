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
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // supervisord's config dialect: pure, every outside fact comes in through ConfigInputs.
        .target(name: "MinderConfig"),
        // The child path between clone and exec, and Linux calls Swift cannot make directly.
        .target(name: "CMinder"),
        // The supervisor library: what touches the real system.
        .target(name: "Minder", dependencies: [
            "MinderConfig", "CMinder",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(
            name: "minderd",
            dependencies: [
                "Minder",
                "MinderConfig",
                "CMinder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "MinderConfigTests", dependencies: ["MinderConfig"]),
        .testTarget(name: "MinderTests", dependencies: ["Minder", "MinderConfig"]),
        .testTarget(name: "MinderdTests", dependencies: ["Minder", "MinderConfig"]),
    ],
    swiftLanguageModes: [.v6]
)
