// Substring search without the standard library's regex modules, which Minder's modules do not
// import (Package.swift's `lean`): `firstRange(of:)` and `contains(_:)` for a string live there
// and would bring 1 MB into minderd. Searched by UTF-8 code units; Minder's needles are ASCII.

extension StringProtocol {
    /// The first occurrence of `target`.
    public func find(_ target: some StringProtocol) -> Range<Index>? {
        let needle = Array(target.utf8)
        guard let first = needle.first else { return startIndex..<startIndex }
        let hay = utf8
        var at = hay.startIndex
        while let hit = hay[at...].firstIndex(of: first) {
            if hay[hit...].starts(with: needle) { return hit..<hay.index(hit, offsetBy: needle.count) }
            at = hay.index(after: hit)
        }
        return nil
    }

    public func includes(_ target: some StringProtocol) -> Bool { find(target) != nil }

    /// Every occurrence of `target` replaced, left to right.
    public func replacingAll(_ target: some StringProtocol, with replacement: some StringProtocol) -> String {
        var out = ""
        var rest = self[...]
        while !target.isEmpty, let hit = rest.find(target) {
            out += rest[..<hit.lowerBound]
            out += replacement
            rest = rest[hit.upperBound...]
        }
        return out + rest
    }
}
