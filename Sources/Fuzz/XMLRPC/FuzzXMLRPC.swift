// Fuzz target for the XML-RPC request parser (XMLRPCCall.parse), which sees whatever a
// client on the socket sends. Built with -DFUZZING it is a libFuzzer target; otherwise it
// replays corpus files, so every seed and every crash reproducer stays a regression test
// (scripts/fuzz --replay).

import MinderXMLRPC

/// The input as a request body. A call that parses must survive encodeCall and a second
/// parse unchanged.
func fuzzOne(_ data: [UInt8]) {
    guard case .success(let call) = XMLRPCCall.parse(data) else { return }
    // XML 1.0 forbids what the encoder would replace with U+FFFD, even as references, so no
    // parsed string may hold it: then the round trip has nothing to replace and is exact.
    precondition(call.params.allSatisfy(isClean), "parsed a character XML 1.0 forbids")
    // Re-encoding may grow the body (`>` becomes `&gt;`) and adds a level where bare
    // `<value>` text becomes `<string>`; the limits are widened for that alone.
    var limits = XMLRPCLimits.default
    limits.maxBytes = .max
    limits.maxDepth += 1
    let again = XMLRPCCall.parse(encodeCall(methodName: call.methodName, params: call.params), limits: limits)
    guard case .success(let reparsed) = again else { preconditionFailure("re-encoded call refused: \(again)") }
    precondition(reparsed == call, "round trip changed the call: \(call) became \(reparsed)")
}

func isClean(_ value: XMLRPCValue) -> Bool {
    switch value {
    case .string(let text), .dateTime(let text): isClean(text)
    case .array(let items): items.allSatisfy(isClean)
    case .structure(let members): members.allSatisfy { isClean($0.0) && isClean($0.1) }
    case .int, .bool, .double, .base64, .nil: true
    }
}

func isClean(_ text: String) -> Bool {
    text.unicodeScalars.allSatisfy { scalar in
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0..<0x20, 0xFFFE, 0xFFFF: false
        default: true
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
import FuzzSupport

@main enum Replay {
    static func main() { replayMain("FuzzXMLRPC", fuzzOne) }
}

#endif
