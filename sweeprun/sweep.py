"""Create, resume or load a sweep: an Optuna study with its config stored alongside.

The sweep's config is stored as the study user attribute ``sweeprun.config`` (JSON), so
``sweeprun agent NAME`` on another machine runs the same sweep. ``start`` on an existing name
resumes when the config is unchanged and refuses when it changed.

Creation is all-or-nothing for agents: the study is marked ``sweeprun.creating`` (the
creator's host, pid and the time), its baselines and first grid points are queued, and only
then is the config stored, which is what makes the sweep exist for ``agent`` and for a
resuming ``start``. A creator stopped half-way (Ctrl-C, kill -9, a full disk) leaves a study
without a config; the next ``start`` with the same file finishes the creation (queueing only
what is missing) once its creator is dead (on this host) or the mark is older than
:data:`CREATION_GRACE`, and says so.
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
from sweeprun.run.recovery import owner_alive, owner_tag
from sweeprun.search.pruners import make_pruner
from sweeprun.search.samplers import make_sampler
from sweeprun.space.distributions import SearchSpace
from sweeprun.space.grid_queue import CHUNK_ATTR, GRID_CHUNK, queue_first
from sweeprun.storage import records
from sweeprun.storage.open import open_storage

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig
    from sweeprun.storage.urls import StorageSpec

CONFIG_ATTR = records.CONFIG
VERSION_ATTR = "sweeprun.version"
CREATING_ATTR = records.CREATING
#: a creation mark older than this, with no config stored, is a creation that was stopped
CREATION_GRACE = 30.0


@dataclass
class Sweep:
    name: str
    study: optuna.Study
    config: SweepConfig
    storage: StorageSpec
    resumed: bool
    #: what the caller should say about how the sweep was opened
    notes: tuple[str, ...] = ()


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
        if stored is None:
            return _half_created(spec, storage, study_id, name, cfg, doc)
        study = _build_study(storage, name, cfg, joining=True)
        return Sweep(name, study, cfg, spec, resumed=True)
    try:
        optuna.create_study(study_name=name, storage=storage, directions=_directions(cfg))
    except optuna.exceptions.DuplicatedStudyError:  # a concurrent start created it first
        return create_or_resume(spec, name, cfg)
    study = _build_study(storage, name, cfg)
    study.set_user_attr(CREATING_ATTR, {**owner_tag(), "at": time.time()})
    _queue_and_store(study, cfg, doc)
    return Sweep(name, study, cfg, spec, resumed=False)


def _half_created(
    spec: StorageSpec,
    storage: optuna.storages.BaseStorage,
    study_id: int,
    name: str,
    cfg: SweepConfig,
    doc: dict[str, Any],
) -> Sweep:
    """A study without a config: being created right now (wait for it), or a creation that
    was stopped half-way (finish it), or not sweeprun's (refuse)."""
    attrs = storage.get_study_user_attrs(study_id)
    mark = attrs.get(CREATING_ATTR)
    # the creator marks the study right after creating it: an unmarked, empty study is one
    # being created this instant (wait for its mark), or one whose creator died at once
    deadline = time.time() + CREATION_GRACE
    while mark is None and not attrs and not storage.get_n_trials(study_id):
        if time.time() >= deadline:
            break
        time.sleep(0.05)
        attrs = storage.get_study_user_attrs(study_id)
        mark = attrs.get(CREATING_ATTR)
    if attrs.get(CONFIG_ATTR) is not None:
        return create_or_resume(spec, name, cfg)
    if mark is None and (attrs or storage.get_n_trials(study_id)):
        raise SweepError(f"study '{name}' in {spec.display} exists but was not created by sweeprun")
    # the creator queues its first points and stores the config within moments: wait for it
    # while it may still be at work (alive here; elsewhere, until the mark is old), else finish
    # its creation (an empty study without a mark: its creator never got to it)
    owner = mark if isinstance(mark, dict) else {}
    started = float(owner.get("at", 0.0))
    while _creating(owner, started):
        time.sleep(0.05)
        if storage.get_study_user_attrs(study_id).get(CONFIG_ATTR) is not None:
            return create_or_resume(spec, name, cfg)
    study = _build_study(storage, name, cfg, joining=True)
    study.set_user_attr(CREATING_ATTR, {**owner_tag(), "at": time.time()})
    queued = _queue_and_store(study, cfg, doc)
    note = (
        f"sweep '{name}' was left half-created (its creator stopped while queueing its first "
        f"trials); finished creating it: {queued} trial(s) queued"
    )
    return Sweep(name, study, cfg, spec, resumed=False, notes=(note,))


def _creating(owner: dict[str, Any], started: float) -> bool:
    """Whether the creator that left ``owner`` may still be creating the sweep."""
    if owner.get("host") == owner_tag()["host"]:
        return owner_alive(owner) and time.time() < started + CREATION_GRACE
    return time.time() < started + CREATION_GRACE


def _queue_and_store(study: optuna.Study, cfg: SweepConfig, doc: dict[str, Any]) -> int:
    """Queue the sweep's baselines and first grid points (only those not queued by an earlier,
    stopped creation), then store the config: from then on the sweep exists. How many trials
    were queued here."""
    if cfg.method == "grid":  # before the config: an agent joins once it sees the config
        study.set_user_attr(CHUNK_ATTR, GRID_CHUNK)
    queued = _enqueue_missing_baselines(study, cfg)
    if cfg.method == "grid":
        queued += queue_first(study, SearchSpace.from_params(cfg.parameters))
    study.set_user_attr(CONFIG_ATTR, doc)
    study.set_user_attr(VERSION_ATTR, __version__)
    return queued


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
    attrs = storage.get_study_user_attrs(study_id)
    doc = attrs.get(CONFIG_ATTR)
    if doc is None and CREATING_ATTR in attrs:
        raise SweepError(
            f"sweep '{name}' in {spec.display} is still being created, or its creation was "
            "stopped half-way\n    fix: wait for its `sweeprun start` to begin, or run "
            "`sweeprun start FILE` again to finish creating it"
        )
    if doc is None:
        raise SweepError(
            f"study '{name}' in {spec.display} was not created by sweeprun (no stored config)"
        )
    cfg = parse_config(doc, source=f"{spec.display} (sweep '{name}')")
    return Sweep(name, _build_study(storage, name, cfg, joining=True), cfg, spec, resumed=True)


def _enqueue_missing_baselines(study: optuna.Study, cfg: SweepConfig) -> int:
    """Queue the ``baseline:`` parameter sets so they run first, marked as baseline (they are
    queued in order: those an earlier, stopped creation queued are the first ones)."""
    if not cfg.baseline:
        return 0
    trials = study.get_trials(deepcopy=False)
    have = sum(bool(t.user_attrs.get(records.BASELINE)) for t in trials)
    space = SearchSpace.from_params(cfg.parameters)
    for values in cfg.baseline[have:]:
        study.enqueue_trial(space.from_values(values), user_attrs={records.BASELINE: True})
    return max(0, len(cfg.baseline) - have)


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
