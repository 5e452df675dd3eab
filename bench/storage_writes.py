"""Storage writes per trial on the agent's hot path: journal appends, RDB statements and commits.

A trial as the scheduler writes it (``sweeprun.run.scheduler``): ``ask`` inside the batching
decorator's ``asking()`` (parameters held), the launch attributes (with the first heartbeat
on RDB storages), the end attributes held for the state write, ``tell``. The same trial
written with plain Optuna calls (one ``set_trial_user_attr`` per attribute) is the baseline.
These are measured figures, not asserted anywhere: they change with Optuna and SQLAlchemy
releases. The tests assert the behaviour instead (all-or-nothing, what another agent sees).

    .venv/bin/python bench/storage_writes.py                    # journal file and PostgreSQL
    .venv/bin/python bench/storage_writes.py --trials 50 --storages journal,sqlite

The PostgreSQL URL is ``$BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
its studies are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna

from sweeprun.run.trial import tell
from sweeprun.run.verdict import COMPLETE, Verdict
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.journal import SafeJournalFileBackend
from sweeprun.storage.open import open_storage
from sweeprun.storage.optuna_adapter import (
    journal_backend,
    journal_of,
    rdb_of,
    storage_of,
    trial_id_of,
)
from sweeprun.storage.urls import classify

PG = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DISTS = {
    "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
    "layers": optuna.distributions.IntDistribution(1, 8),
    "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
}
LAUNCH = {
    "sweeprun.owner": {"host": "h", "pid": 1, "start": "1"},
    "sweeprun.params": {"lr": 0.01, "layers": 2, "opt": "adam"},
    "sweeprun.argv": ["python", "train.py"],
    "sweeprun.log_dir": "/tmp/x",
    "sweeprun.host": "h",
    "sweeprun.sampler": {"method": "random"},
    "sweeprun.lease": 0.0,
    "sweeprun.pid": 2,
}
END = {"sweeprun.exit_code": 0, "sweeprun.duration": 1.0, "sweeprun.counted": True}


def sweeprun_trial(study: optuna.Study, rdb: bool) -> None:
    writer = trial_writer(storage_of(study))
    with writer.asking():
        trial = study.ask(DISTS)
    writer.write_records(trial_id_of(trial), LAUNCH, heartbeat=rdb)
    writer.write_records(trial_id_of(trial), END, [(0, 0.5)], hold=True)
    assert tell(study, trial, Verdict(COMPLETE, [0.5], None)) is None


def plain_trial(study: optuna.Study, rdb: bool) -> None:
    trial = study.ask(DISTS)
    storage = storage_of(study)
    for key, value in LAUNCH.items():
        storage.set_trial_user_attr(trial_id_of(trial), key, value)
    if rdb:
        storage.record_heartbeat(trial_id_of(trial))  # type: ignore[attr-defined]
    trial.report(0.5, 0)
    for key, value in END.items():
        storage.set_trial_user_attr(trial_id_of(trial), key, value)
    study.tell(trial, 0.5)


class JournalCounter:
    def __init__(self, study: optuna.Study) -> None:
        journal = journal_of(storage_of(study))
        assert journal is not None
        backend = journal_backend(journal)
        assert isinstance(backend, SafeJournalFileBackend)
        self.appends = 0
        real = backend.append_logs

        def spy(logs: list[dict[str, Any]]) -> None:
            before = Path(backend.path).stat().st_size
            real(logs)
            self.appends += Path(backend.path).stat().st_size > before

        backend.append_logs = spy  # type: ignore[method-assign]

    def figures(self, n: int) -> str:
        return f"{self.appends / n:.1f} appends"


class SqlCounter:
    def __init__(self, study: optuna.Study) -> None:
        from sqlalchemy import event

        rdb = rdb_of(storage_of(study))
        assert rdb is not None
        self.statements = self.commits = 0
        event.listen(rdb.engine, "commit", self._commit)
        event.listen(rdb.engine, "before_cursor_execute", self._statement)

    def _commit(self, *_: Any) -> None:
        self.commits += 1

    def _statement(self, *_: Any) -> None:
        self.statements += 1

    def figures(self, n: int) -> str:
        return f"{self.statements / n:.1f} statements, {self.commits / n:.1f} commits"


def measure(url: str, kind: str, n: int, write: Callable[[optuna.Study, bool], None]) -> str:
    import warnings

    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    rdb = kind != "journal"
    storage = open_storage(classify(url), heartbeat_interval=60 if rdb else None)
    name = f"bench-writes-{uuid.uuid4().hex[:8]}"
    sampler = optuna.samplers.RandomSampler(seed=0)  # (TPE writes system attributes too)
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler)
    try:
        write(study, rdb)  # the study's names and distributions are known from now on
        counter: JournalCounter | SqlCounter = SqlCounter(study) if rdb else JournalCounter(study)
        for _ in range(n):
            write(study, rdb)
        return counter.figures(n)
    finally:
        if kind == "postgresql":
            optuna.delete_study(study_name=name, storage=storage)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--storages", default="journal,postgresql")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("| storage | sweeprun (batched) per trial | plain Optuna calls per trial |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.storages.split(","):
            url = {
                "journal": str(Path(tmp) / "journal.log"),
                "sqlite": f"sqlite:///{Path(tmp) / 'optuna.db'}",
                "postgresql": PG,
            }[kind]
            ours = measure(url, kind, args.trials, sweeprun_trial)
            plain = measure(url, kind, args.trials, plain_trial)
            print(f"| {kind} | {ours} | {plain} |", flush=True)


if __name__ == "__main__":
    main()
