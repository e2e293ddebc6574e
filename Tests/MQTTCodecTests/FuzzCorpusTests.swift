import Foundation
import Testing

@_spi(Fuzzing) @testable import MQTTCodec

/// Replays the fuzzer's seed corpus through `CodecFuzzing.run`, the function the fuzz target
/// calls: the seeds must be valid packets of every type and version. (An input the fuzzer ever
/// crashes on goes into Fuzz/corpus as well, with a test of its own.)
struct FuzzCorpusTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
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

    @Test("every saved fuzz finding in Fuzz/regressions replays without a trap (the folder exists; empty is fine)")
    func regressionsReplay() throws {
        let folder = Self.fuzzDirectory.appendingPathComponent("regressions")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) && isDirectory.boolValue)
        let findings = Self.files("regressions")
        for finding in findings {
            // CodecFuzzing.run traps on a violated invariant; an error result is fine (bad input).
            _ = CodecFuzzing.run(finding.bytes)
        }
        print("Fuzz/regressions: \(findings.count) saved finding(s) replayed")
    }
}
