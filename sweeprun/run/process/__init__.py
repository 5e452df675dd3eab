"""A trial's child process tree: spawn, read its pipes, stop the whole tree. Knows nothing of
Optuna or pydantic."""
