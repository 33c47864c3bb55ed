// Execution module.
