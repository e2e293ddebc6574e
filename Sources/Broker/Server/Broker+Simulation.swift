import MQTTCodec
import NIOCore
import Synchronization

extension Broker {
    /// Adds `count` offline persistent sessions with varied identities and counters, so the
    /// management API can be measured on a large client table without as many sockets.
    /// For benchmarks only (`aviary serve --simulate-clients N`); they are listed as disconnected.
    @_spi(Simulation)
    public func addSimulatedClients(_ count: Int, prefix: String = "sim-") {
        var generator = SystemRandomNumberGenerator()
        let now = WallClock.nowMilliseconds()
        let versions: [ProtocolVersion] = [.v3_1, .v3_1_1, .v5]
        core.withState { state in
            for i in 0..<count {
                let id = "\(prefix)\(i)"
                let counters = ConnectionCounters()
                counters.recvOct.store(UInt64.random(in: 0..<10_000_000, using: &generator), ordering: .relaxed)
                counters.sendOct.store(UInt64.random(in: 0..<10_000_000, using: &generator), ordering: .relaxed)
                counters.recvMsg.store(UInt64.random(in: 0..<100_000, using: &generator), ordering: .relaxed)
                counters.sendMsg.store(UInt64.random(in: 0..<100_000, using: &generator), ordering: .relaxed)
                counters.recvPkt.store(counters.recvMsg.load(ordering: .relaxed) + 2, ordering: .relaxed)
                counters.sendPkt.store(counters.sendMsg.load(ordering: .relaxed) + 2, ordering: .relaxed)
                var info = ClientInfo(
                    clientId: id,
                    username: "user-\(i % 100)",
                    peerAddress: "10.\(i / 65536 % 256).\(i / 256 % 256).\(i % 256)",
                    peerPort: 1024 + i % 60000,
                    protocolVersion: versions[i % 3],
                    keepAlive: 60,
                    cleanStart: false,
                    connectedAtMs: now - Int64(i)
                )
                info.disconnectedAtMs = now
                state.addOfflineSession(ClientIdentity(info: info, counters: counters), disconnectedAtMs: now)
            }
        }
    }
}
