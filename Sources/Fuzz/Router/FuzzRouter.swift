// Fuzz target for the control API's router (ControlRoute.parse), the web page's (WebRoute.parse),
// the JSON parser under request bodies, which see whatever a client on the socket sends, and
// minderctl's readers of what comes back (status records, chunked replies). Built with -DFUZZING it is a
// libFuzzer target; otherwise it replays corpus files, so every seed and
// every crash reproducer stays a regression test (scripts/fuzz --replay).

import Foundation
import MinderConfig
import MinderControl

/// The methods minderd routes, picked by a one-byte first line so mutations
/// reach every method's branch; longer first lines are used as sent.
let methods = ["GET", "POST", "DELETE", "PUT"]

/// `method \n target \n body`: the input split at its first two newlines.
func fuzzOne(_ data: [UInt8]) {
    let parts = data.split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
    let method = parts[0].count == 1 ? methods[Int(parts[0].first!) % methods.count] : String(decoding: parts[0], as: UTF8.self)
    let target = parts.count > 1 ? String(decoding: parts[1], as: UTF8.self) : ""
    let body = parts.count > 2 ? Array(parts[2]) : []
    switch ControlRoute.parse(method: method, target: target, body: body) {
    case .success(.readLog(_, let query)):
        // The router's promise: no log read asks for more than the cap, whatever the query says.
        precondition(query.length <= ControlAPI.maxLogReadBytes && (query.tail ?? 0) <= ControlAPI.maxLogReadBytes)
    case .success, .failure:
        break
    }
    // The web page's router sees the same requests, from a browser or not.
    switch WebRoute.parse(method: method, target: target, body: body, fromBrowser: body.count % 2 == 0) {
    case .success(.tail(let tail))?: precondition(tail.limit >= 0 && tail.limit <= ControlAPI.maxLogReadBytes)
    default: break
    }
    // The JSON parser under every request body: what it takes, it writes as JSON it takes again,
    // and that writes the same bytes (a whole Double comes back as an integer, so values may not).
    if let value = try? JSONValue.parse(body) {
        var once: [UInt8] = [], twice: [UInt8] = []
        value.write(to: &once)
        let again = try? JSONValue.parse(once)
        precondition(again != nil, "the writer wrote what the parser refuses")
        again!.write(to: &twice)
        precondition(once == twice)
    }
    _ = try? JSON.decode([ProcessStatus].self, body)
    // The member-by-member reader (minderctl's status list) takes exactly the arrays of objects
    // the parser takes, with the same members in the same order.
    var members: [(String, JSONValue)] = [], objects = 0
    let streamed = (try? JSONValue.forEachMember(inArrayOfObjects: body, { members.append(($0, $1)); return true },
                                                 end: { objects += 1; return true })) != nil
    func pairs(_ value: JSONValue) -> [(String, JSONValue)]? {
        if case .object(let pairs) = value { return pairs }
        return nil
    }
    if case .array(let items)? = try? JSONValue.parse(body), items.allSatisfy({ pairs($0) != nil }) {
        precondition(streamed && objects == items.count, "the reader refused an array of objects")
        let all = items.flatMap { pairs($0)! }
        precondition(all.count == members.count && zip(all, members).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
    } else {
        precondition(!streamed, "the reader took what is not an array of objects")
    }
    _ = ProcessStatus.fromJSONArray(body)
    // The body as a chunked reply read by minderctl: each chunk lies within it, in order.
    var end = 0
    if let rest = try? ControlClient.takeChunks(body, from: 0, { end += $0.count; return true }) {
        precondition(end <= rest && rest <= body.count)
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
    static func main() { replayMain("FuzzRouter", fuzzOne) }
}

#endif
