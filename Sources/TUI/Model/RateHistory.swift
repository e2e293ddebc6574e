/// The latest `capacity` samples in a fixed array: appending costs no allocation, and memory
/// does not grow with time.
public struct SampleRing: Sendable {
    private var values: [Float]
    private var next = 0
    public private(set) var count = 0

    public init(capacity: Int) {
        values = Array(repeating: 0, count: max(1, capacity))
    }

    public var capacity: Int { values.count }

    public mutating func append(_ value: Double) {
        values[next] = Float(value)
        next = (next + 1) % values.count
        count = min(count + 1, values.count)
    }

    /// Oldest first.
    public var samples: [Double] {
        let start = count < values.count ? 0 : next
        return (0..<count).map { Double(values[(start + $0) % values.count]) }
    }
}

/// What happened over the last minutes: the broker's message and byte rates for the last
/// `brokerSamples` polls (10 minutes at one a second), and each client's message rates for the
/// last `clientSamples` polls. A client that leaves the table leaves the history; at 10,000
/// clients it holds 10,000 × 2 × 60 four-byte samples (4.8 MB) plus the table's keys.
public struct RateHistory: Sendable {
    public static let brokerSamples = 600
    public static let clientSamples = 60

    public struct Client: Sendable {
        public var msgsIn = SampleRing(capacity: RateHistory.clientSamples)
        public var msgsOut = SampleRing(capacity: RateHistory.clientSamples)
    }

    public private(set) var msgsIn = SampleRing(capacity: brokerSamples)
    public private(set) var msgsOut = SampleRing(capacity: brokerSamples)
    public private(set) var bytesIn = SampleRing(capacity: brokerSamples)
    public private(set) var bytesOut = SampleRing(capacity: brokerSamples)
    public private(set) var clients: [String: Client] = [:]

    public init() {}

    /// One poll: the broker's totals and every listed client's rates.
    public mutating func record(total: Rates, rates: [String: Rates]) {
        msgsIn.append(total.msgsIn)
        msgsOut.append(total.msgsOut)
        bytesIn.append(total.bytesIn)
        bytesOut.append(total.bytesOut)
        var next: [String: Client] = [:]
        next.reserveCapacity(rates.count)
        for (id, r) in rates {
            var client = clients[id] ?? Client()
            client.msgsIn.append(r.msgsIn)
            client.msgsOut.append(r.msgsOut)
            next[id] = client
        }
        clients = next
    }
}

/// A row of bars, one per sample, scaled to the largest: `▁▂▃▄▅▆▇█`, or ` .:-=+*#` without
/// Unicode. Shows the last `width` samples, oldest at the left, then blanks while the history
/// is shorter than the width; a run of zeros stays at the lowest bar.
public enum Sparkline {
    public static func render(_ samples: [Double], width: Int, unicode: Bool = true) -> String {
        guard width > 0 else { return "" }
        let shown = samples.suffix(width)
        let bars: [Character] = unicode ? ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] : [" ", ".", ":", "-", "=", "+", "*", "#"]
        let top = shown.max() ?? 0
        let text = String(
            shown.map { value -> Character in
                guard top > 0, value > 0 else { return bars[0] }
                return bars[min(bars.count - 1, max(1, Int((value / top * Double(bars.count - 1)).rounded())))]
            }
        )
        return text + String(repeating: " ", count: width - shown.count)
    }
}
