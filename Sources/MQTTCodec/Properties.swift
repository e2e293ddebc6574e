import NIOCore

/// MQTT 5.0 properties (section 2.2.2). One struct for every packet type; which identifiers a
/// packet may carry is checked by the decoder against `PropertyID.allowed(in:)`.
///
/// Most packets carry none, so the values live in a copy-on-write box that is only allocated
/// when one is set: a `Properties` is one pointer inside every message, will, queued or
/// in-flight PUBLISH, and copying a message copies (and retains) one reference, not ~25 fields.
public struct Properties: Hashable, Sendable {
    struct Values: Hashable, Sendable {
        var payloadFormatIndicator: UInt8?
        var messageExpiryInterval: UInt32?
        var contentType: String?
        var responseTopic: String?
        var correlationData: ByteBuffer?
        var subscriptionIdentifiers: [UInt32] = []
        var sessionExpiryInterval: UInt32?
        var assignedClientIdentifier: String?
        var serverKeepAlive: UInt16?
        var authenticationMethod: String?
        var authenticationData: ByteBuffer?
        var requestProblemInformation: UInt8?
        var willDelayInterval: UInt32?
        var requestResponseInformation: UInt8?
        var responseInformation: String?
        var serverReference: String?
        var reasonString: String?
        var receiveMaximum: UInt16?
        var topicAliasMaximum: UInt16?
        var topicAlias: UInt16?
        var maximumQoS: UInt8?
        var retainAvailable: UInt8?
        var userProperties: [UserProperty] = []
        var maximumPacketSize: UInt32?
        var wildcardSubscriptionAvailable: UInt8?
        var subscriptionIdentifiersAvailable: UInt8?
        var sharedSubscriptionAvailable: UInt8?
    }

    private final class Storage: @unchecked Sendable {
        // Mutated only through `update`, after `isKnownUniquelyReferenced` (copy on write).
        var values: Values
        init(_ values: Values) { self.values = values }
    }

    private var storage: Storage?

    public init() {}

    public static let none = Properties()

    /// True when no property is set (encodes as a single zero byte).
    public var isEmpty: Bool { storage.map { $0.values == Values() } ?? true }

    private mutating func update(_ body: (inout Values) -> Void) {
        if storage == nil {
            storage = Storage(Values())
        } else if !isKnownUniquelyReferenced(&storage!) {
            storage = Storage(storage!.values)
        }
        body(&storage!.values)
    }

    /// Sets one value; setting nothing on empty properties allocates nothing.
    private mutating func assign<T>(_ key: WritableKeyPath<Values, T?>, _ value: T?) {
        if value != nil || storage != nil { update { $0[keyPath: key] = value } }
    }

    private mutating func assign<T>(_ key: WritableKeyPath<Values, [T]>, _ value: [T]) {
        if !value.isEmpty || storage != nil { update { $0[keyPath: key] = value } }
    }

    public static func == (lhs: Properties, rhs: Properties) -> Bool {
        if lhs.storage === rhs.storage { return true }
        return (lhs.storage?.values ?? Values()) == (rhs.storage?.values ?? Values())
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage?.values ?? Values())
    }

    public var payloadFormatIndicator: UInt8? {
        get { storage?.values.payloadFormatIndicator }
        set { assign(\.payloadFormatIndicator, newValue) }
    }

    public var messageExpiryInterval: UInt32? {
        get { storage?.values.messageExpiryInterval }
        set { assign(\.messageExpiryInterval, newValue) }
    }

    public var contentType: String? {
        get { storage?.values.contentType }
        set { assign(\.contentType, newValue) }
    }

    public var responseTopic: String? {
        get { storage?.values.responseTopic }
        set { assign(\.responseTopic, newValue) }
    }

    public var correlationData: ByteBuffer? {
        get { storage?.values.correlationData }
        set { assign(\.correlationData, newValue) }
    }

    public var subscriptionIdentifiers: [UInt32] {
        get { storage?.values.subscriptionIdentifiers ?? [] }
        set { assign(\.subscriptionIdentifiers, newValue) }
    }

    public var sessionExpiryInterval: UInt32? {
        get { storage?.values.sessionExpiryInterval }
        set { assign(\.sessionExpiryInterval, newValue) }
    }

    public var assignedClientIdentifier: String? {
        get { storage?.values.assignedClientIdentifier }
        set { assign(\.assignedClientIdentifier, newValue) }
    }

    public var serverKeepAlive: UInt16? {
        get { storage?.values.serverKeepAlive }
        set { assign(\.serverKeepAlive, newValue) }
    }

    public var authenticationMethod: String? {
        get { storage?.values.authenticationMethod }
        set { assign(\.authenticationMethod, newValue) }
    }

    public var authenticationData: ByteBuffer? {
        get { storage?.values.authenticationData }
        set { assign(\.authenticationData, newValue) }
    }

    public var requestProblemInformation: UInt8? {
        get { storage?.values.requestProblemInformation }
        set { assign(\.requestProblemInformation, newValue) }
    }

    public var willDelayInterval: UInt32? {
        get { storage?.values.willDelayInterval }
        set { assign(\.willDelayInterval, newValue) }
    }

    public var requestResponseInformation: UInt8? {
        get { storage?.values.requestResponseInformation }
        set { assign(\.requestResponseInformation, newValue) }
    }

    public var responseInformation: String? {
        get { storage?.values.responseInformation }
        set { assign(\.responseInformation, newValue) }
    }

    public var serverReference: String? {
        get { storage?.values.serverReference }
        set { assign(\.serverReference, newValue) }
    }

    public var reasonString: String? {
        get { storage?.values.reasonString }
        set { assign(\.reasonString, newValue) }
    }

    public var receiveMaximum: UInt16? {
        get { storage?.values.receiveMaximum }
        set { assign(\.receiveMaximum, newValue) }
    }

    public var topicAliasMaximum: UInt16? {
        get { storage?.values.topicAliasMaximum }
        set { assign(\.topicAliasMaximum, newValue) }
    }

    public var topicAlias: UInt16? {
        get { storage?.values.topicAlias }
        set { assign(\.topicAlias, newValue) }
    }

    public var maximumQoS: UInt8? {
        get { storage?.values.maximumQoS }
        set { assign(\.maximumQoS, newValue) }
    }

    public var retainAvailable: UInt8? {
        get { storage?.values.retainAvailable }
        set { assign(\.retainAvailable, newValue) }
    }

    public var userProperties: [UserProperty] {
        get { storage?.values.userProperties ?? [] }
        set { assign(\.userProperties, newValue) }
    }

    public var maximumPacketSize: UInt32? {
        get { storage?.values.maximumPacketSize }
        set { assign(\.maximumPacketSize, newValue) }
    }

    public var wildcardSubscriptionAvailable: UInt8? {
        get { storage?.values.wildcardSubscriptionAvailable }
        set { assign(\.wildcardSubscriptionAvailable, newValue) }
    }

    public var subscriptionIdentifiersAvailable: UInt8? {
        get { storage?.values.subscriptionIdentifiersAvailable }
        set { assign(\.subscriptionIdentifiersAvailable, newValue) }
    }

    public var sharedSubscriptionAvailable: UInt8? {
        get { storage?.values.sharedSubscriptionAvailable }
        set { assign(\.sharedSubscriptionAvailable, newValue) }
    }
}

/// A name/value pair of UTF-8 strings (property 0x26); may repeat, order kept. [MQTT-3.1.3-10]
public struct UserProperty: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Property identifiers (section 2.2.2.2).
public enum PropertyID: UInt8, Sendable, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifiersAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    /// The packets in which this property may appear; the will properties of CONNECT are `.will`.
    func isAllowed(in context: PropertyContext) -> Bool {
        switch self {
        case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
            context == .publish || context == .will
        case .subscriptionIdentifier: context == .publish || context == .subscribe
        case .sessionExpiryInterval: context == .connect || context == .connack || context == .disconnect
        case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
            .wildcardSubscriptionAvailable, .subscriptionIdentifiersAvailable, .sharedSubscriptionAvailable:
            context == .connack
        case .authenticationMethod, .authenticationData:
            context == .connect || context == .connack || context == .auth
        case .requestProblemInformation, .requestResponseInformation: context == .connect
        case .willDelayInterval: context == .will
        case .serverReference: context == .connack || context == .disconnect
        case .reasonString:
            context != .connect && context != .publish && context != .will && context != .subscribe
                && context != .unsubscribe
        case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: context == .connect || context == .connack
        case .topicAlias: context == .publish
        case .userProperty: true
        }
    }
}

/// Where a property list sits, for the allowed-identifier check.
public enum PropertyContext: Sendable, Hashable {
    case connect, will, connack, publish, ack, subscribe, suback, unsubscribe, unsuback, disconnect, auth
}

// MARK: - Wire format

/// One property value in wire form, so that size and write share a single walk over the struct.
enum PropertyValue {
    case byte(UInt8)
    case twoByte(UInt16)
    case fourByte(UInt32)
    case varInt(UInt32)
    case string(String)
    case binary(ByteBuffer)
    case pair(String, String)

    var encodedSize: Int {
        switch self {
        case .byte: 1
        case .twoByte: 2
        case .fourByte: 4
        case .varInt(let v): ByteBuffer.variableByteIntegerSize(Int(v))
        case .string(let s): 2 + s.utf8.count
        case .binary(let b): 2 + b.readableBytes
        case .pair(let k, let v): 4 + k.utf8.count + v.utf8.count
        }
    }
}

extension Properties {
    /// Calls `body` for every property that is set, in identifier order.
    func forEach(_ body: (PropertyID, PropertyValue) -> Void) {
        guard let values = storage?.values else { return }
        if let v = values.payloadFormatIndicator { body(.payloadFormatIndicator, .byte(v)) }
        if let v = values.messageExpiryInterval { body(.messageExpiryInterval, .fourByte(v)) }
        if let v = values.contentType { body(.contentType, .string(v)) }
        if let v = values.responseTopic { body(.responseTopic, .string(v)) }
        if let v = values.correlationData { body(.correlationData, .binary(v)) }
        for v in values.subscriptionIdentifiers { body(.subscriptionIdentifier, .varInt(v)) }
        if let v = values.sessionExpiryInterval { body(.sessionExpiryInterval, .fourByte(v)) }
        if let v = values.assignedClientIdentifier { body(.assignedClientIdentifier, .string(v)) }
        if let v = values.serverKeepAlive { body(.serverKeepAlive, .twoByte(v)) }
        if let v = values.authenticationMethod { body(.authenticationMethod, .string(v)) }
        if let v = values.authenticationData { body(.authenticationData, .binary(v)) }
        if let v = values.requestProblemInformation { body(.requestProblemInformation, .byte(v)) }
        if let v = values.willDelayInterval { body(.willDelayInterval, .fourByte(v)) }
        if let v = values.requestResponseInformation { body(.requestResponseInformation, .byte(v)) }
        if let v = values.responseInformation { body(.responseInformation, .string(v)) }
        if let v = values.serverReference { body(.serverReference, .string(v)) }
        if let v = values.reasonString { body(.reasonString, .string(v)) }
        if let v = values.receiveMaximum { body(.receiveMaximum, .twoByte(v)) }
        if let v = values.topicAliasMaximum { body(.topicAliasMaximum, .twoByte(v)) }
        if let v = values.topicAlias { body(.topicAlias, .twoByte(v)) }
        if let v = values.maximumQoS { body(.maximumQoS, .byte(v)) }
        if let v = values.retainAvailable { body(.retainAvailable, .byte(v)) }
        for p in values.userProperties { body(.userProperty, .pair(p.name, p.value)) }
        if let v = values.maximumPacketSize { body(.maximumPacketSize, .fourByte(v)) }
        if let v = values.wildcardSubscriptionAvailable { body(.wildcardSubscriptionAvailable, .byte(v)) }
        if let v = values.subscriptionIdentifiersAvailable { body(.subscriptionIdentifiersAvailable, .byte(v)) }
        if let v = values.sharedSubscriptionAvailable { body(.sharedSubscriptionAvailable, .byte(v)) }
    }

    /// Length of the property list itself, without its own length prefix.
    var contentSize: Int {
        var size = 0
        forEach { _, value in size += 1 + value.encodedSize }
        return size
    }

    /// Length prefix plus properties.
    var encodedSize: Int {
        let content = contentSize
        return ByteBuffer.variableByteIntegerSize(content) + content
    }

    func write(to buffer: inout ByteBuffer) {
        buffer.writeVariableByteInteger(contentSize)
        forEach { id, value in
            buffer.writeInteger(id.rawValue)
            switch value {
            case .byte(let v): buffer.writeInteger(v)
            case .twoByte(let v): buffer.writeInteger(v)
            case .fourByte(let v): buffer.writeInteger(v)
            case .varInt(let v): buffer.writeVariableByteInteger(Int(v))
            case .string(let s): buffer.writeMQTTString(s)
            case .binary(let b): buffer.writeMQTTBinary(b)
            case .pair(let k, let v):
                buffer.writeMQTTString(k)
                buffer.writeMQTTString(v)
            }
        }
    }

    /// Reads a property list (length prefix included) and checks it against the specification:
    /// identifiers allowed in `context`, no duplicates, values in range.
    static func read(from buffer: inout ByteBuffer, context: PropertyContext) throws -> Properties {
        let length = try buffer.readVariableByteInteger()
        guard var slice = buffer.readSlice(length: length) else {
            throw MQTTProtocolError.malformed("property length \(length) exceeds packet")
        }
        var props = Properties()
        var seen: UInt64 = 0
        while slice.readableBytes > 0 {
            let rawID = try slice.readVariableByteInteger()
            guard rawID <= 0xFF, let id = PropertyID(rawValue: UInt8(rawID)) else {
                throw MQTTProtocolError.malformed("unknown property identifier 0x\(String(rawID, radix: 16))")
            }
            guard id.isAllowed(in: context) else {
                throw MQTTProtocolError.malformed("property \(id) is not allowed in \(context)")
            }
            let bit: UInt64 = 1 << UInt64(id.rawValue)
            let repeatable = id == .userProperty || (id == .subscriptionIdentifier && context == .publish)
            if seen & bit != 0 && !repeatable {
                throw MQTTProtocolError.protocolViolation("property \(id) appears more than once")
            }
            seen |= bit
            try props.readValue(id, from: &slice)
        }
        return props
    }

    private mutating func readValue(_ id: PropertyID, from b: inout ByteBuffer) throws {
        func byte(_ allowed: ClosedRange<UInt8> = 0...1) throws -> UInt8 {
            guard let v = b.readInteger(as: UInt8.self) else { throw MQTTProtocolError.malformed("truncated \(id)") }
            guard allowed.contains(v) else { throw MQTTProtocolError.protocolViolation("\(id) has invalid value \(v)") }
            return v
        }
        func two(nonZero: Bool = false) throws -> UInt16 {
            guard let v = b.readInteger(as: UInt16.self) else { throw MQTTProtocolError.malformed("truncated \(id)") }
            if nonZero && v == 0 { throw MQTTProtocolError.protocolViolation("\(id) must not be 0") }
            return v
        }
        func four(nonZero: Bool = false) throws -> UInt32 {
            guard let v = b.readInteger(as: UInt32.self) else { throw MQTTProtocolError.malformed("truncated \(id)") }
            if nonZero && v == 0 { throw MQTTProtocolError.protocolViolation("\(id) must not be 0") }
            return v
        }
        func string() throws -> String { try b.readMQTTString(what: "\(id)") }
        switch id {
        case .payloadFormatIndicator: payloadFormatIndicator = try byte()
        case .messageExpiryInterval: messageExpiryInterval = try four()
        case .contentType: contentType = try string()
        case .responseTopic:
            let topic = try string()
            // [MQTT-3.3.2-14] the Response Topic MUST NOT contain wildcard characters.
            guard !topic.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) else {
                throw MQTTProtocolError.protocolViolation("response topic contains a wildcard")
            }
            responseTopic = topic
        case .correlationData: correlationData = try b.readMQTTBinary(what: "\(id)")
        case .subscriptionIdentifier:
            let v = try b.readVariableByteInteger()
            guard v != 0 else { throw MQTTProtocolError.protocolViolation("subscription identifier 0") }
            subscriptionIdentifiers.append(UInt32(v))
        case .sessionExpiryInterval: sessionExpiryInterval = try four()
        case .assignedClientIdentifier: assignedClientIdentifier = try string()
        case .serverKeepAlive: serverKeepAlive = try two()
        case .authenticationMethod: authenticationMethod = try string()
        case .authenticationData: authenticationData = try b.readMQTTBinary(what: "\(id)")
        case .requestProblemInformation: requestProblemInformation = try byte()
        case .willDelayInterval: willDelayInterval = try four()
        case .requestResponseInformation: requestResponseInformation = try byte()
        case .responseInformation: responseInformation = try string()
        case .serverReference: serverReference = try string()
        case .reasonString: reasonString = try string()
        case .receiveMaximum: receiveMaximum = try two(nonZero: true)
        case .topicAliasMaximum: topicAliasMaximum = try two()
        case .topicAlias: topicAlias = try two(nonZero: true)
        case .maximumQoS: maximumQoS = try byte()
        case .retainAvailable: retainAvailable = try byte()
        case .userProperty:
            let name = try string()
            let value = try string()
            userProperties.append(UserProperty(name, value))
        case .maximumPacketSize: maximumPacketSize = try four(nonZero: true)
        case .wildcardSubscriptionAvailable: wildcardSubscriptionAvailable = try byte()
        case .subscriptionIdentifiersAvailable: subscriptionIdentifiersAvailable = try byte()
        case .sharedSubscriptionAvailable: sharedSubscriptionAvailable = try byte()
        }
    }
}

extension Properties {
    /// The wire form (length prefix included), as inside a packet: for keeping properties on
    /// disk in the form the specification defines.
    public func writeWireForm(to buffer: inout ByteBuffer) {
        write(to: &buffer)
    }

    /// Reads what `writeWireForm` wrote, checked as properties of a packet of `context`.
    public static func readWireForm(from buffer: inout ByteBuffer, context: PropertyContext) throws -> Properties {
        try read(from: &buffer, context: context)
    }
}
