import Foundation

/// Wall-clock time for timestamps shown to people (connected_at …); deadlines use NIODeadline.
enum WallClock {
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
