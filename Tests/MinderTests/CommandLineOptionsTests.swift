import Foundation
import MinderControl
import Testing

/// minderd's command-line reader: getopt's forms, as supervisord takes them.
@Suite struct CommandLineOptionsTests {
    let spec = CommandLineSpec(command: "tool", abstract: "A tool.", options: [
        .option("c", "configuration", "The config file.", completion: .file),
        .flag("n", "nodaemon", "Stay in the foreground."),
        .flag("k", "nocleanup", "Keep logs."),
        .option("e", "loglevel", "Log level.", completion: .list(["info", "debug"])),
        .flag(nil, "strict", "Strict."),
        .option(nil, "secret", "", hidden: true),
    ])

    @Test func getoptForms() throws {
        let cases: [([String], [String: String])] = [
            (["-c", "a.conf", "-n"], ["configuration": "a.conf", "nodaemon": "true"]),
            (["-ca.conf"], ["configuration": "a.conf"]),
            (["-nkc", "a.conf"], ["configuration": "a.conf", "nodaemon": "true", "nocleanup": "true"]),
            (["-nkca.conf"], ["configuration": "a.conf", "nodaemon": "true", "nocleanup": "true"]),
            (["--configuration=a=b.conf", "--strict"], ["configuration": "a=b.conf", "strict": "true"]),
            (["--configuration", "-n"], ["configuration": "-n"]),
            (["-e", "info", "-e", "debug"], ["loglevel": "debug"]),
            (["--secret", "3"], ["secret": "3"]),
            // Python's getopt: a long option by a prefix only it has, and `--` ending the options.
            (["--conf=a.conf", "--nod", "--log", "info"], ["configuration": "a.conf", "nodaemon": "true", "loglevel": "info"]),
            (["-n", "--"], ["nodaemon": "true"]),
            (["--s"], ["strict": "true"]),
            ([], [:]),
        ]
        for (arguments, values) in cases {
            #expect(try spec.parse(arguments) == .run(values), "\(arguments)")
        }
        #expect(try spec.parse(["-n", "--help", "-x"]) == .help)
        #expect(try spec.parse(["-h"]) == .help)
        #expect(try spec.parse(["-nh"]) == .help)
        #expect(try spec.parse(["--experimental-dump-help"]) == .dumpHelp)
        #expect(try spec.parse(["--generate-completion-script", "fish"]) == .completion(shell: "fish"))
    }

    @Test func mistakesAreNamed() {
        let cases: [([String], String)] = [
            (["-x"], "unknown option '-x'"),
            (["-nx"], "unknown option '-x'"),
            (["--nope"], "unknown option '--nope'"),
            (["--nodaemon=yes"], "--nodaemon takes no value"),
            (["-c"], "-c needs a value"),
            (["--loglevel"], "--loglevel needs a value"),
            (["stray"], "unexpected argument 'stray'"),
            (["--", "-n"], "unexpected argument '-n'"),
            (["--no"], "option '--no' is ambiguous (--nodaemon, --nocleanup)"),
            (["--sec", "1"], "unknown option '--sec'"),
            (["--generate-completion-script", "tcsh"], "--generate-completion-script takes bash, zsh or fish"),
        ]
        for (arguments, message) in cases {
            #expect(throws: CommandLineError(description: message), "\(arguments)") { try spec.parse(arguments) }
        }
    }

    @Test func helpAndItsDumpListTheVisibleOptions() throws {
        #expect(spec.help.hasPrefix("OVERVIEW: A tool.\n\nUSAGE: tool <options>\n\nOPTIONS:\n"))
        #expect(spec.help.contains("  -c, --configuration <configuration>\n                          The config file.\n"))
        #expect(spec.help.contains("  -n, --nodaemon          Stay in the foreground.\n"))
        #expect(!spec.help.contains("secret"))
        // The shape swift-argument-parser's generate-manual reads.
        let dump = try JSONSerialization.jsonObject(with: Data(spec.dumpHelp)) as? [String: Any]
        let command = dump?["command"] as? [String: Any]
        let arguments = command?["arguments"] as? [[String: Any]] ?? []
        #expect(dump?["serializationVersion"] as? Int == 0 && command?["commandName"] as? String == "tool")
        #expect(arguments.map { $0["valueName"] as? String } == ["configuration", "nodaemon", "nocleanup", "loglevel", "strict", "help"])
        #expect(arguments.map { $0["kind"] as? String } == ["option", "flag", "flag", "option", "flag", "flag"])
    }
}
