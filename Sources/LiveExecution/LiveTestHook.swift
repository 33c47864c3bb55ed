import Execution
import Foundation

/// Crash points for the restart tests, one in every gap between two ledger writes of the LIVE order paths (and
/// around each venue call in them). Compiled into debug builds only: a release build ignores them.
///
/// Two ways to crash at a point:
/// - the environment variable `AGENT_TEST_CRASH_AT=<point>`: the process exits at once with status 137, as if
///   killed (the process-level tests);
/// - a ``LiveTestTrap`` bound to the task (`LiveTestHook.$trap.withValue(trap) { ... }`): the task stops at the
///   point and never resumes, so nothing after it happens, as after a SIGKILL (the in-process tests, which then
///   restart on the same ledger and venue). Being task-local, a trap never catches another test's orders.
///
/// Points, in the order of the paths:
/// - entry: `after_setting` (Binance leverage and margin recorded, entry not yet recorded), `before_send` (intent
///   recorded, request not sent), `after_send` (the venue took it, the answer is not recorded),
///   `after_entry_result` (result and fill recorded), `after_fill` (the same gap, reached only when it filled);
/// - every other order, by purpose (`stop`, `close`, `take_profit`, `time_stop`, `guard_reduce`, `guard_close`,
///   `flatten`): `before_<purpose>_send`, `after_<purpose>_send`, `after_<purpose>_result`;
/// - a cancel: `before_cancel_send` (`live_cancel` recorded, request not sent), `after_cancel_send` (cancelled,
///   the final result not recorded), `after_cancel_result`;
/// - `after_alarm` (`protection_alarm` recorded, `review_required` not yet).
public enum LiveTestHook {
    /// The in-process trap of this task, if any (tests only).
    @TaskLocal public static var trap: LiveTestTrap?

    public static func reached(_ point: String) async {
        #if DEBUG
        if let wanted = ProcessInfo.processInfo.environment["AGENT_TEST_CRASH_AT"], wanted == point {
            FileHandle.standardError.write(Data("AGENT_TEST_CRASH_AT=\(point): exiting with 137 (test hook)\n".utf8))
            _exit(137)
        }
        if let trap, trap.fire(at: point) {
            await trap.hold()
        }
        #endif
    }

    /// The point names for `purpose` (entries have their own names).
    public static func points(for purpose: LiveOrderPurpose) -> (beforeSend: String, afterSend: String, afterResult: String) {
        purpose == .entry ? ("before_send", "after_send", "after_entry_result")
            : ("before_\(purpose.rawValue)_send", "after_\(purpose.rawValue)_send", "after_\(purpose.rawValue)_result")
    }
}

/// Stops the task that reaches `point` for good (see ``LiveTestHook``). Fires once.
public final class LiveTestTrap: @unchecked Sendable {
    public let point: String
    private let lock = NSLock()
    private var fired = false
    private var finished = false
    private var held: [CheckedContinuation<Void, Never>] = []

    public init(point: String) { self.point = point }

    /// Whether the point was reached.
    public var hasFired: Bool { lock.withLock { fired } }

    func fire(at point: String) -> Bool {
        lock.withLock {
            guard point == self.point, !fired else { return false }
            fired = true
            return true
        }
    }

    /// Never returns: the continuation is kept, never resumed.
    func hold() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in lock.withLock { held.append(c) } }
    }

    /// Runs `body` with this trap bound, in a task of its own; returns once the point is reached (true) or `body`
    /// ended without reaching it (false). A task stopped at the point stays suspended.
    public func run(_ body: @escaping @Sendable () async throws -> Void) async -> Bool {
        Task {
            await LiveTestHook.$trap.withValue(self) {
                _ = try? await body()
            }
            self.lock.withLock { self.finished = true }
        }
        while true {
            let (f, done) = lock.withLock { (fired, finished) }
            if f { return true }
            if done { return false }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
    }
}
