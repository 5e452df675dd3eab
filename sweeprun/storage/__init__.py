"""Where a sweep lives: storage URLs, one opened handle, the trial-record schema, and the
only code that knows how Optuna stores a trial."""
