/// One finding about a config file, always tied to where it was written.
public struct ConfigDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable {
        case error, warning, note
    }

    public var severity: Severity
    public var location: SourceLocation?
    public var section: String?
    public var option: String?
    public var message: String

    public init(_ severity: Severity, _ location: SourceLocation?, section: String? = nil, option: String? = nil,
                _ message: String) {
        self.severity = severity
        self.location = location
        self.section = section
        self.option = option
        self.message = message
    }

    /// `file:line: [section] option: message`
    public var description: String {
        var parts: [String] = []
        if let location { parts.append("\(location):") }
        if let section {
            parts.append(option.map { "[\(section)] \($0):" } ?? "[\(section)]:")
        }
        parts.append(severity == .error ? message : "\(severity.rawValue): \(message)")
        return parts.joined(separator: " ")
    }
}

public struct ConfigLoadResult: Sendable {
    /// nil when the file has errors: then nothing may be started.
    public var config: Config?
    public var diagnostics: [ConfigDiagnostic]
    /// What could be read even when there are errors (minderctl only needs its own sections).
    public var partial: Config?

    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }
    public var notes: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .note } }

    /// `--strict`: every warning becomes an error.
    public func strict() -> ConfigLoadResult {
        guard !warnings.isEmpty else { return self }
        let promoted = diagnostics.map { d in
            var d = d
            if d.severity == .warning { d.severity = .error }
            return d
        }
        return ConfigLoadResult(config: nil, diagnostics: promoted, partial: partial)
    }
}
