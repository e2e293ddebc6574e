import Foundation
import Testing

@testable import TUI

struct FormatTests {
    @Test(
        "bytes in binary units",
        arguments: [
            (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (10 * 1024 * 1024, "10.0 MiB"), (5 << 30, "5.0 GiB"),
            (200 * 1024, "200 KiB"),
        ] as [(UInt64, String)]
    )
    func bytes(value: UInt64, text: String) { #expect(Format.bytes(value) == text) }

    @Test("rates and counts", arguments: [(0.0, "0"), (0.5, "0.5"), (12.0, "12"), (3400.0, "3.4k"), (2_500_000.0, "2.5M")] as [(Double, String)])
    func rates(value: Double, text: String) { #expect(Format.rate(value) == text) }

    @Test("durations", arguments: [(0, "0s"), (42, "42s"), (307, "5m07s"), (7380, "2h03m"), (273_600, "3d04h")] as [(Int64, String)])
    func durations(seconds: Int64, text: String) { #expect(Format.duration(seconds: seconds) == text) }

    @Test("byte rates never go negative") func byteRate() {
        #expect(Format.byteRate(-5) == "0 B/s")
        #expect(Format.byteRate(1536) == "1.5 KiB/s")
    }

    @Test("fit pads, right-aligns and cuts with an ellipsis by display width")
    func fit() {
        #expect(Format.fit("abc", 5) == "abc  ")
        #expect(Format.fit("abc", 5, alignRight: true) == "  abc")
        #expect(Format.fit("abcdefgh", 5) == "abcd…")
        #expect(Format.width("中文é😀a") == 8)
        #expect(Format.fit("中文中文", 5) == "中文…")
        #expect(Format.width(Format.fit("中文中文", 5)) == 5)
        #expect(Format.truncate("abcdef", 3) == "abc")
    }
}
