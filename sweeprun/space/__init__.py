"""Parameter specs ↔ Optuna distributions; grid points by index."""
