"""Fast read of a whole study from an RDB storage (PostgreSQL, MySQL, SQLite).

Optuna's ``RDBStorage.get_all_trials`` builds an ORM object per row: on 10,000 trials with a
dozen user attributes each that is ~160,000 objects and several seconds. Here the same rows are
read with a few SQLAlchemy Core queries over Optuna's schema (read-only, described by the
lightweight tables below, so the ORM models need not be loaded), optionally only the user
attributes a command needs and without the parameters, and turned straight into
:class:`FrozenTrial` objects. Any surprise (an unexpected schema) falls back to Optuna's own
reader.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from optuna.distributions import json_to_distribution
from optuna.trial import FrozenTrial, TrialState

from sweeprun.storage.optuna_adapter import rdb_of

if TYPE_CHECKING:
    import sqlalchemy as sa
    from optuna.storages import BaseStorage

#: user-attribute JSON texts whose value is immutable (so one parsed value can be shared)
_SCALARS = (str, int, float, bool, type(None))


def _local(d: datetime.datetime | None) -> datetime.datetime | None:
    if d is None:
        return None
    return d.replace(tzinfo=datetime.timezone.utc).astimezone().replace(tzinfo=None)


class Tables:
    """Optuna's RDB schema, as far as reading trials and studies needs it."""

    def __init__(self) -> None:
        import sqlalchemy as sa

        c = sa.column
        self.studies = sa.table("studies", c("study_id", sa.Integer), c("study_name", sa.String))
        self.study_attrs = sa.table(
            "study_user_attributes",
            c("study_id", sa.Integer),
            c("key", sa.String),
            c("value_json", sa.Text),
        )
        self.directions = sa.table(
            "study_directions",
            c("study_id", sa.Integer),
            c("direction", sa.String),
            c("objective", sa.Integer),
        )
        self.trials = sa.table(
            "trials",
            c("trial_id", sa.Integer),
            c("number", sa.Integer),
            c("study_id", sa.Integer),
            c("state", sa.String),
            c("datetime_start", sa.DateTime),
            c("datetime_complete", sa.DateTime),
        )
        self.values = sa.table(
            "trial_values",
            c("trial_id", sa.Integer),
            c("objective", sa.Integer),
            c("value", sa.Float),
            c("value_type", sa.String),
        )
        self.params = sa.table(
            "trial_params",
            c("trial_id", sa.Integer),
            c("param_name", sa.String),
            c("param_value", sa.Float),
            c("distribution_json", sa.Text),
        )
        self.user_attrs = sa.table(
            "trial_user_attributes",
            c("trial_id", sa.Integer),
            c("key", sa.String),
            c("value_json", sa.Text),
        )
        self.intermediate = sa.table(
            "trial_intermediate_values",
            c("trial_id", sa.Integer),
            c("step", sa.Integer),
            c("intermediate_value", sa.Float),
            c("intermediate_value_type", sa.String),
        )


def read_trials(
    storage: BaseStorage,
    study_id: int,
    *,
    attrs: Collection[str] | None = None,
    intermediate: bool = True,
    params: bool = True,
) -> list[FrozenTrial]:
    """Every trial of a study; ``attrs`` limits the user attributes read (None: all), and
    ``params=False`` leaves out the parameters (and their distributions)."""
    backend = rdb_of(storage)  # (behind sweeprun's decorators and Optuna's cache)
    if backend is None:
        return list(storage.get_all_trials(study_id, deepcopy=False))
    try:
        with backend.engine.connect() as conn:
            return read_study_trials(
                conn, study_id, attrs=attrs, intermediate=intermediate, params=params
            )
    except Exception:  # an Optuna schema we do not know: the slow, sure way
        return list(storage.get_all_trials(study_id, deepcopy=False))


def read_study_trials(
    conn: sa.Connection,
    study_id: int,
    *,
    attrs: Collection[str] | None = None,
    intermediate: bool = True,
    params: bool = True,
    trial_ids: Collection[int] | None = None,
) -> list[FrozenTrial]:
    """The trials of a study (or only ``trial_ids``) read over ``conn``, ordered by number."""
    import sqlalchemy as sa

    tb = Tables()
    t = tb.trials
    where = [t.c.study_id == study_id]
    if trial_ids is not None:
        where.append(t.c.trial_id.in_(list(trial_ids)))
    in_study = sa.select(t.c.trial_id).where(*where)
    values: dict[int, dict[int, float]] = {}
    param_values: dict[int, dict[str, Any]] = {}
    dists: dict[int, dict[str, Any]] = {}
    user: dict[int, dict[str, Any]] = {}
    inter: dict[int, dict[int, float]] = {}
    dist_cache: dict[str, Any] = {}
    json_cache: dict[str, Any] = {}
    inf = {"INF_POS": float("inf"), "INF_NEG": float("-inf"), "NAN": float("nan")}

    def special(kind: Any, v: float | None) -> float:
        name = getattr(kind, "name", str(kind))
        return float(v) if name == "FINITE" and v is not None else inf.get(name, float("nan"))

    rows = conn.execute(
        sa.select(t.c.trial_id, t.c.number, t.c.state, t.c.datetime_start, t.c.datetime_complete)
        .where(*where)
        .order_by(t.c.number)
    ).all()
    v = tb.values
    for tid, obj, val, kind in conn.execute(
        sa.select(v.c.trial_id, v.c.objective, v.c.value, v.c.value_type).where(
            v.c.trial_id.in_(in_study)
        )
    ):
        values.setdefault(tid, {})[obj] = special(kind, val)
    if params:
        p = tb.params
        for tid, name, val, dj in conn.execute(
            sa.select(p.c.trial_id, p.c.param_name, p.c.param_value, p.c.distribution_json).where(
                p.c.trial_id.in_(in_study)
            )
        ):
            dist = dist_cache.get(dj)
            if dist is None:
                dist = dist_cache[dj] = json_to_distribution(dj)
            param_values.setdefault(tid, {})[name] = dist.to_external_repr(val)
            dists.setdefault(tid, {})[name] = dist
    if attrs is None or attrs:
        u = tb.user_attrs
        q = sa.select(u.c.trial_id, u.c.key, u.c.value_json).where(u.c.trial_id.in_(in_study))
        if attrs is not None:
            q = q.where(u.c.key.in_(list(attrs)))
        for tid, key, vj in conn.execute(q):
            if vj in json_cache:
                value = json_cache[vj]
            else:
                value = json.loads(vj)
                if isinstance(value, _SCALARS):
                    json_cache[vj] = value
            user.setdefault(tid, {})[key] = value
    if intermediate:
        iv = tb.intermediate
        for tid, step, val, kind in conn.execute(
            sa.select(
                iv.c.trial_id, iv.c.step, iv.c.intermediate_value, iv.c.intermediate_value_type
            ).where(iv.c.trial_id.in_(in_study))
        ):
            inter.setdefault(tid, {})[step] = special(kind, val)
    states = {s.name: s for s in TrialState}
    out = []
    for tid, number, state, start, complete in rows:
        vals = values.get(tid)
        out.append(
            FrozenTrial(
                number=number,
                state=states[state],
                value=None,
                values=[vals[i] for i in sorted(vals)] if vals else None,
                datetime_start=_local(start),
                datetime_complete=_local(complete),
                params=param_values.get(tid, {}),
                distributions=dists.get(tid, {}),
                user_attrs=user.get(tid, {}),
                system_attrs={},
                intermediate_values=inter.get(tid, {}),
                trial_id=tid,
            )
        )
    return out
