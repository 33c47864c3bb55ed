/// Every kind of event the ledger holds. Writers name a case, so a misspelt event type cannot compile; the raw
/// value is what is stored in the `type` column.
public enum EventKind: String, Codable, Sendable, CaseIterable {
    // The cycle.
    case cycleStarted = "cycle_started"
    case cycleFinished = "cycle_finished"
    case cycleFailed = "cycle_failed"
    case cycleAbandoned = "cycle_abandoned"
    case cycleInputs = "cycle_inputs"
    case halted
    case circuitBreaker = "circuit_breaker"
    case killSwitch = "kill_switch"
    // Stages.
    case regime
    case universe
    case triggers
    case proposal
    case review
    case policyEvaluation = "policy_evaluation"
    case shadow
    case newsFetch = "news_fetch"
    case newsItem = "news_item"
    // Orders and the portfolio (every mode).
    case orderIntent = "order_intent"
    case orderResult = "order_result"
    case equity
    case protectionUpdate = "protection_update"
    case paperFill = "paper_fill"
    case paperFunding = "paper_funding"
    // LIVE.
    case liveOrderIntent = "live_order_intent"
    case liveOrderResult = "live_order_result"
    case liveFill = "live_fill"
    case liveCancel = "live_cancel"
    case liveSetting = "live_setting"
    case liveFunding = "live_funding"
    case liveEquity = "live_equity"
    case livePositionCorrection = "live_position_correction"
    case manualIntervention = "manual_intervention"
    case reviewRequired = "review_required"
    case reviewAck = "review_ack"
    case reconciliation
    case futuresRisk = "futures_risk"
    case futuresEntryRefused = "futures_entry_refused"
    case protectionAlarm = "protection_alarm"
    // Operations.
    case slotsSkipped = "slots_skipped"
    case dataDirLockTakeover = "data_dir_lock_takeover"
    case alertDelivered = "alert_delivered"
    case alertFailed = "alert_failed"
    case alertSuppressed = "alert_suppressed"
    case ledgerQuarantine = "ledger_quarantine"
    /// A venue's 418 ban or 429 back-off, kept so a restart honours it.
    case venueBackoff = "venue_backoff"
    // Venue streams and the between-cycle guard.
    case streamConnected = "stream_connected"
    case streamDisconnected = "stream_disconnected"
    case streamStalled = "stream_stalled"
    case streamResync = "stream_resync"
    case guardAction = "guard_action"
}
