import DurableStore
import Foundation
import MQTTCodec
import NIOCore
import TestSupport
import Testing

@testable import Broker

/// The acknowledgement gate as a value: acknowledgements behind the durable store (in order,
/// refused when their batch fails), flow control, and held-back reads.
struct AcknowledgementGateTests {
    static func puback(_ id: UInt16) -> MQTTPacket { .puback(AckPacket(packetId: id)) }

    static func store(maxBytes: Int64 = 0) throws -> (DurableStore, String) {
        let dir = NSTemporaryDirectory() + "aviary-gate-\(UUID().uuidString.prefix(8))"
        return (try DurableStore(directory: dir, sync: .always, maxBytes: maxBytes), dir)
    }

    @Test("without a store nothing waits")
    func noStore() {
        var gate = AcknowledgementGate()
        let waits = gate.waitForStore(Self.puback(1), after: 7)
        let next = gate.nextStored()
        #expect(!waits && !gate.isWaitingForStore && next == nil)
    }

    @Test("with a store: an acknowledgement waits for its batch, the ones after it wait behind it, all go out in order once it is on disk")
    func inOrderBehindTheStore() async throws {
        let (store, dir) = try Self.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var gate = AcknowledgementGate()
        gate.attach(store)
        let first = gate.waitForStore(Self.puback(1), after: nil)
        #expect(!first, "nothing to wait for: out now")
        store.append(.putRetained(topic: "t", record: ByteBuffer(string: "x")))
        let mark = try #require(store.takeMark())
        let second = gate.waitForStore(Self.puback(2), after: mark)
        let third = gate.waitForStore(.suback(SubAckPacket(packetId: 3, reasonCodes: [.grantedQoS0])), after: nil)
        #expect(second && third, "the second waits for its batch, the third behind it")
        let early = gate.nextStored()
        #expect(early == nil && gate.isWaitingForStore, "the batch is not written yet")
        startWriter(store)
        try await waitDecided(store, mark)
        var out: [MQTTPacket] = []
        while let stored = gate.nextStored() {
            guard case .written(let packet) = stored else {
                Issue.record("\(stored)")
                break
            }
            out.append(packet)
        }
        #expect(out == [Self.puback(2), .suback(SubAckPacket(packetId: 3, reasonCodes: [.grantedQoS0]))])
        #expect(!gate.isWaitingForStore)
        store.close()
    }

    @Test("a batch the store cannot write: its acknowledgement comes back as failed, with the error")
    func failedBatch() async throws {
        let (store, dir) = try Self.store(maxBytes: 64 * 1024)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var gate = AcknowledgementGate()
        gate.attach(store)
        store.append(.putRetained(topic: "big", record: ByteBuffer(repeating: 1, count: 256 * 1024)))
        let mark = try #require(store.takeMark())
        let waits = gate.waitForStore(Self.puback(9), after: mark)
        #expect(waits)
        startWriter(store)
        try await waitDecided(store, mark)
        guard case .failed(let packet, let error)? = gate.nextStored() else {
            Issue.record("the acknowledgement must come back failed")
            return
        }
        #expect(packet == Self.puback(9) && error.contains("full"), "\(error)")
        store.close()
    }

    @Test(
        """
        flow control: held while the publisher is held back and behind the ones held; reads pause at receive_maximum; resume gives them back in \
        order
        """
    )
    func flowControl() {
        var gate = AcknowledgementGate()
        let outNow = gate.hold(Self.puback(1), isHeld: false, receiveMaximum: 3)
        let held = gate.hold(Self.puback(2), isHeld: true, receiveMaximum: 3)
        let behind = gate.hold(Self.puback(3), isHeld: false, receiveMaximum: 3)
        #expect(!outNow && held && behind, "held while held back, and behind one held even when let go meanwhile")
        #expect(!gate.readsPaused && gate.heldCount == 2)
        let fourth = gate.hold(Self.puback(4), isHeld: true, receiveMaximum: 3)
        #expect(fourth && gate.readsPaused, "receive_maximum acknowledgements held: not read any more")
        let reads = gate.mayRead(writable: true, closing: false)
        #expect(!reads)
        let resumed = gate.resume()
        #expect(resumed == [2, 3, 4].map(Self.puback))
        #expect(!gate.readsPaused && gate.heldCount == 0)
        let pending = gate.takePendingRead(writable: true)
        let again = gate.takePendingRead(writable: true)
        #expect(pending && !again, "the read held back is done on resume, once")
    }

    @Test("reads: held while the socket is not writable or reads are paused; a closing connection reads on; close drops what waits")
    func reads() {
        var gate = AcknowledgementGate()
        let writable = gate.mayRead(writable: true, closing: false)
        let blocked = gate.mayRead(writable: false, closing: false)
        let stillBlocked = gate.takePendingRead(writable: false)
        #expect(writable && !blocked && !stillBlocked)
        gate.pauseReads()
        let paused = gate.takePendingRead(writable: true)
        #expect(!paused, "paused")
        let closing = gate.mayRead(writable: false, closing: true)
        #expect(closing, "closing: reads on to discard")
        _ = gate.hold(Self.puback(1), isHeld: true, receiveMaximum: 10)
        let pendingAtClose = gate.close()
        #expect(pendingAtClose, "a read was held back: done at close")
        let secondClose = gate.close()
        #expect(!gate.readsPaused && gate.heldCount == 0 && !secondClose)
    }
}
