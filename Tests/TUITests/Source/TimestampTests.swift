import Foundation
import Testing

@testable import TUI

struct TimestampTests {
    @Test("RFC 3339 as EMQX 5 writes it, with any fraction and offset, or Z")
    func rfc3339() {
        #expect(ClientDecoder.parseRFC3339("2026-11-21T09:15:02.417+00:00") == 1_795_252_502_417)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T10:15:02.417+01:00") == 1_795_252_502_417)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T09:15:02Z") == 1_795_252_502_000)
        #expect(ClientDecoder.parseRFC3339("2026-11-21T04:15:02.4-05:00") == 1_795_252_502_400)
        #expect(ClientDecoder.parseRFC3339("yesterday") == nil && ClientDecoder.parseRFC3339("2026-11-21T09:15:02") == nil)
    }
}
