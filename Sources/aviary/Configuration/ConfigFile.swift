import Configuration
import Foundation

/// A config file: `key = value` lines, `#` comments and blank lines, as `mosquitto.conf` but
/// with an `=`. A value may be wrapped in double quotes (to keep leading or trailing spaces).
/// Every entry remembers its line, so that a bad value can be pointed at.
/// Broker settings come first; each `connection = NAME` line then starts the block of one
/// bridge, whose lines (`address`, `topic` — which may repeat —, …) run to the next
/// `connection` line or the end of the file.
struct ConfigFile: Sendable {
    struct Entry: Sendable {
        var value: String
        var line: Int
    }

    /// One `connection` block.
    struct BridgeBlock: Sendable {
        var name: String
        var line: Int
        var entries: [(key: String, entry: Entry)] = []
    }

    let path: String
    private(set) var entries: [String: Entry] = [:]
    private(set) var bridges: [BridgeBlock] = []

    /// Reads and parses the file; `knownKeys` are the settings a line may name.
    init(path: String, knownKeys: Set<String>, bridgeKeys: Set<String> = []) throws(SettingsError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it is not readable UTF-8 text" : "no such file"
            throw SettingsError("cannot read config file \(path): \(reason)")
        }
        try self.init(path: path, text: text, knownKeys: knownKeys, bridgeKeys: bridgeKeys)
    }

    init(path: String, text: String, knownKeys: Set<String>, bridgeKeys: Set<String> = []) throws(SettingsError) {
        self.path = path
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = rawLine.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw SettingsError("\(path) line \(number): expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            // A quoted value; not `"" out 1 a/ ""` (a bridge topic with empty words).
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\""), !value.dropFirst().dropLast().contains("\"") {
                value = String(value.dropFirst().dropLast())
            }
            if key == "connection" {
                guard !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "/" || $0 == "#" || $0 == "+" }) else {
                    throw SettingsError(
                        "\(path) line \(number): expected 'connection = NAME' (a name without spaces, '/', '+' or '#'), got '\(line)'"
                    )
                }
                if let earlier = bridges.first(where: { $0.name == value }) {
                    throw SettingsError("\(path) line \(number): connection '\(value)' is already defined on line \(earlier.line)")
                }
                bridges.append(BridgeBlock(name: value, line: number))
                continue
            }
            if !bridges.isEmpty {
                guard bridgeKeys.contains(key) else {
                    let hint =
                        knownKeys.contains(key)
                        ? "'\(key)' is a broker setting: broker settings go before the first 'connection' line"
                        : "unknown bridge setting '\(key)'\(Self.closest(to: key, in: bridgeKeys).map { " (did you mean '\($0)'?)" } ?? "")"
                    throw SettingsError(
                        """
                        \(path) line \(number): \(hint) (in connection '\(bridges[bridges.count - 1].name)' of line \
                        \(bridges[bridges.count - 1].line))
                        """
                    )
                }
                bridges[bridges.count - 1].entries.append((key, Entry(value: value, line: number)))
                continue
            }
            if bridgeKeys.contains(key) && !knownKeys.contains(key) {
                throw SettingsError("\(path) line \(number): '\(key)' is a bridge setting: start its bridge with a 'connection = NAME' line")
            }
            guard knownKeys.contains(key) else {
                let suggestion = Self.closest(to: key, in: knownKeys).map { " (did you mean '\($0)'?)" } ?? ""
                throw SettingsError("\(path) line \(number): unknown setting '\(key)'\(suggestion)")
            }
            if let earlier = entries[key] {
                throw SettingsError("\(path) line \(number): '\(key)' is already set on line \(earlier.line)")
            }
            entries[key] = Entry(value: value, line: number)
        }
    }

    /// The known key nearest to a misspelt one, if it is near enough to be a typo.
    private static func closest(to key: String, in keys: Set<String>) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var previous = row[0]
                row[0] = i
                for j in stride(from: 1, through: b.count, by: 1) {
                    let current = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                    previous = current
                }
            }
            return row[b.count]
        }
        let lowered = Array(key.lowercased())
        var best: (key: String, distance: Int)?
        for candidate in keys.sorted() {
            let d = distance(lowered, Array(candidate))
            if d < (best?.distance ?? Int.max) { best = (candidate, d) }
        }
        guard let best, best.distance <= max(2, key.count / 4) else { return nil }
        return best.key
    }
}

/// A `ConfigFile` as a swift-configuration provider, the last one asked before the defaults.
struct ConfigFileProvider: ConfigProvider, ConfigSnapshot {
    let file: ConfigFile

    var providerName: String { "ConfigFileProvider[\(file.path)]" }

    func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let name = key.components.joined(separator: ".")
        guard let entry = file.entries[name] else { return LookupResult(encodedKey: name, value: nil) }
        guard type == .string else { throw SettingsError("\(file.path) line \(entry.line): '\(name)' is read as text only") }
        return LookupResult(encodedKey: name, value: ConfigValue(.string(entry.value), isSecret: false))
    }

    func fetchValue(forKey key: AbsoluteConfigKey, type: ConfigType) async throws -> LookupResult {
        try value(forKey: key, type: type)
    }

    func watchValue<Return: ~Copyable>(
        forKey key: AbsoluteConfigKey,
        type: ConfigType,
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<Result<LookupResult, any Error>, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchValueFromValue(forKey: key, type: type, updatesHandler: updatesHandler)
    }

    func snapshot() -> any ConfigSnapshot { self }

    func watchSnapshot<Return: ~Copyable>(
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<any ConfigSnapshot, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchSnapshotFromSnapshot(updatesHandler: updatesHandler)
    }
}
