import Testing

@testable import Broker

#if canImport(Glibc)
import Glibc
#endif

/// The connection limit that follows from the open-file limit (the end-to-end behaviour past
/// the limit is tested with the real binary under prlimit in BenchTests).
struct ConnectionCapacityTests {
    @Test("max_connections 0: what the descriptors allow, after the ones open and the reserves")
    func derivedFromTheFileLimit() {
        let c = ConnectionCapacity(configured: 0, fileLimit: 20_000, openDescriptors: 19)
        #expect(c.maxConnections == 20_000 - 19 - ConnectionCapacity.connectionReserve)
        #expect(c.maxSockets == 20_000 - 19 - ConnectionCapacity.socketReserve)
        #expect(c.maxSockets + ConnectionCapacity.refusing < 20_000 - 19, "refusing sockets never take the last descriptors")
        #expect(c.maxConnections >= 19_900, "this machine's benchmark holds 19,900")
    }

    @Test("a configured limit is kept when the descriptors allow it, capped when they do not")
    func configured() {
        #expect(ConnectionCapacity(configured: 500, fileLimit: 20_000, openDescriptors: 19).maxConnections == 500)
        #expect(ConnectionCapacity(configured: 50_000, fileLimit: 1_024, openDescriptors: 30).maxConnections == 1_024 - 30 - 48)
        #expect(ConnectionCapacity(configured: 0, fileLimit: 40, openDescriptors: 39).maxConnections == 1, "never below one")
    }

    @Test("the soft open-file limit is raised to the hard one and the open descriptors are counted")
    func measure() {
        let c = ConnectionCapacity.measure(configured: 0)
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        #expect(limit.rlim_cur == limit.rlim_max, "the soft limit was raised to the hard one")
        #expect(c.fileLimit == Int(clamping: min(limit.rlim_max, rlim_t(Int32.max))))
        let open = ConnectionCapacity.openDescriptors()
        #expect(open >= 3, "at least stdin, stdout and stderr")
        #expect(c.maxConnections <= c.fileLimit - 3 - ConnectionCapacity.connectionReserve)
    }
}
