@testable import Agent
@testable import Engine
import Execution
import Foundation
import Ledger
import Model
import TestSupport
import Testing

/// Ledger events carry typed payloads: a kind and its payload are one `EventType`, so a payload written under the
/// wrong kind does not compile, and reading an event as another kind is refused instead of decoding into the wrong
/// shape.
@Suite struct TypedEventTests {
    @Test func anEventIsReadOnlyAsItsOwnKind() throws {
        let fill = LiveFill(clientOrderId: "ag-1", symbol: "BTC-USD", side: .buy, quantity: Decimal(string: "0.0333") ?? 0,
                            price: Decimal(string: "61234.5") ?? 0, purpose: .entry, time: 1_795_212_000)
        let event = try Self.stored(NewEvent.json("c-1", .liveFill, 1_795_212_000, symbol: "BTC-USD", fill))
        #expect(try event.value(.liveFill) == fill)
        // The venue's decimals are recorded as they are: no binary rounding on the way into the ledger.
        #expect(String(decoding: event.payload, as: UTF8.self).contains(#""quantity":0.0333"#))
        let error = #expect(throws: PayloadError.self) { try event.value(.liveOrderResult) }
        #expect(error?.description.contains("live_fill") == true)
        #expect(error?.description.contains("live_order_result") == true)
        // Kinds that share a payload are read through their family only.
        let halted = try Self.stored(NewEvent.json("c-1", .halted, 1_795_212_000, CycleNote(reason: "kill switch")))
        #expect(try halted.value(.halted).reason == "kill switch")
        #expect(throws: PayloadError.self) { try halted.value(.cycleFailed) }
    }

    /// Every ledger read in the product names its event type: a `value(SomeType.self)` outside the one place that
    /// implements the typed read would bypass the kind check.
    @Test func theProductReadsPayloadsThroughTheirEventType() throws {
        let sources = ModuleGraphTests.root.appendingPathComponent("Sources")
        let pattern = try NSRegularExpression(pattern: #"\bvalue\([A-Z][A-Za-z.]*\.self\)"#)
        var offenders: [String] = []
        for file in try Self.swiftFiles(under: sources) where !file.hasSuffix("Engine/LedgerCoding.swift") {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            if pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil { offenders.append(file) }
        }
        #expect(offenders.isEmpty, "untyped payload reads in \(offenders)")
    }

    /// Decision text is formatted when read (`Explanation`). Read after more cycles ran, it says what the ledger
    /// recorded when the decision was taken: no deferred sentence sees state that changed after it.
    @Test func deferredDecisionTextReadsAsItWasRecorded() async throws {
        let data = Fixtures.tempDir("deferred-text")
        let runner = try makeRunner(dataDir: data, mode: .paper)
        let first = await runner.cycle(at: decisionTime)
        try #require(!first.decisions.isEmpty && !first.proposals.isEmpty)
        for k in 1...3 { _ = await runner.cycle(at: decisionTime + Int64(k) * 3_600) }
        let events = try #require(runner.ledger).events(cycleId: first.summary.cycleId)
        let decisions = try events.filter { $0.kind == .policyEvaluation }.map { try $0.value(.policyEvaluation) }
        let proposals = try events.filter { $0.kind == .proposal }.map { try $0.value(.proposal) }
        #expect(decisions.count == first.decisions.count)
        for (late, recorded) in zip(first.decisions, decisions) {
            #expect(late.checks.map(\.explanation.text) == recorded.checks.map(\.explanation.text))
        }
        #expect(first.proposals.map(\.rationale.text) == proposals.map(\.rationale.text))
    }

    /// Summary fields are only ever added: a summary written before a field existed still reads (the new field
    /// takes its empty value), so `agent show`, the dashboard and `/metrics` keep reading old ledgers.
    @Test func aSummaryWrittenBeforeNewerFieldsStillReads() async throws {
        let data = Fixtures.tempDir("old-summary")
        let summary = await (try makeRunner(dataDir: data)).run(at: decisionTime)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONCoding.encoder().encode(summary)) as? [String: Any])
        for newer in ["exits", "circuit_breakers", "guard_actions", "venue_weight_used", "stream_messages"] {
            #expect(object.removeValue(forKey: newer) != nil || newer == "venue_weight_used", "\(newer) is not in the summary")
        }
        let old = try JSONSerialization.data(withJSONObject: object)
        let read = try JSONCoding.decoder().decode(CycleSummary.self, from: old)
        #expect(read.cycleId == summary.cycleId)
        #expect(read.exits.isEmpty && read.circuitBreakers.isEmpty && read.guardActions.isEmpty && read.venueWeightUsed == nil
                && read.streamMessages.isEmpty)
    }

    static func stored(_ event: NewEvent) throws -> LedgerEvent {
        LedgerEvent(seq: 1, cycleId: event.cycleId, type: event.type, time: event.time, recordedAt: 0, symbol: event.symbol,
                    payload: event.payload)
    }

    static func swiftFiles(under root: URL) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.map { root.path + "/" + $0 }
    }
}
