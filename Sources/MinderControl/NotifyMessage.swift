// One sd_notify datagram (docs/readiness.md): `KEY=VALUE` lines, as systemd
// reads them. The bytes come from any process that can reach a program's
// socket, so the parser is total: any bytes give fields, never a trap (a fuzz
// target feeds it).

public enum NotifyMessage {
    /// The fields of a message. Lines without `=`, or with nothing before it, are skipped; the
    /// last of a repeated key wins; invalid UTF-8 is replaced.
    public static func parse(_ bytes: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for line in bytes.split(separator: 10) {
            guard let eq = line.firstIndex(of: UInt8(ascii: "=")), eq > line.startIndex else { continue }
            fields[String(decoding: line[..<eq], as: UTF8.self)] = String(decoding: line[(eq + 1)...], as: UTF8.self)
        }
        return fields
    }
}
