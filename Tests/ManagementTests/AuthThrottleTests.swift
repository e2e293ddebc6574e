import NIOCore
import Testing

@testable import BrokerManagement

/// The API's login slow-down in simulated time: free failures, doubling, the 8 s cap, reset on
/// success, forgetting an idle address, the bound on remembered addresses.
struct AuthThrottleTests {
    @Test("3 free failures, then 0.25 s doubling up to the 8 s cap; a success resets; 10 idle minutes forget")
    func schedule() {
        let throttle = AuthThrottle()
        var now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        var delays: [Int64] = []
        for _ in 0..<12 {
            delays.append(throttle.delay(for: "10.0.0.1", now: now).nanoseconds / 1_000_000)
            throttle.failed("10.0.0.1", now: now)
            now = now + .seconds(1)
        }
        #expect(delays == [0, 0, 0, 0, 250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000])
        #expect(throttle.delay(for: "10.0.0.2", now: now) == .zero, "per address")
        throttle.succeeded("10.0.0.1")
        #expect(throttle.delay(for: "10.0.0.1", now: now) == .zero)
        for _ in 0..<6 { throttle.failed("10.0.0.3", now: now) }
        #expect(throttle.delay(for: "10.0.0.3", now: now) == .milliseconds(1_000))
        #expect(throttle.delay(for: "10.0.0.3", now: now + .minutes(10) + .seconds(1)) == .zero, "forgotten after 10 idle minutes")
    }

    @Test("at most `capacity` addresses are remembered; the oldest goes first")
    func capacity() {
        let throttle = AuthThrottle(capacity: 3)
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        for (i, address) in ["a", "b", "c", "d"].enumerated() {
            for _ in 0..<5 { throttle.failed(address, now: start + .seconds(Int64(i))) }
        }
        let now = start + .seconds(5)
        #expect(throttle.delay(for: "a", now: now) == .zero, "the oldest was dropped")
        #expect(["b", "c", "d"].allSatisfy { throttle.delay(for: $0, now: now) == .milliseconds(500) })
    }
}
