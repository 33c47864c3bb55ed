// Ledger module.
