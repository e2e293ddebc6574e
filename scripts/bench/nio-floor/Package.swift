// swift-tools-version:6.0
// The floor under aviary's memory per connection: a SwiftNIO server with the same channel
// options and no MQTT at all. Built and run by scripts/bench/nio_floor.sh.
import PackageDescription

let package = Package(
    name: "nio-floor",
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        )
    ]
)
