// Fuzz target for the sd_notify message parser (NotifyMessage.parse), which
// reads what any process that reaches a program's notify socket sends. Built
// with -DFUZZING it is a libFuzzer target; otherwise it replays corpus files
// (scripts/fuzz --replay).

import MinderControl

func fuzzOne(_ data: [UInt8]) {
    for (key, value) in NotifyMessage.parse(data) {
        // The parser's promise: keys are whole names, and no field spans a line.
        precondition(!key.isEmpty && !key.contains("=") && !key.contains("\n") && !value.contains("\n"))
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
    static func main() { replayMain("FuzzNotify", fuzzOne) }
}

#endif
