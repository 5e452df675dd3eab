"""Bounds of every number in sweep.yaml, and the strings a trial's argv and environment can
hold (issue 19, item 7): the largest value accepted works, the next one is refused at its key
path, and what validation accepts is what the operating system takes."""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweeprun.cli import parser as cli_parser
from sweeprun.config import limits
from sweeprun.config.load import parse_config
from sweeprun.errors import ConfigError
from tests.helpers.wait import wait_until

INT64 = 2**63 - 1
STEP = 2**31 - 1
BASE: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "loss"},
    "parameters": {"x": {"values": [1, 2]}},
}


def with_key(path: str, value: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """BASE with ``value`` at the dotted ``path`` (and ``extra`` merged into its block)."""
    data: dict[str, Any] = {**BASE}
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node[part] = dict(node.get(part, {}))
        node = node[part]
    node.update(extra or {})
    node[last] = value
    return data


def refusal(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="s.yaml")
    return [(p.path, f"{p.message} {p.fix}") for p in info.value.problems]


HYPERBAND = {"type": "hyperband"}
BOUNDS: list[tuple[str, Any, Any, dict[str, Any] | None]] = [
    # (key path, the largest value accepted, the smallest refused, the rest of its block)
    ("parallelism", 4096, 4097, None),
    ("seed", 2**32 - 1, 2**32, None),
    ("run_cap", INT64, INT64 + 1, None),
    ("budget.trials", INT64, INT64 + 1, None),
    ("budget.time", "365d", "366d", None),
    ("budget.deadline", 365 * 86400, 365 * 86400 + 1, None),
    ("trial.timeout", "30d", "30d1s", None),
    ("trial.kill_grace", "30d", 1e308, None),
    ("trial.heartbeat", "30d", 1e308, None),
    ("trial.lease_grace", 30 * 86400.0, "31d", None),
    ("trial.retries", INT64, INT64 + 1, None),
    ("failures.max_consecutive", INT64, INT64 + 1, None),
    ("smoke.timeout", "30d", "1e9", None),
    ("smoke.max_trials", INT64, INT64 + 1, None),
    ("resources.gpus_per_trial", 4096, 4097, None),
    ("early_terminate.min_iter", STEP, STEP + 1, HYPERBAND),
    ("early_terminate.max_iter", STEP, STEP + 1, {**HYPERBAND, "s": 2}),
    ("early_terminate.s", 10_000, 10_001, {**HYPERBAND, "max_iter": 27}),
    ("early_terminate.n_startup_trials", INT64, INT64 + 1, {"type": "median"}),
    ("early_terminate.n_warmup_steps", STEP, STEP + 1, {"type": "median"}),
    ("early_terminate.interval_steps", STEP, STEP + 1, {"type": "median"}),
    ("early_terminate.n_min_trials", INT64, INT64 + 1, {"type": "median"}),
    ("early_terminate.min_resource", STEP, STEP + 1, {"type": "asha"}),
    ("early_terminate.reduction_factor", STEP, STEP + 1, {"type": "asha"}),
    ("early_terminate.min_early_stopping_rate", 64, 65, {"type": "asha"}),
    ("early_terminate.bootstrap_count", INT64, INT64 + 1, {"type": "asha", "min_resource": 1}),
    ("early_terminate.max_resource", STEP, STEP + 1, {"type": "optuna_hyperband"}),
    ("early_terminate.n_startup_steps", STEP, STEP + 1, {"type": "wilcoxon"}),
    ("early_terminate.patience", STEP, STEP + 1, {"type": "median"}),
]


@pytest.mark.parametrize(("path", "largest", "over", "block"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_each_number_stops_where_the_code_does(
    path: str, largest: Any, over: Any, block: dict[str, Any] | None
) -> None:
    parse_config(with_key(path, largest, block))
    found = refusal(with_key(path, over, block))
    assert [p for p, _ in found] == [path], found
    assert "at most" in found[0][1], found


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [("trial.heartbeat", 0.05, "greater than or equal to 0.1"),
     ("resources.gpus_per_trial", 0.0005, "at least 0.001"),
     ("trial.heartbeat", "31d", "'31d' (2.6784e+06 seconds) is longer than sweeprun can wait")],
)  # fmt: skip
def test_lower_bounds_and_messages(path: str, value: Any, needle: str) -> None:
    found = refusal(with_key(path, value))
    assert [p for p, _ in found] == [path]
    assert needle in found[0][1], found


def test_the_schema_carries_the_bounds() -> None:
    from sweeprun.commands.schema import build_schema

    schema = build_schema()
    parallelism = schema["properties"]["parallelism"]["anyOf"][0]
    assert parallelism["maximum"] == 4096
    heartbeat = schema["$defs"]["TrialSettings"]["properties"]["heartbeat"]
    assert heartbeat["anyOf"][0]["maximum"] == 30 * 86400


def test_the_cli_and_the_config_agree_on_the_limits() -> None:
    assert cli_parser.MAX_JOBS == limits.MAX_JOBS
    assert cli_parser.MAX_COUNT == limits.MAX_COUNT
    assert cli_parser.jobs("4096") == 4096
    with pytest.raises(Exception, match="must be at most 4096, got 4097"):
        cli_parser.jobs("4097")
    with pytest.raises(ValueError):
        cli_parser.count("x")  # argparse: "invalid integer value: 'x'"
    assert cli_parser.count.__name__ == "integer"


# ---- the largest accepted values work ---------------------------------------------------


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("method", ["random", "tpe", "bayes", "qmc", "cmaes"])
def test_the_largest_seed_seeds_every_sampler(method: str) -> None:
    optuna = pytest.importorskip("optuna")
    from sweeprun.search.samplers import make_sampler

    cfg = parse_config({**BASE, "method": method, "seed": limits.MAX_SEED})
    study = optuna.create_study(sampler=make_sampler(cfg))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)


def test_the_largest_rung_options_prune_at_once() -> None:
    optuna = pytest.importorskip("optuna")
    from sweeprun.search.hyperband import bands
    from sweeprun.search.pruners import make_pruner

    assert len(bands(max_iter=STEP, s=limits.MAX_BRACKETS, eta=1.0001)) == limits.MAX_BRACKETS
    cfg = parse_config(with_key(
        "early_terminate.min_early_stopping_rate", limits.MAX_RUNG_OFFSET,
        {"type": "asha", "min_resource": STEP, "reduction_factor": STEP},
    ))  # fmt: skip
    study = optuna.create_study(pruner=make_pruner(cfg.early_terminate))
    trial = study.ask()
    trial.report(1.0, STEP)
    start = time.monotonic()
    assert not trial.should_prune()
    assert time.monotonic() - start < 5


def test_the_liveness_thread_survives_an_interval_past_the_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stored config from before the bounds (or any caller) with `heartbeat: 1e308`: the
    thread used to die at its first wait (OverflowError) and never renew a lease."""
    optuna = pytest.importorskip("optuna")
    from sweeprun.run.liveness import Keeper

    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    keeper = Keeper(optuna.create_study(), lambda: [], 1e308, float("inf"))
    keeper.start()
    waiting = getattr(keeper._stop_event, "_cond", None)  # where it blocks, once there
    wait_until(lambda: died or getattr(waiting, "_waiters", None), 10, "the keeper waits")
    keeper.stop()
    keeper.join(10)
    assert died == [] and not keeper.is_alive()
    from sweeprun.run.liveness import clamp

    assert clamp(float("nan")) == clamp(1e308) == limits.MAX_TRIAL_SECONDS
    assert clamp(0.0) == limits.MIN_HEARTBEAT and clamp(5.0) == 5.0


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_rdb_heartbeat_takes_an_interval_past_the_bounds(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from sweeprun.run.liveness import enable_rdb_heartbeat
    from sweeprun.storage.optuna_adapter import stale_trial_ids

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    study = optuna.create_study(storage=storage)
    target = enable_rdb_heartbeat(study, 1e308, 1e308)
    assert target is not None
    storage.record_heartbeat(study.ask()._trial_id)
    assert stale_trial_ids(storage, study._study_id) == []  # timedelta(grace) used to overflow


# ---- strings a trial gets ---------------------------------------------------------------

linux = pytest.mark.skipif(sys.platform != "linux", reason="MAX_ARG_STRLEN is Linux's")


@linux
@pytest.mark.parametrize("where", ["argv", "env"])
def test_the_string_limit_is_the_operating_systems(where: str) -> None:
    """One byte below MAX_ARG_STRLEN (the NUL takes the last) starts a program; one more does
    not: the bound validation uses is exactly execve's."""

    def start(size: int) -> None:
        if where == "argv":
            subprocess.run(["/bin/true", "a" * (size - 1)], check=True)
        else:
            subprocess.run(["/bin/true"], env={"A": "a" * (size - 3)}, check=True)  # A=...\0

    start(limits.MAX_ARG_STRLEN)
    with pytest.raises(OSError) as info:
        start(limits.MAX_ARG_STRLEN + 1)
    assert info.value.errno == errno.E2BIG


@pytest.mark.parametrize(
    ("env", "path", "needle"),
    [({"": "x"}, "trial.env", "name is empty"),
     ({"A=B": "x"}, "trial.env.A=B", "contains '='"),
     ({"A\0": "x"}, "trial.env.A\0", "NUL"),
     ({"A": "x\0y"}, "trial.env.A", "NUL"),
     ({"A": "x" * 131070}, "trial.env.A", "would be 131,072 bytes")],
)  # fmt: skip
def test_environment_variables_no_program_can_get(
    env: dict[str, str], path: str, needle: str
) -> None:
    found = refusal(with_key("trial.env", env))
    assert [p for p, _ in found] == [path], found
    assert needle in found[0][1]
    parse_config(with_key("trial.env", {"A": "x" * 131069}))  # A=<131069>, NUL: 131072 bytes
    assert [p for p, _ in refusal(with_key("smoke.env", {"A=B": "1"}))] == ["smoke.env.A=B"]


@pytest.mark.parametrize(
    ("data", "path"),
    [({"command": ["${env}", "a\0", "${args}"]}, "command[1]"),
     ({"command": ["${env}", "x" * 131072]}, "command[1]"),
     ({"program": "train\0.py"}, "program"),
     ({"smoke": {"args": ["ok", "b\0"]}}, "smoke.args[1]"),
     ({"trial": {"cwd": "/tmp\0"}}, "trial.cwd"),
     ({"tracking": {"wandb": {"group": "g\0"}}}, "tracking.wandb.group"),
     ({"tracking": {"wandb": {"tags": ["t" * 70000, "u" * 70000]}}}, "tracking.wandb.tags"),
     ({"name": "a\0"}, "name"),
     ({"parameters": {"x": {"values": [1, "b\0"]}}}, "parameters.x.values[1]"),
     ({"parameters": {"x": {"value": "v" * 200_000}}}, "parameters.x.value"),
     ({"parameters": {"o": {"parameters": {"y": {"value": "é" * 30_000}}}}},
      "parameters.o.parameters.y.value"),
     ({"parameters": {"a": {"value": "a" * 70_000}, "b": {"values": ["", "b" * 70_000]}}},
      "parameters"),
     ({"parameters": {"o": {"parameters": {"a": {"value": "a" * 70_000},
                                           "b": {"value": "b" * 70_000}}}}},
      "parameters"),
     ],
)  # fmt: skip
def test_argv_and_environment_strings_no_program_can_get(data: dict[str, Any], path: str) -> None:
    found = refusal({**BASE, **data})
    assert path in [p for p, _ in found], found


def test_a_nul_inside_a_nested_or_listed_value_reaches_the_program_escaped() -> None:
    """`--block={'y': 'a\\x00b'}` and `--x=['a\\x00b']` carry no NUL: nothing to refuse."""
    parse_config({**BASE, "parameters": {"o": {"parameters": {"y": {"value": "a\0b"}}}}})
    parse_config({**BASE, "parameters": {"x": {"values": [["a\0b"], 2]}}})


def os_accepts(text: str) -> bool:
    size = limits.os_size(text)
    return "\0" not in text and size is not None and size < limits.MAX_ARG_STRLEN


EDGE = limits.MAX_ARG_STRLEN - 1 - len('SWEEPRUN_PARAMS={"v": ""}')


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.text(max_size=6),
    fill=st.sampled_from(["a", "é", "\0", "'", '"', "\\", "\x7f", "😀"]),
    length=st.sampled_from([0, 1, 1000, EDGE // 6 - 1, EDGE // 2, EDGE - 7, EDGE - 1, EDGE,
                            EDGE + 1, 131_072]),
    categorical=st.booleans(),
)  # fmt: skip
@example(head="", fill="a", length=EDGE, categorical=False)
@example(head="", fill="a", length=EDGE + 1, categorical=True)
def test_validation_accepts_exactly_what_a_trial_can_be_started_with(
    head: str, fill: str, length: int, categorical: bool
) -> None:
    """A constant or categorical value is accepted if and only if every argv and environment
    string of the trial that gets it (built as `start` builds it) is one the OS takes."""
    value = head + fill * length
    spec = {"values": [1, value]} if categorical else {"value": value}
    data = {**BASE, "program": "train.py", "parameters": {"v": spec}}
    try:
        parse_config(data)
    except ConfigError as exc:
        accepted, problems = False, exc.problems
    else:
        accepted, problems = True, []
    request = _request(value)
    strings = [*request[0], *(f"{k}={v}" for k, v in request[1].items())]
    assert accepted == all(os_accepts(s) for s in strings), (problems, len(value))


def _request(value: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment a trial with ``v = value`` gets (built without validation)."""
    from sweeprun.run.request import TrialPlan

    base = parse_config({**BASE, "program": "train.py", "parameters": {"v": {"value": 1}}})
    plan = TrialPlan.build(base, sweep="s", root=Path("/nonexistent"), environ={"PATH": "/bin"})
    prepared = plan.prepare(0, {"v": value}, dry=True)
    return list(prepared.request.argv), dict(prepared.request.env)
