// swift-tools-version:6.0
import PackageDescription

// Release binaries are linked by lld with relative relocations packed (DT_RELR, glibc 2.36):
// the table the loader reads at every start shrinks from 0.9 MB, resident for minderd's life,
// to 7 kB.
let compactRelocations = ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]

// minderd's modules do without the standard library's regex modules (1 MB of the binary; substring
// search is MinderConfig's TextSearch) and name every module whose members they use. The compiler
// refuses a regex API where no imported module brings one in; InstallTests checks the built minderd.
let lean: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import"]),
                            .enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "Minder",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "minderd", targets: ["minderd"]),
        .executable(name: "minderctl", targets: ["minderctl"]),
        .library(name: "Minder", targets: ["Minder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
    ],
    targets: [
        // supervisord's config dialect: pure, every outside fact comes in through ConfigInputs.
        .target(name: "MinderConfig", swiftSettings: lean),
        // The child path between clone and exec, and Linux calls Swift cannot make directly.
        .target(name: "CMinder", linkerSettings: [.linkedLibrary("cap")]),
        // The supervisor library: what touches the real system.
        .target(name: "Minder", dependencies: [
            "MinderConfig", "CMinder", "MinderControl", "MinderXMLRPC",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ], swiftSettings: lean),
        .executableTarget(
            name: "minderd",
            dependencies: [
                "Minder",
                "MinderConfig",
                "MinderControl",
                "CMinder",
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: lean,
            // SwiftPM exports every symbol of an executable, which keeps the linker from dropping
            // the unused ones; nothing looks minderd's symbols up.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"] + compactRelocations, .when(configuration: .release))]),
        // The client: a blocking HTTP/1.1 client on the Unix socket is all it needs.
        .executableTarget(
            name: "minderctl",
            dependencies: [
                "MinderConfig",
                "MinderControl",
                "CLineEdit",
                "CMinder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"] + compactRelocations, .when(configuration: .release))]),
        // The shell's line editing and history: libedit, loaded when the shell starts, so only
        // its headers are needed here (libedit-dev).
        .target(name: "CLineEdit"),
        // What minderd and minderctl share about the control API: names, faults, JSON shapes.
        .target(name: "MinderControl", dependencies: ["MinderConfig", "CMinder"], swiftSettings: lean),
        // libxml2's reader (from memory, no DTDs), which parses XML-RPC request bodies. libxml2 is
        // not linked but loaded at the first request, so only its headers are needed here
        // (libxml2-dev; `pkg-config --cflags libxml-2.0` says where Debian puts them).
        .target(name: "CXMLReader", cSettings: [.unsafeFlags(["-I/usr/include/libxml2"])]),
        // supervisord's XML-RPC wire format: request parsing and response encoding, no I/O.
        .target(name: "MinderXMLRPC", dependencies: ["CXMLReader"], swiftSettings: lean),
        // libFuzzer targets for the parsers that take hostile input (docs/fuzzing.md). A plain
        // build replays corpus files through them; scripts/fuzz builds them with -DFUZZING.
        .target(name: "FuzzSupport", path: "Sources/Fuzz/Support"),
        .executableTarget(name: "FuzzRouter", dependencies: ["MinderConfig", "MinderControl", "FuzzSupport"], path: "Sources/Fuzz/Router"),
        .executableTarget(name: "FuzzConfig", dependencies: ["MinderConfig", "FuzzSupport"], path: "Sources/Fuzz/Config"),
        .executableTarget(name: "FuzzStats", dependencies: ["MinderControl", "CMinder", "FuzzSupport"], path: "Sources/Fuzz/Stats"),
        .executableTarget(name: "FuzzXMLRPC", dependencies: ["MinderXMLRPC", "FuzzSupport"], path: "Sources/Fuzz/XMLRPC"),
        .executableTarget(name: "FuzzNotify", dependencies: ["MinderControl", "FuzzSupport"], path: "Sources/Fuzz/Notify"),
        .testTarget(name: "MinderConfigTests", dependencies: ["MinderConfig"]),
        // What the tests start, through minderd's own child path rather than Foundation's Process.
        .target(name: "ChildProcess", dependencies: ["CMinder"], path: "Tests/ChildProcess"),
        // Includes round trips through the real Python xmlrpc.client.
        .testTarget(name: "MinderXMLRPCTests", dependencies: ["MinderXMLRPC", "ChildProcess"]),
        .testTarget(name: "MinderTests", dependencies: [
            "Minder", "MinderConfig", "MinderControl", "CMinder", "ChildProcess",
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "MinderdTests", dependencies: [
            "Minder", "MinderConfig", "MinderControl", "CMinder", "ChildProcess",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
