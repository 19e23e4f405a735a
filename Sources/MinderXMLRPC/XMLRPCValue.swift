// supervisord's wire format: the values an XML-RPC call or response carries, and what a
// request may cost. Pure data; the codec is in XMLRPCParser.swift and XMLRPCEncoder.swift.

/// One XML-RPC value, as Python's xmlrpc.client knows them.
public enum XMLRPCValue: Sendable, Equatable {
    /// `<int>`, `<i4>`, or an `<i8>` that fits: Minder's methods take 32-bit ints, as supervisord's do.
    case int(Int32)
    case bool(Bool)
    case string(String)
    /// Always finite when parsed.
    case double(Double)
    /// The text of a `<dateTime.iso8601>`, `YYYYMMDDTHH:MM:SS`, checked but kept as sent:
    /// XML-RPC says nothing of time zones, so there is nothing to convert it to.
    case dateTime(String)
    case base64([UInt8])
    case array([XMLRPCValue])
    /// The members in the order sent. Duplicate names are kept; a lookup should take the
    /// last, as Python's dict does.
    case structure([(String, XMLRPCValue)])
    /// Python's `<nil/>` (`allow_none=True`). Accepted; supervisord never sends it.
    case `nil`

    public static func == (lhs: XMLRPCValue, rhs: XMLRPCValue) -> Bool {
        switch (lhs, rhs) {
        case let (.int(a), .int(b)): a == b
        case let (.bool(a), .bool(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.double(a), .double(b)): a == b
        case let (.dateTime(a), .dateTime(b)): a == b
        case let (.base64(a), .base64(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.structure(a), .structure(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.nil, .nil): true
        default: false
        }
    }
}

/// A parsed `<methodCall>`.
public struct XMLRPCCall: Sendable, Equatable {
    public var methodName: String
    public var params: [XMLRPCValue]

    public init(methodName: String, params: [XMLRPCValue]) {
        self.methodName = methodName
        self.params = params
    }
}

/// What one request may cost. Past any of these the request is refused before it is decoded.
public struct XMLRPCLimits: Sendable, Equatable {
    /// The largest body.
    public var maxBytes: Int
    /// The deepest element nesting, `<methodCall>` being 1. A parameter's `<value>` is at 4 and
    /// each array or struct level adds 3, so 32 allows a multicall's nested params with room.
    public var maxDepth: Int
    /// `<value>` elements in the whole request, nested ones included.
    public var maxValues: Int
    /// `<param>` elements.
    public var maxParams: Int

    public init(maxBytes: Int = 1 << 20, maxDepth: Int = 32, maxValues: Int = 100_000, maxParams: Int = 256) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
        self.maxParams = maxParams
    }

    public static let `default` = XMLRPCLimits()
}

/// Why a request body was refused. The server answers any of these with HTTP 400, as
/// supervisord does for unparseable XML or a missing method name.
public struct XMLRPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Not well-formed XML (the message is libxml2's), or not UTF-8.
        case malformed
        /// A DOCTYPE or an entity: refused whatever it declares.
        case forbidden
        /// Over one of the XMLRPCLimits.
        case tooLarge
        /// Well-formed XML that is not an XML-RPC call: a wrong element, a bad value or method name.
        case invalid
        /// libxml2 could not be loaded: no request can be parsed.
        case unavailable
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
