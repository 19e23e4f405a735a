import Foundation
import Testing
@testable import MinderConfig

/// The INI reader, %-expansion and shlex splitting, rule by rule.
@Suite struct SyntaxTests {
    func read(_ text: String) throws -> INIDocument {
        var doc = INIDocument()
        let bad = try doc.read(text: text, file: "t.conf")
        #expect(bad.isEmpty)
        return doc
    }

    func readFailures(_ text: String) throws -> [INIParseFailure] {
        var doc = INIDocument()
        return try doc.read(text: text, file: "t.conf")
    }

    @Test func commentsNeedWhitespaceBeforeThem() throws {
        let doc = try read("""
            [s]
            a = 1 ; comment
            b = 2;not a comment
            c = 3	# tab then hash
            ; full line
              # indented full line
            d = x#y ;z
            e = a;b ;c #d
            """)
        #expect(doc.entry("s", "a")?.value == "1")
        #expect(doc.entry("s", "b")?.value == "2;not a comment")
        #expect(doc.entry("s", "c")?.value == "3")
        #expect(doc.entry("s", "d")?.value == "x#y")
        // CPython scans ';' and '#' occurrence by occurrence: the first round that finds
        // a comment start wins, even when an earlier ' ;' exists in a later round.
        #expect(doc.entry("s", "e")?.value == "a;b ;c")
    }

    @Test func continuationLinesAndBlankLines() throws {
        let doc = try read("[s]\ncommand = bash -c \"a\n    b\"\n\n  c\nnext=1\n  more\n")
        #expect(doc.entry("s", "command")?.value == "bash -c \"a\nb\"\n\nc")
        #expect(doc.entry("s", "next")?.value == "1\nmore")
        #expect(doc.entry("s", "command")?.location.line == 2)
    }

    @Test func unindentedWrapIsANewOption() throws {
        let doc = try read("[s]\ncommand = a\n--tries=3\n")
        #expect(doc.entry("s", "command")?.value == "a")
        #expect(doc.entry("s", "--tries")?.value == "3")
        #expect(doc.optionNames("s") == ["command", "--tries"])
    }

    @Test func keysAreCaseInsensitiveSectionsAreNot() throws {
        let doc = try read("[Program:A]\nCommand : x\n[program:A]\ncommand=y\n")
        #expect(doc.sectionNames == ["Program:A", "program:A"])
        #expect(doc.entry("Program:A", "command")?.value == "x")
    }

    @Test func sectionHeaderTakesEverythingToTheLastBracket() {
        #expect(INIDocument.sectionHeader("[a]b]") == "a]b")
        #expect(INIDocument.sectionHeader("[program:x] trailing") == "program:x")
        #expect(INIDocument.sectionHeader("[program:x") == nil)
        #expect(INIDocument.sectionHeader("[]") == nil)
    }

    @Test func optionSplitsAtTheFirstDelimiter() throws {
        let doc = try read("[s]\nurl = http://x:1\na: b=c\n")
        #expect(doc.entry("s", "url")?.value == "http://x:1")
        #expect(doc.entry("s", "a")?.value == "b=c")
        #expect(try readFailures("[s]\nnovalue\n").map(\.location.line) == [2])
        // Python splits code points: a combining mark does not hide the `=` it follows.
        #expect(try read("[s]\nk=\u{301}\n").entry("s", "k")?.value == "\u{301}")
    }

    @Test func unicodeWhitespaceTrimsAndStartsComments() throws {
        let doc = try read("[s]\na\u{3000}=\u{A0}x\u{3000};c\n\u{2028}y\n")
        #expect(doc.entry("s", "a")?.value == "x\ny")
        #expect(doc.optionNames("s") == ["a"])
        // str.isspace() also takes the ASCII separators, which Unicode's White_Space does not.
        #expect(try read("[s]\nb =\u{1F}y\u{1C};c\n").entry("s", "b")?.value == "y")
    }

    @Test func crlfAndBOM() throws {
        let doc = try read("\u{FEFF}[s]\r\na = 1\r\n")
        #expect(doc.entry("s", "a")?.value == "1")
    }

    @Test func percentFormatting() throws {
        let x: Expansions = ["n": .int(7), "s": .string("ab"), "neg": .int(-3)]
        #expect(try pyFormat("%(n)d %(n)03d %(n)-3d| %(n)x %(n)#o %(s)s %(s)5s %(s)-4s| %(s)r %(n)s 50%%", x)
            == "7 007 7  | 7 0o7 ab    ab ab  | 'ab' 7 50%")
        #expect(try pyFormat("%(neg)05d %(n)+d %(s).1s %(n).3d", x) == "-0003 +7 a 007")
        #expect(try pyFormat("%(n)f", x) == "7.000000")
        // However long the number comes out: Python builds the whole of it.
        #expect(try pyFormat("%(n).1000f", x) == "7." + String(repeating: "0", count: 1000))
        #expect(throws: ExpansionError.badFormat("unsupported format character 'Y' (0x59) at index 1")) { try pyFormat("%Y", x) }
        #expect(throws: ExpansionError.badFormat("incomplete format")) { try pyFormat("100%", x) }
        #expect(throws: ExpansionError.badFormat("incomplete format key")) { try pyFormat("%(n", x) }
        #expect(throws: ExpansionError.badFormat("%d format: a real number is required, not str")) { try pyFormat("%(s)d", x) }
        #expect(throws: ExpansionError.wholeTable("%s")) { try pyFormat("date +%s", x) }
        #expect(throws: ExpansionError.unknownName("m", available: ["n", "neg", "s"])) { try pyFormat("%(m)s", x) }
        #expect(try pyFormat("no percent", [:]) == "no percent")
    }

    @Test func commandSplitting() throws {
        #expect(try splitCommand(#"a "b c" 'd e' f\ g "h\"i" 'j\k' "l\m" """#) == ["a", "b c", "d e", "f g", "h\"i", "j\\k", "l\\m", ""])
        #expect(try splitCommand("a\n  b\tc") == ["a", "b", "c"])
        #expect(try splitCommand("x'y'z") == ["xyz"])
        #expect(throws: CommandSplitError(message: "No closing quotation")) { try splitCommand("bash -c 'echo") }
        #expect(throws: CommandSplitError(message: "No escaped character")) { try splitCommand("a\\") }
    }

    @Test func environmentTokenizing() throws {
        #expect(try environmentTokens(#"A="x y",B=c:d/e.f+g-h(i)"#) == ["A", "=", "\"x y\"", ",", "B", "=", "c:d/e.f+g-h(i)"])
        #expect(try environmentTokens("A=b@c") == ["A", "=", "b", "@", "c"])
        #expect(try parseEnvironment("A=1,A=2,B=3").map { "\($0)=\($1)" } == ["A=2", "B=3"])
        #expect(throws: EnvironmentParseError.self) { try parseEnvironment("A=1,B") }
    }

    @Test func valueTypes() throws {
        #expect(try Values.integer(" +1_000 ") == 1000)
        #expect(throws: ValueError.self) { try Values.integer("1__0") }
        #expect(try Values.byteSize("50 mb") == 50 * 1024 * 1024)
        #expect(try Values.byteSize("1048576") == 1_048_576)
        #expect(try Values.octal("0o22") == 0o22 && Values.octal("777") == 0o777)
        #expect(try Values.signal("SIGTERM") == 15 && Values.signal("usr2") == 12 && Values.signal("0") == 0)
        #expect(try Values.signal("RTMIN") == 34 && Values.signal("iot") == 6)
        #expect(try Values.exitCodes("") == [] && Values.exitCodes("0, 2,255") == [0, 2, 255])
        #expect(try Values.boolean("On") && !Values.boolean("0"))
        #expect(Signals.name(of: 6) == "ABRT" && Signals.name(of: 0) == nil)
    }

    @Test func globMatching() {
        #expect(Glob.fnmatch("a.conf", "*.conf"))
        #expect(!Glob.fnmatch("a.conf", "*.ini"))
        #expect(Glob.fnmatch("b1.conf", "[a-c]?.conf") && !Glob.fnmatch("d1.conf", "[a-c]?.conf"))
        #expect(Glob.fnmatch("x.conf", "[!a]*") && Glob.fnmatch("[x", "[x"))
    }

    @Test func pathHelpers() {
        #expect(Paths.normpath("/a/./b/../c//") == "/a/c" && Paths.normpath("../x") == "../x")
        #expect(Paths.dirname("/a/b") == "/a" && Paths.dirname("/a") == "/" && Paths.dirname("a") == "")
        let accounts = TableAccounts()
        #expect(Paths.expandUser("~/x", environment: ["HOME": "/root/"], accounts: accounts) == "/root/x")
        #expect(Paths.expandUser("~app/log", environment: [:], accounts: accounts) == "/home/app/log")
    }

    @Test func jsonRoundTrip() throws {
        let value = JSONValue.object([("a", .array([.int(1), .bool(true), .null, .string("x\"\n\u{1}é")])), ("b", .object([]))])
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(try JSONValue.parse("[1]") != JSONValue.parse("[true]"))
    }
}
