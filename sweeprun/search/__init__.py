"""Search strategies: Optuna samplers and pruners, W&B's hyperband."""
