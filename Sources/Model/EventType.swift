/// An event kind together with the payload type its events carry. Writers and readers name one of these
/// (`.liveFill`, `.cycleFinished`, ...), so an event cannot be written or read with the wrong kind's payload:
/// it does not compile. Each payload's kinds are declared beside the payload type, in the module that owns it.
/// The one codec is `JSONCoding` (snake_case keys).
public struct EventType<Payload>: Sendable {
    public let kind: EventKind

    public init(_ kind: EventKind) { self.kind = kind }
}

/// The payload of events that only carry a reason: `halted`, `cycle_failed`, `cycle_abandoned`, `kill_switch`,
/// `futures_entry_refused`, `data_dir_lock_takeover`.
package struct CycleNote: Codable, Sendable, Equatable {
    package var reason: String

    package init(reason: String) {
        self.reason = reason
    }
}

extension EventType where Payload == CycleNote {
    package static var halted: Self { Self(.halted) }
    package static var cycleFailed: Self { Self(.cycleFailed) }
    package static var cycleAbandoned: Self { Self(.cycleAbandoned) }
    package static var killSwitch: Self { Self(.killSwitch) }
    package static var futuresEntryRefused: Self { Self(.futuresEntryRefused) }
    package static var dataDirLockTakeover: Self { Self(.dataDirLockTakeover) }
}

extension EventType where Payload == Proposal {
    public static var proposal: Self { Self(.proposal) }
}

extension EventType where Payload == Decision {
    public static var policyEvaluation: Self { Self(.policyEvaluation) }
}

extension EventType where Payload == OrderIntent {
    /// An order as decided, recorded before it is executed.
    public static var orderIntent: Self { Self(.orderIntent) }
    /// The same order with its outcome (status, fill quantity and price).
    public static var orderResult: Self { Self(.orderResult) }
}

extension EventType where Payload == NewsItem {
    public static var newsItem: Self { Self(.newsItem) }
}
