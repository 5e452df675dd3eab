"""The agent: its scheduling loop, budget, GPUs, argv and request building, liveness and
recovery, and (in :mod:`sweeprun.run.process`) the trial's process tree."""
