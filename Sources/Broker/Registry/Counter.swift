import Synchronization

/// One atomic counter, so that counters can sit in arrays.
public final class Counter: Sendable {
    private let value = Atomic<UInt64>(0)
    public init() {}
    @inline(__always) public func add(_ n: UInt64 = 1) { value.wrappingAdd(n, ordering: .relaxed) }
    @inline(__always) public func subtract(_ n: UInt64 = 1) { value.wrappingSubtract(n, ordering: .relaxed) }
    public var load: UInt64 { value.load(ordering: .relaxed) }
}
