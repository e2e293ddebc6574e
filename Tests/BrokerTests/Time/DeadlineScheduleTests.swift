import NIOCore
import Testing

@testable import Broker

struct DeadlineScheduleTests {
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("pops what is due, in order, each item once; leaves the rest")
    func popDue() {
        var schedule = DeadlineSchedule<String>()
        schedule.schedule("c", at: t0 + .seconds(3))
        schedule.schedule("a", at: t0 + .seconds(1))
        schedule.schedule("b", at: t0 + .seconds(2))
        schedule.schedule("a", at: t0 + .seconds(2))
        let due = schedule.popDue(now: t0 + .seconds(2))
        #expect(due == ["a", "b"])
        #expect(schedule.count == 1)
        #expect(schedule.popDue(now: t0 + .seconds(2)).isEmpty)
        #expect(schedule.popDue(now: t0 + .seconds(3)) == ["c"])
    }

    @Test("stale entries are dropped by a rebuild once they outnumber the live ones twice (and 1,024)")
    func compaction() {
        var schedule = DeadlineSchedule<Int>()
        for i in 0..<3000 { schedule.schedule(i % 10, at: t0 + .seconds(Int64(i))) }
        schedule.compactIfNeeded(liveCount: 10) { (0..<10).map { ($0, t0 + .seconds(5000)) } }
        #expect(schedule.count == 10)
        schedule.compactIfNeeded(liveCount: 10) {
            Issue.record("rebuilt again with nothing stale")
            return []
        }
    }
}
