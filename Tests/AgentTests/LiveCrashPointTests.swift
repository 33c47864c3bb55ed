@testable import Agent
import Config
@testable import Engine
import Execution
import Foundation
import Ledger
@testable import LiveExecution
import Market
import Model
import TestSupport
import Testing
@testable import Venues

/// A crash in every gap between two ledger writes of the LIVE order paths (entry, protective stop, the close and
/// alarm when a stop is refused, the exit ladder, moved stops and their cancels, the time stop, flatten, the futures
/// guard), on both venues. The task is stopped at the point for good (`LiveTestTrap`, the in-process SIGKILL); a
/// new connector on a freshly opened ledger then reconciles, and the invariants must hold: no duplicate order, no
/// unknown outcome, the ledger's positions are the venue's, and stops cover every position whole.
@Suite struct LiveCrashPointTests {
    /// The flow that reaches a point.
    enum Path: String, Sendable {
        case entry
        /// The entry's stop is refused: the position is closed and the alarm raised.
        case stopRefused = "stop_refused"
        /// The ladder rests and the stop moves to breakeven (futures: new stop, then the old one cancelled; spot:
        /// the old one cancelled first).
        case exits
        case timeStop = "time_stop"
        case flatten
        case guardReduce = "guard_reduce"
        case guardClose = "guard_close"
    }

    struct Case: Sendable, CustomStringConvertible {
        var venue: RestartRig.Venue
        var point: String
        var path: Path
        var description: String { "\(venue) \(point) (\(path.rawValue))" }
    }

    static func sendPoints(_ purpose: LiveOrderPurpose) -> [String] {
        let p = LiveTestHook.points(for: purpose)
        return [p.beforeSend, p.afterSend, p.afterResult]
    }

    static let cancelPoints = ["before_cancel_send", "after_cancel_send", "after_cancel_result"]

    static let cases: [Case] = {
        var out: [Case] = []
        func add(_ venue: RestartRig.Venue, _ path: Path, _ points: [String]) {
            out += points.map { Case(venue: venue, point: $0, path: path) }
        }
        for venue in RestartRig.Venue.allCases {
            add(venue, .entry, (venue == .binance ? ["after_setting"] : []) + sendPoints(.entry) + ["after_fill"] + sendPoints(.stop))
            add(venue, .stopRefused, sendPoints(.close) + ["after_alarm"])
            add(venue, .exits, cancelPoints + (venue == .binance ? sendPoints(.takeProfit) : []))
            add(venue, .timeStop, sendPoints(.timeStop))
            add(venue, .flatten, sendPoints(.flatten))
        }
        add(.binance, .guardReduce, sendPoints(.guardReduce))
        add(.binance, .guardClose, sendPoints(.guardClose))
        return out
    }()

    @Test(arguments: cases)
    func aCrashAtThisPointLeavesNothingDuplicatedUnknownOrUncovered(_ c: Case) async throws {
        let rig = try RestartRig(c.venue)
        let first = try rig.desk()
        let plan = try Fixtures.defaults([]).signals.exits
        // Large enough that every rung of the ladder passes the venue's minimums.
        if c.path != .entry && c.path != .stopRefused { try await rig.enter(first, notional: c.path == .exits ? 1_000 : 100) }
        let trap = LiveTestTrap(point: c.point)
        let reached: Bool
        switch c.path {
        case .entry:
            reached = await trap.run { try await rig.enter(first) }
        case .stopRefused:
            rig.binance?.faults.inject(.serviceUnavailable, path: "/fapi/v1/algoOrder", method: "POST")
            rig.coinbase?.refuseStops(1)
            reached = await trap.run { try await rig.enter(first) }
        case .exits:
            var taken = try #require(try rig.position())
            taken.rungsTaken = 1
            taken.stopPrice = ExitManager.breakeven(taken)
            let position = taken
            let time = RestartRig.entryTime + 3 * 3_600
            reached = await trap.run {
                _ = try await first.manageExits(positions: [position], snapshot: RestartRig.snapshot(at: time), plan: plan, atrPeriod: 14,
                                                cycleId: "c-20260101T030000Z-0e0f", time: time)
            }
        case .timeStop:
            let position = try #require(try rig.position())
            let late = position.entryTime + Int64(plan.timeStopHours * 3_600) + 60
            reached = await trap.run {
                _ = try await first.manageExits(positions: [position], snapshot: RestartRig.snapshot(at: late), plan: plan, atrPeriod: 14,
                                                cycleId: "c-20260104T000100Z-0a0a", time: late)
            }
        case .flatten:
            reached = await trap.run { _ = try await first.flatten(cycleId: "k-flatten", time: RestartRig.entryTime + 60, reason: "test") }
        case .guardReduce, .guardClose:
            // 0.03 ETH at 3000 needs 0.36 USDT maintenance: a margin of 0.5 is a ratio of 0.72 (reduce), 0.3 is 1.2 (close).
            rig.binance?.setIsolatedMargin("ETHUSDT", c.path == .guardReduce ? 0.5 : 0.3)
            reached = await trap.run { _ = try await first.reconcile(cycleId: "c-20260101T010000Z-0c0d", time: RestartRig.entryTime + 3_600, act: true) }
            rig.binance?.setIsolatedMargin("ETHUSDT", nil)
        }
        try #require(reached, "\(c): the point was never reached")

        // The restart: a new process reconciles with the venue.
        let restarted = try rig.desk()
        _ = try await restarted.reconcile(cycleId: "c-20260101T050000Z-0d0e", time: RestartRig.entryTime + 5 * 3_600, act: true)
        #expect(try rig.violations() == [], "\(c)")
        // A second reconciliation has nothing left to repair.
        let again = try await rig.desk().reconcile(cycleId: "c-20260101T060000Z-0f10", time: RestartRig.entryTime + 6 * 3_600, act: true)
        #expect(!again.discrepancies.contains { [ReconcileFinding.positionWithoutStop, .stopShortfall, .orderUnknownState].contains($0.kind) },
                "\(c): \(again.discrepancies)")
        #expect(try rig.violations() == [], "\(c) after a second reconciliation")
    }

    /// The hook is in every gap: each point named in the paths above exists in the sources' order paths.
    @Test func everyPointIsReachedByOneOfTheCases() {
        let named = Set(Self.cases.map(\.point))
        for purpose in [LiveOrderPurpose.entry, .stop, .close, .takeProfit, .timeStop, .flatten, .guardReduce, .guardClose] {
            #expect(Self.sendPoints(purpose).allSatisfy(named.contains), "\(purpose)")
        }
        #expect(["after_setting", "after_fill", "after_alarm"].allSatisfy(named.contains))
        #expect(Self.cancelPoints.allSatisfy(named.contains))
    }
}
