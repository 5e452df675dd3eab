"""sweep.yaml → frozen, typed models, with key-path errors and lint (never starts a process)."""
