"""``sweeprun start SWEEP.yaml``: create (or resume) a sweep, then run a local agent."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.errors import SweepError

if TYPE_CHECKING:
    from sweeprun.config.models import SweepConfig
    from sweeprun.run.display import Display


def check_name(name: str) -> str:
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise SweepError(
            f"invalid sweep name {name!r}: use 1-200 printable characters "
            "(letters, digits, '-', '_', '.' recommended)"
        )
    return name


def run(
    sweep: Path,
    jobs: int | None = None,
    storage: str | None = None,
    name: str | None = None,
    gpus: str | None = None,
    max_trials: int | None = None,
    timeout: str | None = None,
    dry_run: bool = False,
    json_out: bool = False,
    quiet: bool = False,
    strict: bool = False,
) -> int:
    from sweeprun.commands.validate import lenient_check
    from sweeprun.config.load import load_config
    from sweeprun.config.types import parse_duration

    cfg = load_config(sweep)
    for lenient in lenient_check(sweep, cfg, strict=strict):  # what validate refuses / warns
        if not quiet:
            print(lenient.render(), file=sys.stderr)
    if not (quiet or json_out):
        from sweeprun.config.lint import lint_config

        for note in cfg.notes:
            print(note, file=sys.stderr)
        for warning in lint_config(cfg):
            print(warning.render(), file=sys.stderr)
    sweep_name = check_name(name or cfg.name or Path(sweep).stem)
    if jobs is not None and jobs < 1:
        raise SweepError("--jobs must be at least 1")
    if max_trials is not None and max_trials < 1:
        raise SweepError("--max-trials must be at least 1")
    time_budget = cfg.budget.time
    if timeout is not None:
        try:
            time_budget = parse_duration(timeout)
        except ValueError as exc:
            raise SweepError(f"--timeout: {exc}") from None
    if dry_run:
        return dry_run_print(cfg, sweep_name, max_trials or 5, json_out)

    from sweeprun.config.tracking import check_tracking
    from sweeprun.run import gpus as gpus_mod
    from sweeprun.run.agent import run_agent
    from sweeprun.run.display import make_display
    from sweeprun.storage.urls import resolve
    from sweeprun.sweep import clear_stop, create_or_resume

    preview(cfg, sweep_name, [any_point(cfg)])  # a bad command template fails here, not later
    from sweeprun.run.request import check_program, interpreter_note

    check_program(cfg)  # a missing program file: exit 2, before anything is stored
    check_tracking(cfg.tracking)
    spec = resolve(storage, cfg.storage)
    sw = create_or_resume(spec, sweep_name, cfg)
    cleared = sw.resumed and clear_stop(sw)
    caps = [c for c in (cfg.run_cap, cfg.budget.trials, max_trials) if c]
    display = make_display(json_out, quiet, min(caps) if caps else None)
    if not (quiet or json_out):
        verb = "resuming" if sw.resumed else "created"
        display.note(f"{verb} sweep '{sweep_name}' in {spec.display}")
    for note in sw.notes:
        display.note(note)
    if not (quiet or json_out):
        explain_method(display, cfg)
        if (which_python := interpreter_note(cfg)) is not None:
            display.note(which_python)
        if cleared:
            display.note("the sweep had been stopped with `sweeprun stop`; resuming it")
    return run_agent(
        sw,
        display,
        jobs=jobs or cfg.parallelism or 1,
        cap=max_trials,
        time_budget=time_budget,
        gpus=gpus_mod.detect(gpus),
    )


def first_points(cfg: SweepConfig, n: int) -> list[dict[str, Any]]:
    """The parameter values of the first ``n`` trials, from an in-memory study (a grid's by
    index: its first ``n`` points, never the whole product)."""
    import optuna

    from sweeprun.search.samplers import make_sampler
    from sweeprun.space.distributions import SearchSpace
    from sweeprun.space.grid_index import Grid

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace.from_params(cfg.parameters)
    if cfg.method == "grid":
        return list(Grid(space.specs).check().points(0, n))
    points = [space.complete_values(b) for b in cfg.baseline[:n]]
    study = optuna.create_study(sampler=make_sampler(cfg))
    while len(points) < n:
        trial = study.ask(space.distributions())
        points.append(space.to_values(trial.params))
        study.tell(trial, 0.0)
    return points


def any_point(cfg: SweepConfig) -> dict[str, Any]:
    """One point of the space without a sampler (each range's low end, each first choice): what
    ``start`` fills the command template with to check it before anything runs."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from sweeprun.space.distributions import SearchSpace

    space = SearchSpace.from_params(cfg.parameters)
    params: dict[str, Any] = {}
    for name, dist in space.distributions().items():
        if isinstance(dist, CategoricalDistribution):
            params[name] = dist.choices[0]
        else:
            assert isinstance(dist, FloatDistribution | IntDistribution)
            params[name] = dist.low
    return space.to_values(params)


def preview(
    cfg: SweepConfig, name: str, points: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], list[str]]]:
    """(values, argv) of a trial per point, nothing written; raises the user errors a launch
    would."""
    from sweeprun.run.request import TrialPlan
    from sweeprun.storage.urls import sweeprun_dir

    plan = TrialPlan.build(cfg, sweep=name, root=sweeprun_dir())
    return [
        (values, list(plan.prepare(i, values, dry=True).request.argv))
        for i, values in enumerate(points)
    ]


def dry_run_print(cfg: SweepConfig, name: str, n: int, json_out: bool) -> int:
    """Print the argv of the first ``n`` trials without launching or recording anything."""
    for i, (values, argv) in enumerate(preview(cfg, name, first_points(cfg, n))):
        if json_out:
            print(json.dumps({"trial": i, "params": values, "argv": argv}, default=str))
        else:
            print(f"trial {i}: {shlex.join(argv)}")
    return 0


def explain_method(display: Display, cfg: SweepConfig) -> None:
    """Say what ``method: auto`` chose and warn where a choice will be slow."""
    from sweeprun.search.samplers import GP_SLOW_TRIALS, choose_auto, resolved_method

    if cfg.method == "auto":
        method, why = choose_auto(cfg)
        display.note(f"method auto chose '{method}': {why}")
    cap = cfg.trial_cap()
    if resolved_method(cfg) == "gp" and (cap is None or cap > GP_SLOW_TRIALS):
        display.note(
            f"method gp slows down cubically with the number of trials; past ~{GP_SLOW_TRIALS} "
            "trials consider bayes (TPE) or cmaes"
        )
