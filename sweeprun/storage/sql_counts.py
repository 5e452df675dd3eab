"""The budget's counts on an RDB storage, read with one aggregate query instead of every trial.

:class:`sweeprun.run.budget.Budget` needs, per state, how many trials a study holds (and how many
FAILED ones count); reading them through Optuna builds every unfinished and new trial with its
parameters, values and attributes (seven statements, a few milliseconds of agent CPU). Here one
``SELECT state, count(*) ... GROUP BY state`` answers, in the same transaction as the stop flag
(and, with ``metric.target``, whether a finished trial reached it). Outages are retried like
every other storage call (:class:`sweeprun.storage.retrying.RetryingStorage`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from optuna.trial import TrialState

from sweeprun.storage.optuna_adapter import rdb_models, rdb_of, storage_of, study_id_of
from sweeprun.storage.retrying import RetryingStorage

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import MetricSpec

T = TypeVar("T")


@dataclass
class Counts:
    running: int = 0
    waiting: int = 0
    counted: int = 0  # COMPLETE, PRUNED, and FAILED with ``sweeprun.counted`` true


def rdb_counter(study: optuna.Study) -> RdbCounter | None:
    """A counter for the study's RDB storage; None for other storages."""
    storage = storage_of(study)
    run: Callable[[Callable[[bool], Any]], Any] = (
        storage.run_retried if isinstance(storage, RetryingStorage) else (lambda fn: fn(False))
    )
    rdb = rdb_of(storage)
    if rdb is None:
        return None
    return RdbCounter(rdb, study_id_of(study), run)


class RdbCounter:
    def __init__(self, rdb: Any, study_id: int, run: Callable[[Callable[[bool], Any]], Any]):
        self.rdb = rdb
        self.study_id = study_id
        self._run = run

    def _query(self, fn: Callable[[Any], T]) -> T:
        def attempt(_retried: bool) -> T:
            with self.rdb.engine.connect() as conn:
                return fn(conn)  # read only: the connection's transaction is rolled back

        out: T = self._run(attempt)
        return out

    def _counts(self, conn: Any, below: int | None = None) -> Counts:
        import sqlalchemy as sa  # (lazy: SQLAlchemy only for RDB storages)

        models = rdb_models()

        t = models.TrialModel.__table__
        a = models.TrialUserAttributeModel.__table__
        join = t.outerjoin(
            a,
            sa.and_(
                a.c.trial_id == t.c.trial_id,
                a.c.key == "sweeprun.counted",
                a.c.value_json == "true",
            ),
        )
        query = (
            sa.select(t.c.state, sa.func.count(), sa.func.count(a.c.trial_id))
            .select_from(join)
            .where(t.c.study_id == self.study_id)
            .group_by(t.c.state)
        )
        if below is not None:
            query = query.where(t.c.number < below)
        out = Counts()
        for state, n, n_counted in conn.execute(query):
            if state == TrialState.RUNNING:
                out.running += n
            elif state == TrialState.WAITING:
                out.waiting += n
            elif state in (TrialState.COMPLETE, TrialState.PRUNED):
                out.counted += n
            elif state == TrialState.FAIL:
                out.counted += n_counted
        return out

    def counts(self) -> Counts:
        return self._query(self._counts)

    def ahead(self, number: int) -> int:
        """Running and counted trials numbered below ``number``."""
        c = self._query(lambda conn: self._counts(conn, below=number))
        return c.running + c.counted

    def refresh(self, stop_key: str, metric: MetricSpec | None) -> tuple[Counts, Any, bool]:
        """Counts, the study attribute ``stop_key`` (None when unset), and whether a COMPLETE
        trial's first value reaches ``metric.target`` — all in one transaction."""
        import sqlalchemy as sa  # (lazy: SQLAlchemy only for RDB storages)

        models = rdb_models()

        def read(conn: Any) -> tuple[Counts, Any, bool]:
            counts = self._counts(conn)
            s = models.StudyUserAttributeModel.__table__
            raw = conn.execute(
                sa.select(s.c.value_json).where(s.c.study_id == self.study_id, s.c.key == stop_key)
            ).scalar()
            stop = None if raw is None else json.loads(raw)
            reached = bool(metric is not None and conn.execute(self._reached(metric)).scalar())
            return counts, stop, reached

        return self._query(read)

    def _reached(self, metric: MetricSpec) -> Any:
        import sqlalchemy as sa  # (lazy: SQLAlchemy only for RDB storages)

        models = rdb_models()

        t = models.TrialModel.__table__
        v = models.TrialValueModel.__table__
        kind = models.TrialValueModel.TrialValueType
        target = metric.target
        if metric.goal == "minimize":
            hit = sa.or_(
                sa.and_(v.c.value_type == kind.FINITE, v.c.value <= target),
                v.c.value_type == kind.INF_NEG,
            )
        else:
            hit = sa.or_(
                sa.and_(v.c.value_type == kind.FINITE, v.c.value >= target),
                v.c.value_type == kind.INF_POS,
            )
        return sa.select(
            sa.exists().where(
                t.c.study_id == self.study_id,
                t.c.state == TrialState.COMPLETE,
                v.c.trial_id == t.c.trial_id,
                v.c.objective == 0,
                hit,
            )
        )
