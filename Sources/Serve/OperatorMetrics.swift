import Foundation
import Metrics
import Prometheus

/// The `/metrics` families, through swift-metrics onto a private Prometheus registry (no global bootstrap, so
/// tests and a serving process can hold several). The feeder derives every value from the ledger.
public final class OperatorMetrics: Sendable {
    public static let stages = ["universe", "triggers", "rules", "review", "risk", "execution", "total"]

    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(15), .seconds(60),
        ]
        self.factory = factory
    }

    /// A finished cycle: its status and stage timings (milliseconds, as the summary's `timings_ms`).
    public func cycleFinished(status: String, stageMilliseconds: [String: Double]) {
        CoreMetrics.Counter(label: "agent_cycles_total", dimensions: [("status", status)], factory: factory).increment()
        for (stage, ms) in stageMilliseconds where ms.isFinite && ms >= 0 {
            CoreMetrics.Timer(label: "agent_cycle_duration_seconds", dimensions: [("stage", stage)], factory: factory)
                .recordNanoseconds(Int64(ms * 1_000_000))
        }
    }

    public func equity(usd: Double) { gauge("agent_equity_usd").record(usd) }
    public func openPositions(_ count: Int) { gauge("agent_open_positions").record(Double(count)) }
    /// `window`: `cycle`, `hour` or `day`.
    public func aiSpend(window: String, usd: Double) { gauge("agent_ai_spend_usd", [("window", window)]).record(usd) }
    public func aiCalls(tier: String, source: String, count: Int = 1) {
        CoreMetrics.Counter(label: "agent_ai_calls_total", dimensions: [("tier", tier), ("source", source)], factory: factory)
            .increment(by: count)
    }
    public func policyViolation(check: String) {
        CoreMetrics.Counter(label: "agent_policy_violations_total", dimensions: [("check", check)], factory: factory).increment()
    }
    public func halted(_ on: Bool) { gauge("agent_halted").record(on ? 1 : 0) }
    /// The share of the venue's request-weight budget used (0...1).
    public func venueWeightUsed(_ fraction: Double) { gauge("agent_venue_weight_used").record(fraction) }
    /// A venue stream connected, disconnected, stalled or resynced (`event`), and whether it is up now.
    public func streamEvent(stream: String, event: String) {
        CoreMetrics.Counter(label: "agent_stream_events_total", dimensions: [("stream", stream), ("event", event)], factory: factory)
            .increment()
        if event == "connected" || event == "disconnected" || event == "stalled" {
            gauge("agent_stream_up", [("stream", stream)]).record(event == "connected" ? 1 : 0)
        }
    }
    /// `count` venue stream messages of `kind` (mark, quote, trade, bar, order, ...) arrived between two cycles.
    public func streamMessages(kind: String, count: Int) {
        CoreMetrics.Counter(label: "agent_stream_messages_total", dimensions: [("kind", kind)], factory: factory)
            .increment(by: Int64(count))
    }
    /// An action of the between-cycle guard (`rule`: margin, flash_move, stream_lost).
    public func guardAction(rule: String, action: String) {
        CoreMetrics.Counter(label: "agent_guard_actions_total", dimensions: [("rule", rule), ("action", action)], factory: factory)
            .increment()
    }
    public func error(kind: String) {
        CoreMetrics.Counter(label: "agent_errors_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    /// The Prometheus text exposition format.
    public func render() -> String { registry.emitToString() }

    private func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: dimensions, factory: factory)
    }
}
