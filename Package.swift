// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "agent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "agent", targets: ["agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        // The operator web server (`agent serve`) and its Prometheus metrics. Only the Serve target links them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // WebSocket client for the venue streams (Streams target), and a WebSocket server for the loopback fakes.
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
    ],
    targets: [
        // System libraries and the C shim for libcurl's variadic calls.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1",
                       providers: [.apt(["libyaml-dev"])]),

        // Value types shared by every stage.
        .target(name: "Model"),
        // YAML (libyaml) -> typed configuration with source positions.
        .target(name: "Config", dependencies: ["CYAML", "Model",
                                               .product(name: "Crypto", package: "swift-crypto")]),
        // Async HTTP client over libcurl.
        .target(name: "HTTP", dependencies: ["CCurlShim", "CCurl"]),
        // Market data that needs no venue: the deterministic `sim` market, candle files and their replay.
        .target(name: "Market", dependencies: ["Model", .product(name: "Crypto", package: "swift-crypto")]),
        // The venue adapters: Binance USD-M futures and Coinbase Advanced Trade over REST (signing, throttling,
        // public market data, orders), the `TradingVenue` protocol and the symbol rules. Everything that can place an
        // order lives here or above; backtests do not link it.
        .target(name: "Venues", dependencies: ["Model", "Config", "HTTP", "Market",
                                               .product(name: "Crypto", package: "swift-crypto")]),
        // RSS/Atom news for M1: allow-listed feeds, dedupe, age limits, symbol tagging.
        .target(name: "News", dependencies: ["Model", "HTTP"]),
        // Universe, regime, indicators, triggers, rules.
        .target(name: "Pipeline", dependencies: ["Model", "Config"]),
        // Whole-cycle safety: circuit breakers, the kill switch, news risk decay. Beside the policy engine.
        .target(name: "Risk", dependencies: ["Model", "Config"]),
        // Reviewers M1/M2/M3. Deliberately cannot see Market or Execution.
        .target(name: "Review", dependencies: ["Model", "Config", "HTTP", "Risk", .product(name: "Crypto", package: "swift-crypto")]),
        // The policy.yaml engine: the final say.
        .target(name: "Policy", dependencies: ["Model", "Config"]),
        // Executors that place nothing on a venue: DRY_RUN and the simulated (PAPER and backtest) fills, plus the
        // typed ledger records of LIVE execution, which the one portfolio reads in every mode.
        .target(name: "Execution", dependencies: ["Model", "Config"]),
        // Loopback HTTP servers (a fake LLM among them) for tests and `agent bench`: 127.0.0.1 only.
        .target(name: "Loopback"),
        // Inline SVG charts and HTML escaping, shared by the backtest report and the operator dashboard.
        .target(name: "Charts"),
        // Historical replay through the same stages, metrics, reports.
        .target(name: "Backtest", dependencies: ["Model", "Config", "Market", "Pipeline", "Review", "Policy", "Execution", "Charts",
                                                 "Engine", "Risk", "Ledger", .product(name: "Logging", package: "swift-log")]),
        // SQLite event store and projections.
        .target(name: "Ledger", dependencies: ["Model", .product(name: "GRDB", package: "GRDB.swift")]),
        // The one decision cycle of every mode: stages, portfolio, position desks, journal, summaries. It runs over
        // protocols (market source, executor, position desk, kill switch, event store) and links no venue code.
        .target(name: "Engine", dependencies: [
            "Model", "Config", "Market", "News", "Pipeline", "Review", "Policy", "Risk", "Execution", "Ledger", "HTTP",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // LIVE: the venue executor, the live book and its reconciliation, the futures guard, the LIVE position desk.
        .target(name: "LiveExecution", dependencies: [
            "Model", "Config", "Market", "Venues", "Pipeline", "Risk", "Execution", "Engine", "Ledger",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Operator alerts: channel formats (Slack, Discord, Telegram, webhook) and bounded delivery over libcurl.
        .target(name: "Alerts", dependencies: ["Config", "HTTP"]),
        // The operator web server: dashboard pages, JSON API, auth, /metrics. The only target that links Hummingbird.
        .target(name: "Serve", dependencies: [
            "Charts",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Venue WebSocket streams: one reconnecting connection type (backoff, ping, resubscribe, stall detection)
        // and the Binance / Coinbase stream adapters that turn messages into typed events.
        .target(name: "Streams", dependencies: [
            "Model", "Venues",
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The command line and its wiring: commands, the interval loop, audits, benches.
        .target(name: "Agent", dependencies: [
            "Model", "Config", "Market", "Venues", "News", "Pipeline", "Review", "Policy", "Risk", "Execution", "Engine",
            "LiveExecution", "Ledger", "HTTP", "Backtest", "Loopback", "Alerts", "Serve", "Charts", "Streams",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // The executable: main.swift plus the git commit stamped before every build (`agent --version`).
        .executableTarget(name: "agent", dependencies: ["Agent"], plugins: ["BuildStamp"]),
        .plugin(name: "BuildStamp", capability: .buildTool()),

        // Tests. TestSupport holds the loopback HTTP server and shared fixtures.
        .target(name: "TestSupport", dependencies: ["Model", "Config", .product(name: "Crypto", package: "swift-crypto"), "Loopback",
                                                    .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket")],
                path: "Tests/TestSupport"),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "MarketTests", dependencies: ["Market", "Venues", "Model", "TestSupport", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "NewsTests", dependencies: ["News", "TestSupport"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Market", "Policy", "TestSupport"]),
        .testTarget(name: "BacktestTests", dependencies: ["Backtest", "Engine", "Config", "TestSupport"]),
        .testTarget(name: "ExecutionTests", dependencies: ["Execution", "LiveExecution", "Venues", "Market", "Config", "TestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Review", "Risk", "TestSupport"]),
        .testTarget(name: "ReviewTests", dependencies: ["Review", "Risk", "Policy", "HTTP", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Engine", "LiveExecution", "Venues", "Risk", "Ledger", "HTTP", "TestSupport"]),
        .testTarget(name: "AlertsTests", dependencies: ["Alerts", "Config", "HTTP", "TestSupport"]),
        .testTarget(name: "StreamsTests", dependencies: ["Streams", "Venues", "Model", "TestSupport"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "Charts", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
