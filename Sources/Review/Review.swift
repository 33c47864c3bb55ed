// Review module.
