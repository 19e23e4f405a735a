// minderd's own log, in supervisord's format
// (`2026-11-26 06:46:11,484 INFO spawned: 'x' with pid 12`), written by the
// log thread to `logfile` (rotated) and, in the foreground, to stderr.

import CMinder
import Glibc
import Logging
import MinderConfig
import NIOConcurrencyHelpers

/// Where the main log goes and from which level. Every copy of the handler shares it, so that a
/// reload can change `logfile`, its rotation and `loglevel` for all of them at once.
public final class MainLogSettings: Sendable {
    private let state: Locked<(sinks: [LogSink], level: Logger.Level)>
    let cwd: String
    let foreground: Bool

    public init(_ s: SupervisordSettings, cwd: String, foreground: Bool) {
        self.cwd = cwd
        self.foreground = foreground
        state = Locked(([], .info))
        apply(s)
    }

    /// `logfile` (rotated, or syslog for `syslog`) and, in the foreground unless `silent`,
    /// minderd's stdout.
    public func apply(_ s: SupervisordSettings) {
        var sinks: [LogSink] = []
        if s.logfile == "syslog" {
            sinks.append(.syslog)
        } else {
            sinks.append(LogSink(path: Paths.absolute(s.logfile, cwd: cwd), maxBytes: s.logfileMaxBytes, backups: s.logfileBackups))
        }
        if foreground && !s.silent { sinks.append(LogSink(path: "/dev/stdout", maxBytes: 0, backups: 0)) }
        let level = MainLogHandler.level(s.loglevel)
        state.withLock { $0 = (sinks, level) }
    }

    var sinks: [LogSink] { state.withLock { $0.sinks } }

    var level: Logger.Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }
}

public struct MainLogHandler: LogHandler {
    let capture: LogCapture
    let settings: MainLogSettings
    public var metadata: Logger.Metadata = [:]

    public init(capture: LogCapture, settings: MainLogSettings) {
        self.capture = capture
        self.settings = settings
    }

    public var logLevel: Logger.Level {
        get { settings.level }
        set { settings.level = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let bytes = Array("\(Self.timestamp()) \(Self.name(event.level)) \(event.message)\n".utf8)
        for sink in settings.sinks { capture.write(bytes, to: sink) }
    }

    static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRAC"
        case .debug: "DEBG"
        case .info, .notice: "INFO"
        case .warning: "WARN"
        case .error: "ERRO"
        case .critical: "CRIT"
        }
    }

    /// The config's loglevel as swift-log's.
    public static func level(_ loglevel: String) -> Logger.Level {
        switch loglevel {
        case "critical": .critical
        case "error": .error
        case "warn": .warning
        case "debug": .debug
        case "trace", "blather": .trace
        default: .info
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = now.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)),\(String(millis).leftPadded(3))"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
