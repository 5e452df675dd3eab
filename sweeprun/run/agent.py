"""Run a loaded sweep with a local agent and turn the result into the summary and exit code.

Shared by ``start`` and ``agent``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sweeprun.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_POLICY, SweepError
from sweeprun.integrations.mlflow import MlflowTracker
from sweeprun.integrations.wandb import offline_note, uses_wandb
from sweeprun.results import reproduce
from sweeprun.results.rank import (
    baseline_improvement,
    best_trials,
    describe_improvement,
    state_counts,
)
from sweeprun.results.read import objectives_of
from sweeprun.run.budget import is_counted
from sweeprun.run.display import Final
from sweeprun.run.requeue import requeue_once
from sweeprun.run.scheduler import Controller
from sweeprun.storage import records
from sweeprun.storage.optuna_adapter import storage_of
from sweeprun.storage.urls import sweeprun_dir

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig
    from sweeprun.integrations.mlflow import MlflowTracker
    from sweeprun.run.display import Display, Final
    from sweeprun.run.scheduler import Controller, RunResult
    from sweeprun.sweep import Sweep


class StorageFailure(SweepError):
    """The storage failed mid-sweep: the sweep ran but could not finish (exit 1)."""

    exit_code = EXIT_POLICY


def run_agent(
    sweep: Sweep,
    display: Display,
    *,
    jobs: int,
    cap: int | None = None,
    count: int | None = None,
    time_budget: float | None = None,
    gpus: list[str] | None = None,
    extra_args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    trial_timeout: float | None = None,
    track: bool = True,
) -> int:
    if sweep.resumed:
        for number in requeue_failed_baselines(sweep):
            display.note(f"baseline trial {number} failed before; running it again")
    ctl = Controller(
        sweep,
        display,
        jobs=jobs,
        cap=cap,
        count=count,
        time_budget=time_budget,
        gpus=gpus,
        root=sweeprun_dir(),
        extra_args=extra_args,
        extra_env=extra_env,
        trial_timeout=trial_timeout,
    )
    tracker = start_tracking(sweep, ctl) if track else None
    for note in wandb_notes(sweep, extra_env or {}):
        display.note(note)
    try:
        result = ctl.run()
    except OSError as exc:  # the storage's disk is full, read-only, gone ...
        raise StorageFailure(
            f"cannot write to the storage {sweep.storage.display}: "
            f"{exc.strerror or exc}; the running trials were stopped and everything recorded "
            "before is kept\n    fix: free the disk or fix the storage, then run the same "
            "command again to resume"
        ) from None
    finally:
        if tracker is not None:
            for note in finish_tracking(sweep, ctl, tracker):
                display.note(note)
        display.close()
    final = summarize(sweep, result)
    display.summary(final)
    return final.exit_code


def requeue_failed_baselines(sweep: Sweep) -> list[int]:
    """On a resume, queue again each baseline trial that failed on its own (counted) and has
    no copy yet: a baseline runs again once per resume, not over and over within one run (its
    copy is a new attempt, past ``trial.retries``). The numbers of the trials queued again."""
    from optuna.trial import TrialState

    study = sweep.study
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if not t.user_attrs.get(records.BASELINE) or not is_counted(t):
            continue
        attempt = int(t.user_attrs.get("sweeprun.attempt", 1)) + sweep.config.trial.retries + 1
        if requeue_once(study, dict(t.params), t.user_attrs, retry_of=t.number, attempt=attempt):
            numbers.append(t.number)
    return numbers


def wandb_notes(sweep: Sweep, extra_env: dict[str, str]) -> list[str]:
    """The one note that the program's wandb will run offline (no credentials found)."""
    cfg = sweep.config
    if cfg.tracking.wandb is None or not uses_wandb(cfg.program, cfg.trial.cwd or os.getcwd()):
        return []
    note = offline_note(os.environ, {**cfg.trial.env, **extra_env})
    return [note] if note else []


def start_tracking(sweep: Sweep, ctl: Controller) -> MlflowTracker | None:
    """Log each trial the controller finishes to MLflow (``tracking.mlflow``), after
    catching up the sweep's finished trials that are not there yet."""
    block = sweep.config.tracking.mlflow
    if block is None:
        return None
    objectives = [o.name for o in objectives_of(sweep.config)]
    tracker = MlflowTracker(block, sweep.name, objectives)
    tracker.catch_up(sweep.study.get_trials(deepcopy=False), owner=ctl.owner)
    storage = storage_of(sweep.study)
    ctl.on_finished.append(lambda trial_id: tracker.finished(storage.get_trial(trial_id)))
    return tracker


def finish_tracking(sweep: Sweep, ctl: Controller, tracker: MlflowTracker) -> list[str]:
    try:
        trials = sweep.study.get_trials(deepcopy=False)
    except Exception:  # the storage failed: what this run logged is still flushed below
        trials = []
    tracker.catch_up(trials, owner=ctl.owner)
    return tracker.close()


def describe_trial(t: optuna.trial.FrozenTrial, cfg: SweepConfig) -> dict[str, Any]:
    again = reproduce.of_trial(cfg, t)
    return {
        "number": t.number,
        "values": list(t.values or []),
        "params": t.user_attrs.get("sweeprun.params", t.params),
        "argv": t.user_attrs.get("sweeprun.argv"),
        "command": again.command() if again else None,  # with the environment it needs
    }


def summarize(sweep: Sweep, result: RunResult) -> Final:
    trials = sweep.study.get_trials(deepcopy=False)
    objectives = objectives_of(sweep.config)
    counts = {state: n for state, n in state_counts(trials).items() if n}
    best = [t for rank in best_trials(trials, objectives, 1) for t in rank]
    final = Final(
        sweep=sweep.name,
        storage=sweep.storage.display,
        counts=counts,
        best=[describe_trial(t, sweep.config) for t in best],
        note=result.policy_failure or result.stop_note,
    )
    imp = baseline_improvement(trials, objectives)
    if imp:
        goals = {o.name: o.goal for o in objectives}
        final.extra["vs baseline"] = "; ".join(
            describe_improvement(name, v, goals[name]) for name, v in imp.items()
        )
    if result.interrupted:
        final.exit_code = EXIT_INTERRUPTED
        final.note = "interrupted; run the same command again to resume"
    elif result.policy_failure:
        final.exit_code = EXIT_POLICY
    elif _counted_failures(sweep) and not counts.get("COMPLETE", 0) and not counts.get("PRUNED", 0):
        final.exit_code = EXIT_POLICY
        final.note = "every trial failed; see `sweeprun logs` or the trial logs under .sweeprun/"
    else:
        final.exit_code = EXIT_OK
    return final


def _counted_failures(sweep: Sweep) -> int:
    from optuna.trial import TrialState

    failed = sweep.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    return sum(1 for t in failed if is_counted(t))
