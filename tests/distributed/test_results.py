"""Pure logic of reading results back (rows, sort, Pareto, baseline), and a 10,000-trial sweep."""

from __future__ import annotations

import datetime
import json
import random
import time
import uuid
from typing import Any

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweeprun.errors import SweepError
from sweeprun.results.export import write
from sweeprun.results.rank import baseline_improvement, best_trials, improvement, pareto_front
from sweeprun.results.read import Objective, flatten, parse_states, row_of, sort_rows
from tests.helpers.cli import run_cli

DISTS = {"x": FloatDistribution(0.0, 1.0), "y": CategoricalDistribution([1, 2, 3])}
MIN = [Objective("loss", "minimize")]
T0 = datetime.datetime(2026, 1, 1, 12, 0, 0)


def trial(
    number: int,
    values: list[float] | None,
    state: TrialState = TrialState.COMPLETE,
    attrs: dict[str, Any] | None = None,
) -> FrozenTrial:
    x, y = (number % 10) / 10, number % 3 + 1
    t = create_trial(
        state=state,
        values=values if state == TrialState.COMPLETE else None,
        params={"x": x, "y": y},
        distributions=DISTS,
        user_attrs={"sweeprun.params": {"x": x, "opt": {"y": y}}, **(attrs or {})},
        intermediate_values={1: 1.0, 2: 0.5} if state != TrialState.WAITING else {},
    )
    t.number = number
    return t


def test_flatten() -> None:
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == {"a": 1, "b.c": 2, "b.d.e": 3}


def test_row_of() -> None:
    t = trial(
        4,
        [0.5],
        attrs={
            "sweeprun.host": "h",
            "sweeprun.duration": 1.25,
            "sweeprun.baseline": True,
            "sweeprun.attempt": 2,
        },
    )
    r = row_of(t)
    assert (r.number, r.state, r.values, r.host, r.duration) == (4, "COMPLETE", [0.5], "h", 1.25)
    assert r.flat == {"x": 0.4, "opt.y": 2} and r.steps == 2 and r.attempt == 2 and r.baseline
    assert r.curve == [(1, 1.0), (2, 0.5)]
    assert r.to_json(MIN)["values"] == {"loss": 0.5}


def test_parse_states() -> None:
    assert parse_states(None) is None
    assert parse_states(["complete", "Failed,running"]) == {"COMPLETE", "FAIL", "RUNNING"}
    with pytest.raises(SweepError, match="did you mean 'pruned'"):
        parse_states(["prund"])


def test_sort_rows_goal_direction_and_missing_last() -> None:
    rows = [row_of(trial(i, [v])) for i, v in enumerate([3.0, 1.0, 2.0])]
    rows.append(row_of(trial(3, None, TrialState.FAIL)))
    assert [r.number for r in sort_rows(rows, "loss", MIN)] == [1, 2, 0, 3]
    assert [r.number for r in sort_rows(rows, "-value", MIN)] == [0, 2, 1, 3]
    maxi = [Objective("acc", "maximize")]
    assert [r.number for r in sort_rows(rows, "acc", maxi)] == [0, 2, 1, 3]
    assert [r.number for r in sort_rows(rows, "-x", MIN)] == [3, 2, 1, 0]
    assert [r.number for r in sort_rows(rows, "param.opt.y", MIN)] == [0, 3, 1, 2]
    with pytest.raises(SweepError, match="cannot sort by 'z'"):
        sort_rows(rows, "z", MIN)


points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 3)), max_size=40)


@given(points)
@settings(max_examples=200, deadline=None)
def test_pareto_front_matches_brute_force(pts: list[tuple[int, int, int]]) -> None:
    def dominated(p: tuple[int, ...]) -> bool:
        return any(all(a <= b for a, b in zip(q, p, strict=True)) and q != p for q in pts)

    assert pareto_front(pts) == [i for i, p in enumerate(pts) if not dominated(p)]


@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=25),
    st.integers(1, 4),
)
@settings(max_examples=100, deadline=None)
def test_best_trials_ranks_are_successive_fronts(pts: list[tuple[int, int]], k: int) -> None:
    objs = [Objective("acc", "maximize"), Objective("lat", "minimize")]
    trials = [trial(i, [float(a), float(b)]) for i, (a, b) in enumerate(pts)]
    ranks = best_trials(trials, objs, k)
    seen: set[int] = set()
    for rank in ranks:
        rest = [t for t in trials if t.number not in seen]
        for t in rank:  # nothing left dominates a member of this rank
            assert not any(
                o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
                for o in rest
            )
        seen |= {t.number for t in rank}
    assert len(ranks) <= k
    if len(ranks) < k:
        assert seen == set(range(len(pts)))


def test_single_objective_best_and_baseline() -> None:
    trials = [
        trial(0, [0.8], attrs={"sweeprun.baseline": True}),
        trial(1, [0.9], attrs={"sweeprun.baseline": True}),
        trial(2, [0.2]),
        trial(3, [float("inf")]),
        trial(4, None, TrialState.PRUNED),
    ]
    assert [r[0].number for r in best_trials(trials, MIN, 3)] == [2, 0, 1]
    imp = baseline_improvement(trials, MIN)
    assert imp is not None and imp["loss"]["baseline_trial"] == 0
    assert imp["loss"]["absolute"] == pytest.approx(0.6)
    assert imp["loss"]["relative"] == pytest.approx(0.75)
    assert baseline_improvement(trials[2:], MIN) is None
    assert improvement(2.0, 3.0, "maximize") == {
        "baseline": 2.0,
        "best": 3.0,
        "absolute": 1.0,
        "relative": 0.5,
    }
    assert improvement(0.0, -1.0, "minimize")["relative"] is None


def test_export_records() -> None:
    import io

    objs = [Objective("acc", "maximize"), Objective("lat", "minimize")]
    rows = [row_of(trial(0, [0.9, 3.0])), row_of(trial(1, None, TrialState.FAIL))]
    buf = io.StringIO()
    assert write(rows, objs, "jsonl", buf, curves=True) == 2
    recs = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert list(recs[0]) == [
        "number",
        "state",
        "value.acc",
        "value.lat",
        "param.opt.y",
        "param.x",
        "start",
        "end",
        "duration",
        "host",
        "exit_code",
        "reason",
        "stderr_line",
        "attempt",
        "baseline",
        "curve",
    ]
    assert recs[0]["value.acc"] == 0.9 and recs[1]["value.acc"] is None
    assert recs[0]["curve"] == [[1, 1.0], [2, 0.5]]


# ---- a 10,000-trial sweep ----------------------------------------------------------------------

N = 10_000


def build_big_sweep(storage: Any, name: str, n: int = N) -> None:
    """Write ``n`` finished trials with the sweeprun attributes straight into a storage."""
    from sweeprun.config.load import parse_config
    from sweeprun.sweep import CONFIG_ATTR, VERSION_ATTR, _config_doc

    cfg = parse_config(
        {
            "program": "train.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"values": [1, 2, 3]}},
            "run_cap": n,
            "baseline": [{"x": 0.5, "y": 1}],
        }
    )
    study = optuna.create_study(study_name=name, storage=storage)
    study.set_user_attr(CONFIG_ATTR, _config_doc(cfg))
    study.set_user_attr(VERSION_ATTR, "test")
    rng = random.Random(0)
    trials = []
    for i in range(n):
        x, y = rng.random(), rng.choice([1, 2, 3])
        state = [TrialState.COMPLETE] * 7 + [TrialState.PRUNED] * 2 + [TrialState.FAIL]
        s = state[i % 10]
        loss = (x - 0.3) ** 2 + 0.1 * y
        start = T0 + datetime.timedelta(seconds=i)
        attrs: dict[str, Any] = {
            "sweeprun.params": {"x": x, "y": y},
            "sweeprun.argv": ["python", "train.py", f"--x={x}", f"--y={y}"],
            "sweeprun.log_dir": f"/nowhere/trial-{i:05d}",
            "sweeprun.host": f"node-{i % 4}",
            "sweeprun.pid": 1000 + i,
            "sweeprun.owner": {"host": f"node-{i % 4}", "pid": 99, "start": "1"},
            "sweeprun.exit_code": 0 if s == TrialState.COMPLETE else 1,
            "sweeprun.duration": 1.0,
            "sweeprun.counted": True,
        }
        if i == 0:
            attrs["sweeprun.baseline"] = True
        if s == TrialState.FAIL:
            attrs["sweeprun.reason"] = f"exit code {1 + i % 3}"
            attrs["sweeprun.tail"] = ["Traceback", "Error"]
        trials.append(
            create_trial(
                state=s,
                value=loss if s == TrialState.COMPLETE else None,
                params={"x": x, "y": y},
                distributions=DISTS,
                user_attrs=attrs,
                intermediate_values={1: loss + 0.5, 2: loss + 0.2, 3: loss},
            )
        )
        trials[-1].number = i
        trials[-1].datetime_start = start
        trials[-1].datetime_complete = start + datetime.timedelta(seconds=1)
    if isinstance(storage, optuna.storages.RDBStorage):
        bulk_insert_rdb(storage, study._study_id, trials)
    else:
        study.add_trials(trials)


def naive_utc(d: datetime.datetime | None) -> datetime.datetime | None:
    return d.astimezone(datetime.timezone.utc).replace(tzinfo=None) if d else None


def bulk_insert_rdb(storage: Any, study_id: int, trials: list[FrozenTrial]) -> None:
    """``add_trials`` commits once per trial (minutes for 10,000 on PostgreSQL): insert rows
    with a few bulk statements instead, in Optuna's schema."""
    import sqlalchemy as sa
    from optuna.storages._rdb import models as m

    with storage.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # ids from the sequence itself: other processes on the same database keep getting
            # fresh ids (max + 1 would leave the sequence behind the rows)
            ids = (
                conn.execute(
                    sa.text(
                        "SELECT nextval(pg_get_serial_sequence('trials', 'trial_id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(trials)},
                )
                .scalars()
                .all()
            )
        else:
            base = conn.execute(sa.select(sa.func.max(m.TrialModel.trial_id))).scalar() or 0
            ids = list(range(base + 1, base + 1 + len(trials)))
        conn.execute(
            sa.insert(m.TrialModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "number": t.number if t.number >= 0 else i,
                    "study_id": study_id,
                    "state": t.state.name,
                    "datetime_start": naive_utc(t.datetime_start),
                    "datetime_complete": naive_utc(t.datetime_complete),
                }
                for i, t in enumerate(trials)
            ],
        )
        conn.execute(
            sa.insert(m.TrialParamModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "param_name": k,
                    "param_value": t.distributions[k].to_internal_repr(v),
                    "distribution_json": optuna.distributions.distribution_to_json(
                        t.distributions[k]
                    ),
                }
                for i, t in enumerate(trials)
                for k, v in t.params.items()
            ],
        )
        conn.execute(
            sa.insert(m.TrialValueModel.__table__),
            [
                {"trial_id": ids[i], "objective": 0, "value": t.value, "value_type": "FINITE"}
                for i, t in enumerate(trials)
                if t.value is not None
            ],
        )
        conn.execute(
            sa.insert(m.TrialUserAttributeModel.__table__),
            [
                {"trial_id": ids[i], "key": k, "value_json": json.dumps(v)}
                for i, t in enumerate(trials)
                for k, v in t.user_attrs.items()
            ],
        )
        conn.execute(
            sa.insert(m.TrialIntermediateValueModel.__table__),
            [
                {
                    "trial_id": ids[i],
                    "step": k,
                    "intermediate_value": v,
                    "intermediate_value_type": "FINITE",
                }
                for i, t in enumerate(trials)
                for k, v in t.intermediate_values.items()
            ],
        )


def _check_big(storage_url: str, name: str) -> dict[str, float]:
    timings = {}
    for cmd in (["status"], ["status", name], ["best", name], ["trials", name, "--limit", "5"]):
        t0 = time.perf_counter()
        res = run_cli(*cmd, "--storage", storage_url, "--json").assert_success()
        timings[" ".join(cmd[:1] + (["NAME"] if len(cmd) > 1 else []))] = time.perf_counter() - t0
        data = json.loads(res.stdout)
        if cmd == ["status", name]:
            assert data["trials"] == N and data["counts"]["COMPLETE"] == 7 * N // 10
            assert data["state"] == "finished" and data["budget"]["counted"] == N
            assert {f["reason"] for f in data["failures"]} == {
                "exit code 1",
                "exit code 2",
                "exit code 3",
            }
        if cmd[0] == "best":
            assert data["best"][0]["values"]["loss"] < 0.1002
            assert data["baseline"]["loss"]["baseline_trial"] == 0
    t0 = time.perf_counter()
    out = run_cli("export", name, "--storage", storage_url, "--format", "jsonl").assert_success()
    timings["export"] = time.perf_counter() - t0
    assert len(out.stdout.splitlines()) == N
    print(
        f"\n10,000 trials on {storage_url.split(':')[0]}: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
    )
    return timings


def test_ten_thousand_trials_journal(tmp_path: Any) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = str(tmp_path / "big.log")
    build_big_sweep(JournalStorage(JournalFileBackend(path)), "big")
    _check_big(path, "big")


@pytest.mark.slow
def test_ten_thousand_trials_postgresql(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://")
    name = "big-" + uuid.uuid4().hex[:8]
    try:
        build_big_sweep(optuna.storages.RDBStorage(url), name)
        _check_big(postgres_url, name)
    finally:
        optuna.delete_study(study_name=name, storage=url)
