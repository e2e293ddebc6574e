import Foundation
import Testing

@testable import TUI

/// A client row with the fields the model tests vary; the rest fixed.
func row(
    _ id: String,
    user: String = "",
    connected: Bool = true,
    recv: UInt64? = 0,
    sent: UInt64? = 0,
    msgsIn: UInt64? = 0,
    msgsOut: UInt64? = 0,
    connectedAt: Int64 = 1_000,
    proto: String = "3.1.1",
    address: String? = "127.0.0.1",
    port: Int? = 1000
) -> ClientRow {
    ClientRow(
        clientId: id,
        username: user,
        address: address,
        port: port,
        protocolName: proto,
        connected: connected,
        keepAlive: 60,
        cleanStart: true,
        connectedAtMs: connectedAt,
        expiryInterval: 0,
        recvOct: recv,
        sendOct: sent,
        recvPkt: msgsIn.map { $0 + 2 },
        sendPkt: msgsOut.map { $0 + 2 },
        recvMsg: msgsIn,
        sendMsg: msgsOut,
        mqueueLen: 0,
        mqueueDropped: 0,
        inflight: 0,
        subscriptions: 1,
        willTopic: nil,
        fields: [("client_id", id)]
    )
}
