// JSON for the control API, without Foundation: a Codable encoder and decoder over MinderConfig's
// JSONValue, whose strict parser reads every request body. Foundation's JSONEncoder and
// JSONDecoder would bring FoundationEssentials (and through it the regex modules) into minderd:
// 4 MB of the stripped binary for what these 15 record types need.

import MinderConfig

public enum JSON {
    /// Keys sorted, as JSONEncoder's `.sortedKeys` writes them. A value that JSON cannot hold (an
    /// infinite or NaN Double) makes `{}`, the reply for "nothing to say".
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let root = EncodingBox()
        guard (try? value.encode(to: TreeEncoder(box: root, codingPath: []))) != nil else { return Array("{}".utf8) }
        var out: [UInt8] = []
        root.tree().write(to: &out)
        return out
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        let tree: JSONValue
        do {
            tree = try JSONValue.parse(bytes)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: error.description))
        }
        return try T(from: TreeDecoder(value: tree, codingPath: []))
    }
}

// MARK: Codable

/// The values that are one JSON scalar.
private protocol JSONScalar {
    init?(json: JSONValue)
    func json() throws -> JSONValue
}

extension Bool: JSONScalar {
    init?(json: JSONValue) {
        guard case .bool(let value) = json else { return nil }
        self = value
    }
    func json() -> JSONValue { .bool(self) }
}

extension String: JSONScalar {
    init?(json: JSONValue) {
        guard case .string(let value) = json else { return nil }
        self = value
    }
    func json() -> JSONValue { .string(self) }
}

extension JSONScalar where Self: FixedWidthInteger {
    /// An integer that fits, or a number written otherwise (`1.0`, `1e3`) that is exactly one.
    init?(json: JSONValue) {
        switch json {
        case .int(let value): guard let value = Self(exactly: value) else { return nil }; self = value
        case .double(let value): guard let value = Self(exactly: value) else { return nil }; self = value
        default: return nil
        }
    }
    /// A UInt64 beyond Int.max (no counter of Minder's gets there) is written as a Double.
    func json() -> JSONValue { Int(exactly: self).map(JSONValue.int) ?? .double(Double(self)) }
}

extension JSONScalar where Self: BinaryFloatingPoint {
    init?(json: JSONValue) {
        switch json {
        case .int(let value): self = Self(value)
        case .double(let value): self = Self(value)
        default: return nil
        }
        guard isFinite else { return nil }
    }
    func json() throws -> JSONValue {
        guard isFinite else {
            throw EncodingError.invalidValue(self, .init(codingPath: [], debugDescription: "\(self) is not a JSON number"))
        }
        return .double(Double(self))
    }
}

extension Int: JSONScalar {}
extension Int8: JSONScalar {}
extension Int16: JSONScalar {}
extension Int32: JSONScalar {}
extension Int64: JSONScalar {}
extension UInt: JSONScalar {}
extension UInt8: JSONScalar {}
extension UInt16: JSONScalar {}
extension UInt32: JSONScalar {}
extension UInt64: JSONScalar {}
extension Double: JSONScalar {}
extension Float: JSONScalar {}

/// The index of an array element in a coding path.
private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct TreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let pairs) = value else { throw mismatch([String: JSONValue].self, value, codingPath) }
        // A key given twice counts once, the last time.
        let members = Dictionary(pairs, uniquingKeysWith: { $1 })
        return KeyedDecodingContainer(KeyedReader<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([JSONValue].self, value, codingPath) }
        return UnkeyedReader(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleReader(value: value, codingPath: codingPath) }
}

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [any CodingKey]) -> DecodingError {
    if value == .null { return .valueNotFound(type, .init(codingPath: path, debugDescription: "null where \(type) belongs")) }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(type)"))
}

private func scalar<T: JSONScalar>(_ value: JSONValue, _ path: [any CodingKey]) throws -> T {
    guard let result = T(json: value) else { throw mismatch(T.self, value, path) }
    return result
}

private struct SingleReader: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try scalar(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try scalar(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try scalar(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try scalar(value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try scalar(value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar(value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar(value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar(value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar(value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar(value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(value, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: TreeDecoder(value: value, codingPath: codingPath)) }
}

private struct KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    func member(_ key: Key) throws -> JSONValue {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no \"\(key.stringValue)\""))
        }
        return value
    }

    func get<T: JSONScalar>(_ key: Key) throws -> T { try scalar(member(key), codingPath + [key]) }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try get(key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try get(key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try get(key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try get(key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try get(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try get(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try get(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try get(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try get(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try get(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try get(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try get(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try get(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try get(key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: TreeDecoder(value: member(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try TreeDecoder(value: member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try TreeDecoder(value: member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        TreeDecoder(value: members["super"] ?? .null, codingPath: codingPath)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        TreeDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedReader: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(elements: [JSONValue], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    mutating func take() throws -> (JSONValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array ends"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func get<T: JSONScalar>() throws -> T {
        let (value, path) = try take()
        return try scalar(value, path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try get() }
    mutating func decode(_ type: String.Type) throws -> String { try get() }
    mutating func decode(_ type: Double.Type) throws -> Double { try get() }
    mutating func decode(_ type: Float.Type) throws -> Float { try get() }
    mutating func decode(_ type: Int.Type) throws -> Int { try get() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try get() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try get() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try get() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try get() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try get() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try get() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try get() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try get() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try get() }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try take()
        return try T(from: TreeDecoder(value: value, codingPath: path))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try take()
        return try TreeDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try take()
        return try TreeDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try take()
        return TreeDecoder(value: value, codingPath: path)
    }
}

/// What an encoder has written so far at one place in the tree. A reference, because Codable's
/// containers are values handed out and written through later.
private final class EncodingBox {
    var object: [String: EncodingBox]?
    var array: [EncodingBox]?
    var scalar: JSONValue?

    init(_ scalar: JSONValue? = nil) { self.scalar = scalar }

    /// A box nothing was written to is an empty object, as with JSONEncoder.
    func tree() -> JSONValue {
        if let scalar { return scalar }
        if let array { return .array(array.map { $0.tree() }) }
        return .object((object ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value.tree()) })
    }

    func becomeObject() {
        if object == nil { object = [:] }
    }

    func becomeArray() {
        if array == nil { array = [] }
    }
}

private struct TreeEncoder: Encoder {
    let box: EncodingBox
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        box.becomeObject()
        return KeyedEncodingContainer(KeyedWriter<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        box.becomeArray()
        return UnkeyedWriter(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleWriter(box: box, codingPath: codingPath) }
}

private struct SingleWriter: SingleValueEncodingContainer {
    let box: EncodingBox
    let codingPath: [any CodingKey]

    func put(_ value: some JSONScalar) throws { box.scalar = try value.json() }

    func encodeNil() { box.scalar = .null }
    func encode(_ value: Bool) throws { try put(value) }
    func encode(_ value: String) throws { try put(value) }
    func encode(_ value: Double) throws { try put(value) }
    func encode(_ value: Float) throws { try put(value) }
    func encode(_ value: Int) throws { try put(value) }
    func encode(_ value: Int8) throws { try put(value) }
    func encode(_ value: Int16) throws { try put(value) }
    func encode(_ value: Int32) throws { try put(value) }
    func encode(_ value: Int64) throws { try put(value) }
    func encode(_ value: UInt) throws { try put(value) }
    func encode(_ value: UInt8) throws { try put(value) }
    func encode(_ value: UInt16) throws { try put(value) }
    func encode(_ value: UInt32) throws { try put(value) }
    func encode(_ value: UInt64) throws { try put(value) }
    func encode<T: Encodable>(_ value: T) throws { try value.encode(to: TreeEncoder(box: box, codingPath: codingPath)) }
}

private struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: EncodingBox
    let codingPath: [any CodingKey]

    func child(_ key: Key) -> EncodingBox {
        let child = EncodingBox()
        box.object![key.stringValue] = child
        return child
    }

    func put(_ value: some JSONScalar, _ key: Key) throws { box.object![key.stringValue] = EncodingBox(try value.json()) }

    func encodeNil(forKey key: Key) { box.object![key.stringValue] = EncodingBox(.null) }
    func encode(_ value: Bool, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: String, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Double, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Float, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Int, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Int8, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Int16, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Int32, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: Int64, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: UInt, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: UInt8, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: UInt16, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: UInt32, forKey key: Key) throws { try put(value, key) }
    func encode(_ value: UInt64, forKey key: Key) throws { try put(value, key) }

    func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try value.encode(to: TreeEncoder(box: child(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        TreeEncoder(box: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        TreeEncoder(box: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superEncoder() -> any Encoder {
        let child = EncodingBox()
        box.object!["super"] = child
        return TreeEncoder(box: child, codingPath: codingPath)
    }

    func superEncoder(forKey key: Key) -> any Encoder { TreeEncoder(box: child(key), codingPath: codingPath + [key]) }
}

private struct UnkeyedWriter: UnkeyedEncodingContainer {
    let box: EncodingBox
    let codingPath: [any CodingKey]

    var count: Int { box.array!.count }

    func child() -> EncodingBox {
        let child = EncodingBox()
        box.array!.append(child)
        return child
    }

    func put(_ value: some JSONScalar) throws { box.array!.append(EncodingBox(try value.json())) }
    var path: [any CodingKey] { codingPath + [IndexKey(count)] }

    mutating func encodeNil() { box.array!.append(EncodingBox(.null)) }
    mutating func encode(_ value: Bool) throws { try put(value) }
    mutating func encode(_ value: String) throws { try put(value) }
    mutating func encode(_ value: Double) throws { try put(value) }
    mutating func encode(_ value: Float) throws { try put(value) }
    mutating func encode(_ value: Int) throws { try put(value) }
    mutating func encode(_ value: Int8) throws { try put(value) }
    mutating func encode(_ value: Int16) throws { try put(value) }
    mutating func encode(_ value: Int32) throws { try put(value) }
    mutating func encode(_ value: Int64) throws { try put(value) }
    mutating func encode(_ value: UInt) throws { try put(value) }
    mutating func encode(_ value: UInt8) throws { try put(value) }
    mutating func encode(_ value: UInt16) throws { try put(value) }
    mutating func encode(_ value: UInt32) throws { try put(value) }
    mutating func encode(_ value: UInt64) throws { try put(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = path
        try value.encode(to: TreeEncoder(box: child(), codingPath: path))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = path
        return TreeEncoder(box: child(), codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = path
        return TreeEncoder(box: child(), codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let path = path
        return TreeEncoder(box: child(), codingPath: path)
    }
}
