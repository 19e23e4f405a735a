import Foundation
import Testing

let haveMan = FileManager.default.isExecutableFile(atPath: "/usr/bin/man")

/// scripts/install into a temporary prefix: what it puts there works from there, and
/// scripts/uninstall takes it all away again.
@Suite struct InstallTests {
    @Test(.enabled(if: haveMan, "scripts/setup installs man-db"))
    func installAndUninstallInATemporaryPrefix() throws {
        let dir = try TemporaryDirectory()
        let prefix = dir.path + "/prefix"
        // The build is normally made already by scripts/test (scripts/install --build-only).
        let installed = try run(packageRoot.path + "/scripts/install", [prefix], cwd: packageRoot.path, timeout: 1800)
        try #require(installed.status == 0, "\(installed.stdout)\(installed.stderr)")

        let version = try run(prefix + "/bin/minderd", ["--version"])
        #expect(version.status == 0 && !version.stdout.isEmpty)
        let help = try run(prefix + "/bin/minderctl", ["--help"])
        #expect(help.status == 0 && help.stdout.contains("status"))
        // Static Swift: no Swift library is loaded from the system; stripped: no symbol table.
        let libraries = try run("/usr/bin/ldd", [prefix + "/bin/minderd"])
        #expect(!libraries.stdout.contains("libswift") && !libraries.stdout.contains("libFoundation"), "\(libraries.stdout)")
        // minderctl links no libedit: its shell loads it.
        let ctlLibraries = try run("/usr/bin/ldd", [prefix + "/bin/minderctl"])
        #expect(ctlLibraries.status == 0 && !ctlLibraries.stdout.contains("libswift") && !ctlLibraries.stdout.contains("libedit"),
                "\(ctlLibraries.stdout)")
        let symbols = try run("/usr/bin/nm", [prefix + "/bin/minderd"])
        #expect(symbols.stderr.contains("no symbols"), "\(symbols.stderr)")
        // The footprint: no Foundation and no regex modules in minderd (their symbols are in the
        // unstripped build), and at most 15 MB stripped.
        let built = try run("/usr/bin/nm", [packageRoot.path + "/.build-release/release/minderd"])
        #expect(built.status == 0 && !built.stdout.contains("20FoundationEssentials") && !built.stdout.contains("17_StringProcessing"))
        let size = try FileManager.default.attributesOfItem(atPath: prefix + "/bin/minderd")[.size] as? Int ?? .max
        #expect(size <= 15_000_000, "minderd is \(size) bytes stripped")

        for tool in ["minderd", "minderctl"] {
            let page = try run("/usr/bin/man", ["-l", "-P", "cat", prefix + "/share/man/man1/\(tool).1"])
            #expect(page.status == 0 && page.stdout.contains("NAME") && page.stdout.contains(tool), "\(tool): \(page.stdout)\(page.stderr)")
        }
        // The bash completion, loaded as bash-completion would, completes minderctl's commands.
        let completed = try run("/bin/bash", ["-c", """
            source "$1/share/bash-completion/completions/minderctl"
            complete -p minderctl
            COMP_WORDS=(minderctl sta); COMP_CWORD=1; COMP_LINE="minderctl sta"; COMP_POINT=${#COMP_LINE}
            _minderctl minderctl sta minderctl
            printf '%s\\n' "${COMPREPLY[@]}"
            """, "bash", prefix])
        #expect(completed.status == 0, "\(completed.stderr)")
        #expect(completed.stdout.contains("-F _minderctl minderctl") && completed.stdout.contains("\nstart\n")
            && completed.stdout.contains("\nstatus\n"), "\(completed.stdout)\(completed.stderr)")
        for file in ["share/zsh/site-functions/_minderd", "share/fish/vendor_completions.d/minderctl.fish", "lib/systemd/system/minderd.service"] {
            #expect(FileManager.default.fileExists(atPath: prefix + "/" + file), "\(file)")
        }
        let unit = try String(contentsOfFile: prefix + "/lib/systemd/system/minderd.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=\(prefix)/bin/minderd -n"))

        let removed = try run(packageRoot.path + "/scripts/uninstall", [prefix])
        #expect(removed.status == 0, "\(removed.stderr)")
        let left = FileManager.default.enumerator(atPath: prefix)?.compactMap { $0 as? String }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: prefix + "/" + $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        } ?? []
        #expect(left.isEmpty, "left behind: \(left)")
    }
}
