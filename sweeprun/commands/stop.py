"""``sweeprun stop NAME [--now]``: make every agent of a sweep stop, from any machine.

The request is the study attribute ``sweeprun.stop`` (``{"mode": "graceful"|"now"}``); each agent
reads it at least every couple of seconds. Graceful: no agent launches another trial, running
trials finish and count, every agent exits 0. ``--now``: running trials are stopped through the
kill ladder (SIGTERM, SIGKILL after ``trial.kill_grace``), recorded FAIL "stopped by `sweeprun
stop --now`", not counted, and their parameters run again when the sweep is resumed.
``sweeprun start`` on the sweep clears the request and resumes it.
"""

from __future__ import annotations

from typing import Any


def _running(sweep: Any) -> tuple[int, int]:
    """(running trials, distinct agents running them)."""
    from optuna.trial import TrialState

    trials = sweep.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    owners = set()
    for t in trials:
        owner = t.user_attrs.get("sweeprun.owner") or {}
        owners.add((owner.get("host"), owner.get("pid")))
    return len(trials), len(owners)


def run(name: str, storage: str | None = None, now: bool = False) -> int:
    from sweeprun.results.read import storage_for_reading
    from sweeprun.run.budget import STOP_ATTR
    from sweeprun.storage.optuna_adapter import storage_of, study_id_of
    from sweeprun.sweep import load_sweep, request_stop

    spec = storage_for_reading(storage)
    sweep = load_sweep(spec, name)
    mode = "now" if now else "graceful"
    before = storage_of(sweep.study).get_study_user_attrs(study_id_of(sweep.study)).get(STOP_ATTR)
    old = before.get("mode") if isinstance(before, dict) else None
    if old == "now" and mode == "graceful":
        print(
            f"sweep '{name}' was already asked to stop now (`sweeprun stop --now`); "
            "nothing to change"
        )
        return 0
    request_stop(sweep, mode)
    n, agents = _running(sweep)
    grace = sweep.config.trial.kill_grace
    again = "asked again" if old == mode else "asked"
    head = f"{again} every agent of sweep '{name}' in {spec.display} to stop"
    if n == 0:
        what = "no trial is running; agents exit within a few seconds"
    elif mode == "graceful":
        what = (
            f"no new trial starts; the {n} running trial(s) on {agents} agent(s) finish and "
            "count, then each agent exits (use --now to stop them too)"
        )
    else:
        what = (
            f"the {n} running trial(s) on {agents} agent(s) are stopped now (SIGTERM, then "
            f'SIGKILL after trial.kill_grace = {grace:g}s) and recorded FAIL "stopped by '
            '`sweeprun stop --now`"; they do not count and their parameters run again on resume'
        )
    print(f"{head}: {what}.")
    print(
        "resume later with `sweeprun start SWEEP.yaml` (same name and storage); "
        f"watch with `sweeprun status {name}`"
    )
    return 0
