"""Create, resume or load a sweep: an Optuna study with its config stored alongside.

The sweep's config is stored as the study user attribute ``sweeprun.config.models`` (JSON), so
``sweeprun agent NAME`` on another machine runs the same sweep. ``start`` on an existing name
resumes when the config is unchanged and refuses when it changed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sweeprun import __version__
from sweeprun.config.load import parse_config
from sweeprun.errors import SweepError, did_you_mean, mask_url
from sweeprun.search.pruners import make_pruner
from sweeprun.search.samplers import make_sampler
from sweeprun.space.distributions import SearchSpace
from sweeprun.space.grid_queue import CHUNK_ATTR, GRID_CHUNK, queue_first
from sweeprun.storage.open import open_storage

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig
    from sweeprun.storage.urls import StorageSpec

CONFIG_ATTR = "sweeprun.config"
VERSION_ATTR = "sweeprun.version"


@dataclass
class Sweep:
    name: str
    study: optuna.Study
    config: SweepConfig
    storage: StorageSpec
    resumed: bool


def _directions(cfg: SweepConfig) -> list[Any]:
    if cfg.metrics:
        return [m.goal for m in cfg.metrics]
    return [cfg.metric.goal if cfg.metric else "minimize"]


def _config_doc(cfg: SweepConfig) -> dict[str, Any]:
    # round-trip through JSON so stored and fresh documents compare equal
    doc: dict[str, Any] = json.loads(json.dumps(cfg.model_dump(mode="json"), sort_keys=True))
    if isinstance(doc.get("storage"), str):  # never store a password with the sweep
        doc["storage"] = mask_url(doc["storage"])
    return doc


def _build_study(
    storage: optuna.storages.BaseStorage, name: str, cfg: SweepConfig, *, joining: bool = False
) -> optuna.Study:
    """The study with its sampler and pruner. An agent joining (or resuming) a seeded sweep
    salts the seed with the trial count and its pid, so that agents do not all draw the same
    sequence; the agent that creates the sweep uses `seed` as given (reproducible)."""
    import optuna

    salt = None
    if joining and cfg.seed is not None:
        n = storage.get_n_trials(storage.get_study_id_from_name(name))
        salt = n * 7919 + os.getpid()
    goal = cfg.metric.goal if cfg.metric else "minimize"
    return optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(cfg, salt=salt),
        pruner=make_pruner(cfg.early_terminate, goal),
    )


def create_or_resume(spec: StorageSpec, name: str, cfg: SweepConfig) -> Sweep:
    """Create the sweep, or resume it when the stored config equals ``cfg``."""
    import optuna

    _build_study_check(cfg)  # a bad sampler or pruner option: refuse before opening anything
    storage = open_storage(spec)
    doc = _config_doc(cfg)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        study_id = None
    if study_id is not None:
        stored = storage.get_study_user_attrs(study_id).get(CONFIG_ATTR)
        if stored is not None and stored != doc:
            changed = sorted(k for k in set(stored) | set(doc) if stored.get(k) != doc.get(k))
            raise SweepError(
                f"sweep '{name}' already exists in {spec.display} with a different config "
                f"(changed: {', '.join(changed)})\n"
                f"    fix: start a new sweep with --name {name}-2 (or change `name:`), "
                "or restore the original file to resume"
            )
        if stored is None:  # the creator has not stored its config yet: wait for it
            for _ in range(100):
                time.sleep(0.05)
                stored = storage.get_study_user_attrs(study_id).get(CONFIG_ATTR)
                if stored is not None:
                    return create_or_resume(spec, name, cfg)
            raise SweepError(
                f"study '{name}' in {spec.display} exists but was not created by sweeprun"
            )
        study = _build_study(storage, name, cfg, joining=True)
        return Sweep(name, study, cfg, spec, resumed=True)
    try:
        optuna.create_study(study_name=name, storage=storage, directions=_directions(cfg))
    except optuna.exceptions.DuplicatedStudyError:  # a concurrent start created it first
        return create_or_resume(spec, name, cfg)
    study = _build_study(storage, name, cfg)
    if cfg.method == "grid":  # before the config: an agent joins once it sees the config
        study.set_user_attr(CHUNK_ATTR, GRID_CHUNK)
    study.set_user_attr(CONFIG_ATTR, doc)
    study.set_user_attr(VERSION_ATTR, __version__)
    sweep = Sweep(name, study, cfg, spec, resumed=False)
    enqueue_baselines(sweep)
    if cfg.method == "grid":
        enqueue_grid(study, SearchSpace.from_params(cfg.parameters))
    return sweep


def _build_study_check(cfg: SweepConfig) -> None:
    make_sampler(cfg)
    make_pruner(cfg.early_terminate, cfg.metric.goal if cfg.metric else "minimize")


def load_sweep(spec: StorageSpec, name: str) -> Sweep:
    """Load an existing sweep by name, with its config read from the storage."""
    storage = open_storage(spec)
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        hint = did_you_mean(name, names)
        known = ", ".join(sorted(names)[:20]) or "none"
        raise SweepError(
            f"no sweep named '{name}' in {spec.display}"
            + (f"; {hint}" if hint else "")
            + f"\n    known sweeps: {known}"
        ) from None
    doc = storage.get_study_user_attrs(study_id).get(CONFIG_ATTR)
    if doc is None:
        raise SweepError(
            f"study '{name}' in {spec.display} was not created by sweeprun (no stored config)"
        )
    cfg = parse_config(doc, source=f"{spec.display} (sweep '{name}')")
    return Sweep(name, _build_study(storage, name, cfg, joining=True), cfg, spec, resumed=True)


def enqueue_baselines(sweep: Sweep) -> None:
    """Queue the ``baseline:`` parameter sets so they run first, marked as baseline."""
    if not sweep.config.baseline:
        return
    space = SearchSpace.from_params(sweep.config.parameters)
    for values in sweep.config.baseline:
        sweep.study.enqueue_trial(space.from_values(values), user_attrs={"sweeprun.baseline": True})


def enqueue_grid(study: optuna.Study, space: SearchSpace) -> int:
    """Queue the first grid points in W&B order (once, when the sweep is created); agents pop
    them atomically, so no point runs twice, and the agent that pops the first point of a
    chunk queues a further chunk (:mod:`sweeprun.space.grid_queue`): the grid is never built
    whole. The number of points queued now."""
    return queue_first(study, space)


STOP_ATTR = "sweeprun.stop"


def request_stop(sweep: Sweep, mode: str) -> None:
    """Ask every agent of the sweep to stop: ``graceful`` (finish running trials) or ``now``."""
    sweep.study.set_user_attr(STOP_ATTR, {"mode": mode, "at": time.time()})


def clear_stop(sweep: Sweep) -> bool:
    """``start`` on a stopped sweep resumes it; True when a stop request was cleared."""
    if sweep.study.user_attrs.get(STOP_ATTR) is None:
        return False
    sweep.study.set_user_attr(STOP_ATTR, None)
    return True
