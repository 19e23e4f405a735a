// Base64 (RFC 4648, with padding) for HTTP Basic credentials: minderctl encodes them, minderd's
// servers decode them.

public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var at = 0
        while at < bytes.count {
            let n = min(3, bytes.count - at)
            var group = UInt32(bytes[at]) << 16
            if n > 1 { group |= UInt32(bytes[at + 1]) << 8 }
            if n > 2 { group |= UInt32(bytes[at + 2]) }
            for i in 0..<4 {
                out.append(i <= n ? alphabet[Int(group >> (18 - 6 * UInt32(i)) & 63)] : UInt8(ascii: "="))
            }
            at += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for anything but canonical padded Base64.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        var at = 0
        while at < chars.count {
            var group: UInt32 = 0
            var padding = 0
            for i in 0..<4 {
                let c = chars[at + i]
                if c == UInt8(ascii: "=") {
                    // Padding only at the end of the last group, at most two.
                    guard at + 4 == chars.count, i >= 2, i == 3 || chars[at + 3] == UInt8(ascii: "=") else { return nil }
                    padding += 1
                    group <<= 6
                    continue
                }
                guard padding == 0, let value = alphabet.firstIndex(of: c) else { return nil }
                group = group << 6 | UInt32(value)
            }
            let decoded = [UInt8(group >> 16 & 255), UInt8(group >> 8 & 255), UInt8(group & 255)]
            out.append(contentsOf: decoded[..<(3 - padding)])
            at += 4
        }
        return out
    }
}
