// What the fuzz targets share: in a plain build each target's main replays corpus files
// through the same function libFuzzer calls, so every seed and every crash reproducer stays a
// regression test (scripts/fuzz --replay).

import Foundation

/// A fuzz target's main in a plain build: replays the files and directories named as arguments.
public func replayMain(_ name: String, _ body: ([UInt8]) -> Void) {
    let paths = Array(CommandLine.arguments.dropFirst())
    guard !paths.isEmpty else {
        print("usage: \(name) FILE_OR_DIR...  (replays each input; scripts/fuzz runs the fuzzer)")
        exit(2)
    }
    print("\(name): replayed \(replay(paths, body)) inputs")
}

/// Runs every file named, and every file in each directory named (sorted), through `body`.
/// Each path goes to stderr (unbuffered) first, so a trap names its input.
public func replay(_ paths: [String], _ body: ([UInt8]) -> Void) -> Int {
    var count = 0
    for path in paths {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            print("no such file: \(path)")
            exit(2)
        }
        let files = isDirectory.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
            : [path]
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            FileHandle.standardError.write(Data((file + "\n").utf8))
            body(Array(data))
            count += 1
        }
    }
    return count
}
