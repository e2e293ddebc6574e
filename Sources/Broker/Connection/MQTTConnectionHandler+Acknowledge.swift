import MQTTCodec
import NIOCore
import Synchronization

/// Acknowledgements on their way out through the `AcknowledgementGate`: behind the durable
/// store, then through flow control.
extension MQTTConnectionHandler {
    /// An acknowledgement of changes the durable store keeps (`mark`: their batch) goes out
    /// once the batch is on disk; acknowledgements after it wait behind it, so all go out in
    /// order. Without a store, or with nothing to wait for, it goes out now.
    func respond(_ packet: MQTTPacket, after mark: UInt64?) {
        let wasWaiting = gate.isWaitingForStore
        guard gate.waitForStore(packet, after: mark) else {
            send(packet)
            return
        }
        if !wasWaiting { loop?.awaitStore(self) }
        releaseStored()
    }

    /// The store wrote a batch (`LoopConnections`): what waited for it goes out.
    func storeWritten() {
        releaseStored()
        flushOutput()
    }

    private func releaseStored() {
        while let stored = gate.nextStored() {
            switch stored {
            case .written(let packet):
                send(packet)
            case .failed(let packet, let error):
                core.metrics.storeRefusals.add()
                if let refusal = refusal(of: packet, notStored: error) { send(refusal) }
                if machine.isClosing { gate.dropStored() }
            }
        }
        if !gate.isWaitingForStore { loop?.storeCaughtUp(self) }
    }

    /// What could not be stored is not acknowledged as if it were: the acknowledgement to send
    /// instead of `packet`. 5.0 hears 0x80 with the reason; 3.x has no failure acknowledgement
    /// for PUBLISH, so its connection is closed unacknowledged (nil; the client sends the
    /// message again when it reconnects, and a QoS 2 packet id is forgotten so that the repeat
    /// is routed, not taken for one already routed).
    func refusal(of packet: MQTTPacket, notStored error: String) -> MQTTPacket? {
        var props = Properties()
        props.reasonString = "the broker could not store this: \(error)"
        switch packet {
        case .puback(var ack), .pubrec(var ack):
            if case .pubrec = packet, let key, let link { core.withState { _ = $0.released(ack.packetId, key: key, sink: link) } }
            guard version == .v5 else {
                if machine.close(.ungraceful, reason: "durable store refused a message: \(error)") { closeAfterFlush() }
                return nil
            }
            ack.reasonCode = .unspecifiedError
            ack.properties = props
            if case .puback = packet { return .puback(ack) }
            return .pubrec(ack)
        case .suback(var suback):
            suback.reasonCodes = suback.reasonCodes.map { _ in .unspecifiedError }
            if version == .v5 { suback.properties = props }
            return .suback(suback)
        case .unsuback(var unsuback) where version == .v5:
            unsuback.reasonCodes = unsuback.reasonCodes.map { _ in .unspecifiedError }
            unsuback.properties = props
            return .unsuback(unsuback)
        default:
            return packet
        }
    }

    /// PUBACK and PUBREC go through flow control: while a subscriber holds this connection
    /// back they wait (in order); the rest go straight out.
    private func send(_ packet: MQTTPacket) {
        switch packet {
        case .puback, .pubrec:
            guard let link else { return }
            if gate.hold(packet, isHeld: link.isHeld, receiveMaximum: core.configuration.receiveMaximum) {
                ConnectionCounters.add(counters.heldAcks, 1)
            } else {
                writePacket(packet)
            }
        default:
            writePacket(packet)
        }
    }

    /// `Outbound.resume`: no subscriber holds this connection back any more (unless one did
    /// again since): the held acknowledgements go out and the socket is read again.
    func resumeFlow() {
        guard let context, let link, !link.isHeld else { return }
        let acks = gate.resume()
        for ack in acks { writePacket(ack) }
        ConnectionCounters.subtract(counters.heldAcks, UInt64(acks.count))
        if gate.takePendingRead(writable: context.channel.isWritable) { context.read() }
    }
}
