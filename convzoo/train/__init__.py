"""Training: the engine, checkpoints, seeding, logs and plots."""
