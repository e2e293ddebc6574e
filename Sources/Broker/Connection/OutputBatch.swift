import MQTTCodec
import NIOCore

/// The bytes a connection writes between two flushes. Small packets are coalesced into one
/// buffer; a large payload goes out as its own buffer, never copied. The last buffer of a flush
/// is held back, so that one promise per flush accounts for every byte written (`send_oct` is
/// exact). Confined to the connection's event loop.
struct OutputBatch {
    /// Payloads up to this size are copied into the batch; larger ones are written as they are.
    static let copyLimit = 2048

    private var batch: ByteBuffer?
    private var held: ByteBuffer?
    private var heldBytes: UInt64 = 0

    /// Appends a packet.
    mutating func append(_ packet: MQTTPacket, version: ProtocolVersion, allocator: ByteBufferAllocator) {
        if batch == nil { batch = allocator.buffer(capacity: 1024) }
        packet.write(to: &batch!, version: version)
    }

    /// Appends a PUBLISH; a payload over `copyLimit` follows its header as a buffer of its own,
    /// and `emit` writes (without flushing) the buffers that are complete.
    mutating func append(_ publish: PublishPacket, version: ProtocolVersion, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void) {
        if batch == nil { batch = allocator.buffer(capacity: 1024 + min(publish.payload.readableBytes, Self.copyLimit)) }
        if publish.payload.readableBytes <= Self.copyLimit {
            MQTTPacket.publish(publish).write(to: &batch!, version: version)
        } else {
            publish.writeHeader(to: &batch!, version: version)
            hold(batch!, emit: emit)
            batch = nil
            hold(publish.payload, emit: emit)
        }
    }

    private mutating func hold(_ buffer: ByteBuffer, emit: (ByteBuffer) -> Void) {
        if let previous = held { emit(previous) }
        held = buffer
        heldBytes += UInt64(buffer.readableBytes)
    }

    /// Ends the batch: earlier buffers go to `emit`; returns the last buffer (to write with the
    /// flush's promise) and the bytes of the whole flush, or nil when nothing was written.
    mutating func finish(emit: (ByteBuffer) -> Void) -> (last: ByteBuffer, bytes: UInt64)? {
        if let pending = batch, pending.readableBytes > 0 { hold(pending, emit: emit) }
        batch = nil
        guard let last = held else { return nil }
        held = nil
        defer { heldBytes = 0 }
        return (last, heldBytes)
    }
}
