// Market module.
