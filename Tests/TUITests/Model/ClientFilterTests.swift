import Foundation
import Testing

@testable import TUI

/// The `/` filter's three forms.
struct ClientFilterTests {
    static let rows = ["dev-1", "dev-22", "sensor-7", "bridge-up"].map {
        ClientRow(clientId: $0, username: $0 == "sensor-7" ? "ops" : "", protocolName: "5.0", connected: true, fields: [])
    }

    @Test(
        """
        plain text (any case), re:REGEX, !TEXT and !re:REGEX; a bad expression lets everything through and says why; only plain text goes to the \
        server
        """
    )
    func forms() {
        func ids(_ text: String) -> [String] { ClientFilter(text).apply(Self.rows).map(\.clientId) }
        #expect(ids("DEV") == ["dev-1", "dev-22"])
        #expect(ids("ops") == ["sensor-7"], "username too")
        #expect(ids("re:^dev-\\d$") == ["dev-1"])
        #expect(ids("!dev") == ["sensor-7", "bridge-up"])
        #expect(ids("!re:-\\d+$") == ["bridge-up"])
        #expect(ids("") == Self.rows.map(\.clientId))
        let bad = ClientFilter("re:(")
        #expect(bad.error != nil && bad.apply(Self.rows).count == 4)
        #expect(ClientFilter("Dev").serverNeedle == "dev" && ClientFilter("!dev").serverNeedle == nil && ClientFilter("re:x").serverNeedle == nil)
    }
}
