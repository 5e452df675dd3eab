"""Log finished trials to MLflow, one MLflow run per trial, from a background thread.

The controller hands over each trial as it is told (a :class:`~optuna.trial.FrozenTrial` read
on the main thread, so storage calls stay there); a worker thread imports MLflow and logs it,
so a slow tracking server never delays the next launch. If MLflow fails, the worker stops
trying for the rest of the run and says so once at the end: nothing is lost, because every
start (and the end of every run) *catches up*: finished trials of the sweep that have no
MLflow run yet (found by the ``sweeprun.sweep``/``sweeprun.trial`` tags) are logged then.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import queue
import re
import shlex
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sweeprun.errors import mask_url
from sweeprun.results.read import program_values
from sweeprun.run.recovery import HOST, owner_alive
from sweeprun.storage import records
from sweeprun.storage.records import TrialRecord
from sweeprun.storage.records import flatten as flatten
from sweeprun.storage.urls import redact

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from sweeprun.config.tracking import MlflowTracking

#: MLflow's ``log_batch`` limits per call
_MAX_METRICS, _MAX_PARAMS, _MAX_TAGS = 1000, 100, 100
_MAX_PARAM_VALUE = 6000
#: a trial another agent finished this recently may still be in that agent's queue
CATCH_UP_MARGIN = dt.timedelta(seconds=30)
_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}
_BAD_NAME = re.compile(r"[^A-Za-z0-9_\-. /]")
#: trial attributes logged as MLflow tags under their own names, as stored
_TAGGED = (
    records.HOST,
    records.EXIT_CODE,
    records.REASON,
    records.SAMPLER,
    records.ATTEMPT,
    records.DURATION,
)


def _clean(name: str) -> str:
    return _BAD_NAME.sub("_", name) or "_"


def _ms(when: dt.datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def run_record(
    trial: FrozenTrial,
    sweep: str,
    objectives: Sequence[str],
    extra_tags: Mapping[str, str],
    curves: bool,
) -> dict[str, Any]:
    """What one trial becomes in MLflow: run name, times, status, params, metrics, tags."""
    rec = TrialRecord.of(trial)
    params = program_values(trial)
    start = _ms(trial.datetime_start) or _ms(trial.datetime_complete) or 0
    end = _ms(trial.datetime_complete) or start
    steps = sorted(trial.intermediate_values.items())
    last_step = steps[-1][0] if steps else 0
    metrics: list[tuple[str, float, int, int]] = []
    if curves and objectives:
        name = _clean(objectives[0])
        metrics += [(name, float(v), start, int(s)) for s, v in steps if math.isfinite(v)]
    curve_end = (metrics[-1][0], metrics[-1][1], metrics[-1][3]) if metrics else None
    for name, value in zip(objectives, trial.values or (), strict=False):
        if (_clean(name), float(value), int(last_step)) != curve_end:  # not a repeat
            metrics.append((_clean(name), float(value), end, int(last_step)))
    tags = {
        records.TAG_SWEEP: sweep,
        records.TAG_TRIAL: str(trial.number),
        records.TAG_STATE: trial.state.name,
        **{k: str(v) for k, v in extra_tags.items()},
    }
    attrs = trial.user_attrs
    for key in _TAGGED:
        value = attrs.get(key)
        if value is not None:
            tags[key] = value if isinstance(value, str) else json.dumps(value)
    if rec.argv is not None:
        tags[records.TAG_COMMAND] = shlex.join(rec.argv)
    return {
        "run_name": f"trial-{trial.number}",
        "start": start,
        "end": end,
        "status": _STATUS.get(trial.state.name, "FAILED"),
        "params": [(_clean(k), str(v)[:_MAX_PARAM_VALUE]) for k, v in flatten(params).items()],
        "metrics": metrics,
        "tags": tags,
    }


def _settled(trial: FrozenTrial, owner: Any, now: dt.datetime) -> bool:
    """Whether a finished trial is nobody else's to log: ours, old enough, or its owner is a
    dead process on this host."""
    if trial.state.name not in _STATUS or trial.datetime_complete is None:
        return False
    theirs = TrialRecord.of(trial).owner
    if now - trial.datetime_complete > CATCH_UP_MARGIN or theirs is None:
        return True
    return theirs == owner or (theirs.get("host") == HOST and not owner_alive(theirs))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class MlflowTracker:
    """One sweep's MLflow logging: ``finished(trial)`` per trial, ``close()`` at the end."""

    def __init__(self, block: MlflowTracking, sweep: str, objectives: Sequence[str]) -> None:
        self.block = block
        self.sweep = sweep
        self.objectives = list(objectives)
        self.uri = block.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        self.experiment = block.experiment or sweep
        self.logged = 0
        self.error: str | None = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._client: Any = None
        self._experiment_id: str | None = None
        self._done: set[int] = set()
        self._thread = threading.Thread(target=self._work, name="sweeprun-mlflow", daemon=True)
        self._thread.start()

    @property
    def where(self) -> str:
        return f"experiment '{self.experiment}' at {mask_url(self.uri or self._default_uri())}"

    def finished(self, trial: FrozenTrial) -> None:
        self._queue.put(("trial", trial))

    def catch_up(self, trials: Iterable[FrozenTrial], owner: Any = None) -> None:
        """Log the finished ``trials`` that have no MLflow run yet, except those another live
        agent finished within :data:`CATCH_UP_MARGIN` (it may be logging them right now)."""
        now = dt.datetime.now()
        ready = [t for t in trials if _settled(t, owner, now)]
        self._queue.put(("catch_up", ready))

    def close(self, timeout: float = 60.0) -> list[str]:
        """Wait (at most ``timeout`` s) for the queue to drain; return notes for the user."""
        self._queue.put(("stop", None))
        self._thread.join(timeout)
        if self._thread.is_alive():
            return [
                f"mlflow: still logging after {timeout:.0f} s; gave up (the next start "
                f"logs what is missing to {self.where})"
            ]
        if self.error:
            return [
                f"mlflow: could not log to {self.where}: {self.error}; the next start logs "
                "the missing trials"
            ]
        return [f"mlflow: logged {self.logged} trial(s) to {self.where}"] if self.logged else []

    # ---- worker thread -------------------------------------------------------------------
    def _default_uri(self) -> str:
        with contextlib.suppress(Exception):
            import mlflow

            return str(mlflow.get_tracking_uri())
        return "MLflow's default"

    def _work(self) -> None:
        while True:
            kind, item = self._queue.get()
            if kind == "stop":
                return
            if self.error:
                continue
            try:
                if kind == "trial":
                    self._log(item)
                else:
                    self._catch_up(item)
            except Exception as exc:  # MLflow raises many kinds; the sweep must go on
                text = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self.error = redact(text, self.uri) if self.uri else text

    def _connect(self) -> Any:
        if self._client is None:
            uri = self.uri
            # a tracking server that is down costs seconds, not MLflow's default minutes
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
            if uri is not None and (uri.startswith("file:") or "://" not in uri):
                os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # asked for by name
            from mlflow.tracking import MlflowClient

            for name in ("mlflow", "alembic"):  # after the import, which sets up its logging
                logging.getLogger(name).setLevel(logging.WARNING)

            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                try:
                    self._experiment_id = client.create_experiment(self.experiment)
                except Exception:  # another agent created it first
                    found = client.get_experiment_by_name(self.experiment)
                    if found is None:
                        raise
            if found is not None:
                self._experiment_id = found.experiment_id
            self._client = client
        return self._client

    def _catch_up(self, trials: list[FrozenTrial]) -> None:
        client = self._connect()
        token = None
        query = f"tags.`{records.TAG_SWEEP}` = '{self.sweep}'"
        while True:
            page = client.search_runs(
                [self._experiment_id], filter_string=query, max_results=1000, page_token=token
            )
            for run in page:
                with contextlib.suppress(KeyError, ValueError):
                    self._done.add(int(run.data.tags[records.TAG_TRIAL]))
            token = page.token
            if not token:
                break
        for trial in trials:
            self._log(trial)

    def _log(self, trial: FrozenTrial) -> None:
        if trial.number in self._done:
            return
        from mlflow.entities import Metric, Param, RunTag

        client = self._connect()
        rec = run_record(trial, self.sweep, self.objectives, self.block.tags, self.block.curves)
        run = client.create_run(
            self._experiment_id, start_time=rec["start"], run_name=rec["run_name"]
        )
        run_id = run.info.run_id
        for chunk in _chunks(rec["params"], _MAX_PARAMS):
            client.log_batch(run_id, params=[Param(k, v) for k, v in chunk])
        for chunk in _chunks(rec["metrics"], _MAX_METRICS):
            client.log_batch(run_id, metrics=[Metric(k, v, t, s) for k, v, t, s in chunk])
        # the tags last: a run with the sweeprun.trial tag is complete (see _catch_up)
        for chunk in _chunks(list(rec["tags"].items()), _MAX_TAGS):
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in chunk])
        client.set_terminated(run_id, status=rec["status"], end_time=rec["end"])
        self._done.add(trial.number)
        self.logged += 1


__all__ = ["CATCH_UP_MARGIN", "MlflowTracker", "flatten", "run_record"]
