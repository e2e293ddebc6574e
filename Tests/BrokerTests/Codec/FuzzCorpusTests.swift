import Foundation
import Testing

@_spi(Fuzzing) @testable import Broker

/// Replays the fuzzer's inputs through `CodecFuzzing.run`, the function the fuzz target calls:
/// the seed corpus must be valid packets of every type and version, and every input the fuzzer
/// ever crashed or hung on (Fuzz/regressions) must now be handled.
struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func files(_ folder: String) -> [(name: String, bytes: [UInt8])] {
        let dir = fuzzDirectory.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") && $0 != "README.md" }.compactMap { name in
            FileManager.default.contents(atPath: dir.appendingPathComponent(name).path).map { (name, [UInt8]($0)) }
        }
    }

    @Test("every seed in Fuzz/corpus decodes completely, round-trips, and the seeds cover every packet type and version")
    func seedsAreValid() throws {
        let seeds = Self.files("corpus")
        #expect(seeds.count >= 60)
        var types: Set<String> = []
        for seed in seeds {
            let outcome = CodecFuzzing.run(seed.bytes)
            #expect(outcome.error == nil && outcome.leftover == 0 && outcome.decoded >= 1, "\(seed.name): \(outcome)")
            types.insert(String(seed.name.split(separator: "-").dropFirst().first ?? ""))
        }
        for version in ["v3", "v4", "v5"] {
            for type in PacketType.allCases where type != .auth || version == "v5" {
                #expect(seeds.contains { $0.name.hasPrefix("\(version)-\(type.name.lowercased())") }, "a \(version) \(type.name) seed")
            }
        }
        #expect(seeds.filter { $0.name.hasPrefix("properties-") }.count == 11, "one property block per context")
    }

    @Test("every input the fuzzer once crashed on is handled now (Fuzz/regressions)")
    func regressions() {
        for input in Self.files("regressions") {
            let outcome = CodecFuzzing.run(input.bytes)
            // Reaching here is the test: a crash or trap would end the test process.
            #expect(outcome.decoded >= 0, "\(input.name)")
        }
    }
}
