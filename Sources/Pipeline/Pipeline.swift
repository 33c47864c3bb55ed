// Pipeline module.
