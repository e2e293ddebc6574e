import NIOCore
import Testing

@testable import Broker

/// The connection's life in simulated time: no sockets, no sleeps.
struct ConnectionStateMachineTests {
    let t0 = NIODeadline.uptimeNanoseconds(5_000_000_000)
    let connectTimeout = TimeAmount.seconds(10)

    @Test("no CONNECT within the timeout: closed silently, not a moment before")
    func connectTimeout_() {
        var machine = ConnectionStateMachine(now: t0)
        let early = machine.timerFired(now: t0 + .milliseconds(9_999), connectTimeout: connectTimeout)
        let due = machine.timerFired(now: t0 + .seconds(10), connectTimeout: connectTimeout)
        #expect(early == .none && due == .closeForConnectTimeout)
        #expect(machine.isClosing && machine.closeReason == "CONNECT timeout")
        let later = machine.timerFired(now: t0 + .seconds(20), connectTimeout: connectTimeout)
        #expect(later == .none, "fires once")
    }

    @Test("[MQTT-3.1.2-24] keepalive: closed after 1.5 × keepalive without a packet; any packet restarts it")
    func keepAlive() {
        var machine = ConnectionStateMachine(now: t0)
        machine.connected(keepAliveSeconds: 2)
        let early = machine.timerFired(now: t0 + .milliseconds(2_999), connectTimeout: connectTimeout)
        machine.received(now: t0 + .milliseconds(2_999))
        let restarted = machine.timerFired(now: t0 + .milliseconds(5_998), connectTimeout: connectTimeout)
        let due = machine.timerFired(now: t0 + .milliseconds(5_999), connectTimeout: connectTimeout)
        #expect(early == .none && restarted == .none && due == .closeForKeepAlive)
        #expect(machine.closeKind == .ungraceful)
    }

    @Test("keepalive 0 never times out, and CONNECT timeout no longer applies once connected")
    func noKeepAlive() {
        var machine = ConnectionStateMachine(now: t0)
        machine.connected(keepAliveSeconds: 0)
        let action = machine.timerFired(now: t0 + .hours(10), connectTimeout: connectTimeout)
        #expect(action == .none)
    }

    @Test("the first close reason stays: a DISCONNECT then a network error is still graceful")
    func firstCloseWins() {
        var machine = ConnectionStateMachine(now: t0)
        machine.connected(keepAliveSeconds: 60)
        let first = machine.close(.graceful, reason: "DISCONNECT")
        let second = machine.close(.ungraceful, reason: "network error")
        #expect(first && !second)
        #expect(machine.closeKind == .graceful && machine.closeReason == "DISCONNECT")
    }
}
