// [include] files= patterns, matched as Python's glob.glob matches them
// (no `**`, hidden names only for patterns that start with a dot).

enum Glob {
    static func hasMagic(_ s: String) -> Bool { s.contains { $0 == "*" || $0 == "?" || $0 == "[" } }

    /// os.path.split
    static func split(_ path: String) -> (String, String) { (Paths.dirname(path), Paths.basename(path)) }

    /// Matching paths, unsorted (the caller sorts, as supervisord does).
    static func glob(_ pattern: String, files: any ConfigFileSystem) -> [String] {
        iglob(pattern, files: files, dirOnly: false)
    }

    private static func iglob(_ pattern: String, files: any ConfigFileSystem, dirOnly: Bool) -> [String] {
        let (dirname, basename) = split(pattern)
        if !hasMagic(pattern) {
            if !basename.isEmpty {
                return files.exists(pattern) ? [pattern] : []
            }
            return files.isDirectory(dirname) ? [pattern] : []
        }
        let dirs: [String]
        if dirname.isEmpty {
            dirs = [""]
        } else if dirname != pattern && hasMagic(dirname) {
            dirs = iglob(dirname, files: files, dirOnly: true)
        } else {
            dirs = [dirname]
        }
        var out: [String] = []
        for dir in dirs {
            let names: [String]
            if hasMagic(basename) {
                let listing = files.directoryEntries(dir.isEmpty ? "." : dir) ?? []
                names = listing.filter { name in
                    if dirOnly && !files.isDirectory(Paths.join(dir, name)) { return false }
                    if name.hasPrefix(".") && !basename.hasPrefix(".") { return false }
                    return fnmatch(name, basename)
                }
            } else if basename.isEmpty {
                names = files.isDirectory(dir) ? [basename] : []
            } else {
                names = files.exists(Paths.join(dir, basename)) ? [basename] : []
            }
            out += names.map { dir.isEmpty ? $0 : Paths.join(dir, $0) }
        }
        return out
    }

    /// fnmatch.fnmatchcase: `*`, `?`, `[seq]`, `[!seq]`.
    static func fnmatch(_ name: String, _ pattern: String) -> Bool {
        let n = Array(name.unicodeScalars)
        let p = Array(pattern.unicodeScalars)

        // A bracket expression at p[i]: (matcher, index after it), or nil when unclosed (then `[` is literal).
        func bracket(at i: Int) -> ((Unicode.Scalar) -> Bool, Int)? {
            var j = i + 1
            if j < p.count, p[j] == "!" { j += 1 }
            if j < p.count, p[j] == "]" { j += 1 }
            while j < p.count, p[j] != "]" { j += 1 }
            guard j < p.count else { return nil }
            var k = i + 1
            let negate = p[k] == "!"
            if negate { k += 1 }
            var ranges: [(Unicode.Scalar, Unicode.Scalar)] = []
            while k < j {
                let lo = p[k]
                if k + 2 < j, p[k + 1] == "-" {
                    ranges.append((lo, p[k + 2]))
                    k += 3
                } else {
                    ranges.append((lo, lo))
                    k += 1
                }
            }
            let test: (Unicode.Scalar) -> Bool = { c in
                let hit = ranges.contains { $0.0 <= c && c <= $0.1 }
                return negate ? !hit : hit
            }
            return (test, j + 1)
        }

        func match(_ ni: Int, _ pi: Int) -> Bool {
            if pi == p.count { return ni == n.count }
            switch p[pi] {
            case "*":
                var k = ni
                while true {
                    if match(k, pi + 1) { return true }
                    if k == n.count { return false }
                    k += 1
                }
            case "?":
                return ni < n.count && match(ni + 1, pi + 1)
            case "[":
                if let (test, next) = bracket(at: pi) {
                    return ni < n.count && test(n[ni]) && match(ni + 1, next)
                }
                return ni < n.count && n[ni] == "[" && match(ni + 1, pi + 1)
            default:
                return ni < n.count && n[ni] == p[pi] && match(ni + 1, pi + 1)
            }
        }
        return match(0, 0)
    }
}
