// Backtests: historical replay through the same pipeline stages.
