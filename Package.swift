// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "aviary",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aviary", targets: ["aviary"]),
        .executable(name: "aviary-dashboard", targets: ["aviary-dashboard"]),
        .library(name: "MQTTCodec", targets: ["MQTTCodec"]),
        .library(name: "Broker", targets: ["Broker"]),
        .library(name: "BrokerManagement", targets: ["BrokerManagement"]),
        .library(name: "MQTTClient", targets: ["MQTTClient"]),
        .library(name: "Bridge", targets: ["Bridge"]),
        .library(name: "TUI", targets: ["TUI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // The lock the whole project uses: `Synchronization.Mutex`, or under ThreadSanitizer
        // (`-DAVIARY_TSAN`, `make sanitize`) a pthread mutex TSan can see. Defined once, here.
        .target(
            name: "AviaryLocks",
            dependencies: [.product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // The wire format: packets, properties, reason codes, topic name and filter rules.
        // NIOCore only; the fuzzer links this alone.
        .target(
            name: "MQTTCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // MQTT over WebSockets: binary frames ↔ the MQTT byte stream, for the broker's listener
        // and the load generator's clients.
        .target(
            name: "MQTTWebSocket",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // What survives a restart: a journal the broker appends to under its lock and a writer
        // thread that commits it to SQLite (GRDB, WAL, one fsync per batch). Knows no MQTT: the
        // broker hands it encoded records.
        .target(
            name: "DurableStore",
            dependencies: [
                "AviaryLocks",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker core: sessions, routing, retained messages, connections, listeners,
        // authentication and ACLs. No HTTP, no metrics exporter.
        .target(
            name: "Broker",
            dependencies: [
                "MQTTCodec",
                "MQTTWebSocket",
                "AviaryLocks",
                "DurableStore",
                "CMalloc",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The management HTTP API (NanoMQ v4 / EMQX v3/v4 shapes, /metrics) over the broker's
        // public and SPI surface.
        .target(
            name: "BrokerManagement",
            dependencies: [
                "Broker",
                "MQTTCodec",
                "AviaryLocks",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedFile"]
        ),
        // Build-time tool of the EmbedFile plugin: api/openapi.json, the single source of the
        // OpenAPI document, becomes a string constant of BrokerManagement.
        .executableTarget(name: "embed-file", path: "Sources/embed-file"),
        .plugin(name: "EmbedFile", capability: .buildTool(), dependencies: ["embed-file"]),
        // Bridges to an upstream broker or cluster: each an MQTT client of the upstream and of
        // this broker (over a socket pair), passing messages and acknowledgements through.
        .target(
            name: "Bridge",
            dependencies: [
                "Broker",
                "MQTTCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // An MQTT client on SwiftNIO: the load generator (`aviary bench`) and the demo traffic.
        .target(
            name: "MQTTClient",
            dependencies: [
                "MQTTCodec",
                "MQTTWebSocket",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                "AviaryLocks",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // glibc's malloc.h (mallinfo2), which Swift's Glibc module does not export.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .systemLibrary(
            name: "CNcurses",
            path: "Sources/CNcurses",
            pkgConfig: "ncursesw",
            providers: [.apt(["libncurses-dev"])]
        ),
        // The dashboard: never imports the broker; it meets it only at the HTTP JSON contract.
        .target(
            name: "TUI",
            dependencies: [
                "CNcurses",
                "AviaryLocks",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The command line. It never links ncurses: `aviary serve` runs where there is no terminal
        // and no libncursesw; `aviary` and `aviary watch` start `aviary-dashboard` beside it.
        .executableTarget(
            name: "aviary",
            dependencies: [
                "Broker",
                "Bridge",
                "BrokerManagement",
                "MQTTClient",
                "MQTTCodec",
                "AviaryLocks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The dashboard process: ncurses and the HTTP poller.
        .executableTarget(
            name: "aviary-dashboard",
            dependencies: [
                "TUI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MQTTCodecTests",
            dependencies: [
                "MQTTCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BrokerTests",
            dependencies: [
                "Broker",
                "TestSupport",
                "AviaryLocks",
                "MQTTCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BridgeTests",
            dependencies: ["Bridge", "MQTTCodec"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DurableStoreTests",
            dependencies: [
                "DurableStore",
                "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ManagementTests",
            dependencies: [
                "Broker",
                "BrokerManagement",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TUITests",
            dependencies: ["TUI"],
            swiftSettings: swiftSettings
        ),
        // What the integration and end-to-end tests share: harnesses on free ports, a raw MQTT
        // test client, subprocesses, tmux.
        .target(
            name: "TestSupport",
            dependencies: [
                "Broker",
                "DurableStore",
                "BrokerManagement",
                "MQTTCodec",
                "AviaryLocks",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                "TUI",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The tests' own SCRAM-SHA-256 client (no MQTT client library here speaks it).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        // In-process: a real broker (and API) on free ports, real clients over sockets.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "TestSupport",
                "Broker",
                "BrokerManagement",
                "MQTTClient",
                "MQTTCodec",
                "AviaryLocks",
                "TUI",
                "aviary",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
        // The built binaries: settings, signals, exit codes, the dashboard in tmux, schemathesis,
        // the benchmark tool.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport",
                "Broker",
                "BrokerManagement",
                "MQTTCodec",
                "AviaryLocks",
                "TUI",
                "aviary",
                "aviary-dashboard",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            exclude: ["Scripts"],
            swiftSettings: swiftSettings
        ),
    ]
)

// `make fuzz` only: the libFuzzer target for the packet decoder and the property parser. It has
// no `main` (libFuzzer brings one), so it exists only when AVIARY_FUZZ is set, in its own
// scratch path, built with `-sanitize=fuzzer,address`.
if Context.environment["AVIARY_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "aviary-fuzz",
            dependencies: ["MQTTCodec"],
            path: "Fuzz/Sources",
            swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
        )
    )
}
