import NIOCore

/// MQTT 5.0 properties (section 2.2.2). One struct for every packet type; which identifiers a
/// packet may carry is checked by the decoder against `PropertyID.allowed(in:)`.
public struct Properties: Hashable, Sendable {
    public var payloadFormatIndicator: UInt8?
    public var messageExpiryInterval: UInt32?
    public var contentType: String?
    public var responseTopic: String?
    public var correlationData: ByteBuffer?
    /// Several in a PUBLISH sent by the server, at most one in a SUBSCRIBE.
    public var subscriptionIdentifiers: [UInt32] = []
    public var sessionExpiryInterval: UInt32?
    public var assignedClientIdentifier: String?
    public var serverKeepAlive: UInt16?
    public var authenticationMethod: String?
    public var authenticationData: ByteBuffer?
    public var requestProblemInformation: UInt8?
    public var willDelayInterval: UInt32?
    public var requestResponseInformation: UInt8?
    public var responseInformation: String?
    public var serverReference: String?
    public var reasonString: String?
    public var receiveMaximum: UInt16?
    public var topicAliasMaximum: UInt16?
    public var topicAlias: UInt16?
    public var maximumQoS: UInt8?
    public var retainAvailable: UInt8?
    public var userProperties: [UserProperty] = []
    public var maximumPacketSize: UInt32?
    public var wildcardSubscriptionAvailable: UInt8?
    public var subscriptionIdentifiersAvailable: UInt8?
    public var sharedSubscriptionAvailable: UInt8?

    public init() {}

    public static let none = Properties()

    /// True when no property is set (encodes as a single zero byte).
    public var isEmpty: Bool { self == Properties.none }
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
        if let v = payloadFormatIndicator { body(.payloadFormatIndicator, .byte(v)) }
        if let v = messageExpiryInterval { body(.messageExpiryInterval, .fourByte(v)) }
        if let v = contentType { body(.contentType, .string(v)) }
        if let v = responseTopic { body(.responseTopic, .string(v)) }
        if let v = correlationData { body(.correlationData, .binary(v)) }
        for v in subscriptionIdentifiers { body(.subscriptionIdentifier, .varInt(v)) }
        if let v = sessionExpiryInterval { body(.sessionExpiryInterval, .fourByte(v)) }
        if let v = assignedClientIdentifier { body(.assignedClientIdentifier, .string(v)) }
        if let v = serverKeepAlive { body(.serverKeepAlive, .twoByte(v)) }
        if let v = authenticationMethod { body(.authenticationMethod, .string(v)) }
        if let v = authenticationData { body(.authenticationData, .binary(v)) }
        if let v = requestProblemInformation { body(.requestProblemInformation, .byte(v)) }
        if let v = willDelayInterval { body(.willDelayInterval, .fourByte(v)) }
        if let v = requestResponseInformation { body(.requestResponseInformation, .byte(v)) }
        if let v = responseInformation { body(.responseInformation, .string(v)) }
        if let v = serverReference { body(.serverReference, .string(v)) }
        if let v = reasonString { body(.reasonString, .string(v)) }
        if let v = receiveMaximum { body(.receiveMaximum, .twoByte(v)) }
        if let v = topicAliasMaximum { body(.topicAliasMaximum, .twoByte(v)) }
        if let v = topicAlias { body(.topicAlias, .twoByte(v)) }
        if let v = maximumQoS { body(.maximumQoS, .byte(v)) }
        if let v = retainAvailable { body(.retainAvailable, .byte(v)) }
        for p in userProperties { body(.userProperty, .pair(p.name, p.value)) }
        if let v = maximumPacketSize { body(.maximumPacketSize, .fourByte(v)) }
        if let v = wildcardSubscriptionAvailable { body(.wildcardSubscriptionAvailable, .byte(v)) }
        if let v = subscriptionIdentifiersAvailable { body(.subscriptionIdentifiersAvailable, .byte(v)) }
        if let v = sharedSubscriptionAvailable { body(.sharedSubscriptionAvailable, .byte(v)) }
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

