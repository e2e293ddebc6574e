import Foundation
import Testing

@testable import TUI

struct SubscriptionOptionsTests {
    @Test("subscription objects of every API: topic, QoS and the 5.0 options in words (numbers or booleans)")
    func options() {
        #expect(Poller.subscription(["topic": "a/#", "qos": 1, "nl": 1, "rap": 0, "rh": 2])! == ("a/#", 1, "No Local, Retain Handling 2"))
        #expect(Poller.subscription(["topic": "b", "qos": 0, "nl": false, "rap": true])! == ("b", 0, "Retain As Published"))
        #expect(Poller.subscription(["clientid": "c", "topic": "n", "qos": 2])! == ("n", 2, ""), "NanoMQ has no options")
        #expect(Poller.subscription(["qos": 1]) == nil)
    }
}
