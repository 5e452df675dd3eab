"""The trial-record schema (sweeprun/storage/records.py): every key named once, the typed view
with its defaults, the one display spelling of nested names."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from sweeprun.storage import records
from sweeprun.storage.records import TrialRecord, flatten
from tests.helpers.cli import assert_imports_nothing_heavy

PACKAGE = Path(records.__file__).resolve().parents[1]
NAMED = {
    v
    for k, v in vars(records).items()
    if k.isupper() and isinstance(v, str) and v.startswith("sweeprun")
}


def frozen(user_attrs: dict[str, object], state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
    start = datetime(2026, 1, 1, 12, 0, 0)
    return FrozenTrial(
        number=4,
        state=state,
        value=None,
        values=[0.5] if state == TrialState.COMPLETE else None,
        datetime_start=start,
        datetime_complete=start + timedelta(seconds=3) if state.is_finished() else None,
        params={"opt/lr": 0.3},
        distributions={"opt/lr": optuna.distributions.FloatDistribution(0, 1)},
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=4,
    )


def test_every_attribute_key_in_the_package_is_named_in_records() -> None:
    literal = re.compile(r"[\"']((?:sweeprun)[.:][a-z_]+)[\"']")
    used = {
        m.group(1)
        for path in PACKAGE.rglob("*.py")
        for m in literal.finditer(path.read_text(encoding="utf-8"))
    }
    assert used - NAMED == set(), "add these keys to sweeprun/storage/records.py"
    assert set(records.TRIAL_KEYS) | set(records.STUDY_KEYS) <= NAMED
    assert len(set(records.TRIAL_KEYS)) == len(records.TRIAL_KEYS)


def test_a_launched_and_finished_trial() -> None:
    attrs = {
        records.OWNER: {"host": "h1", "pid": 41, "start": 1.5},
        records.PARAMS: {"opt": {"lr": 0.25}, "layers": 3},
        records.ARGV: ["python", "train.py", "--layers=3"],
        records.LOG_DIR: "/logs/4",
        records.HOST: "h1",
        records.PID: 4242,
        records.LAUNCH: "abc",
        records.SAMPLER: {"method": "random"},
        records.LEASE: 1e9,
        records.EXIT_CODE: 0,
        records.DURATION: 2.5,
        records.COUNTED: True,
        records.ATTEMPT: 2,
        records.RETRY_OF: 1,
        records.GRID_INDEX: 7,
        records.BASELINE: True,
        records.SMOKE_CASE: 3,
        records.SMOKE_KIND: "cover",
        "user": "theirs",
    }
    r = TrialRecord.of(frozen(attrs))
    assert (r.number, r.state) == (4, "COMPLETE")
    assert r.params == {"opt": {"lr": 0.25}, "layers": 3}
    assert r.flat_params == {"opt.lr": 0.25, "layers": 3}
    assert r.argv == ("python", "train.py", "--layers=3")
    assert (r.host, r.pid, r.launch, r.log_dir) == ("h1", 4242, "abc", "/logs/4")
    assert (r.owner_host, r.owner_pid) == ("h1", 41)
    assert (r.exit_code, r.duration, r.counted, r.lease) == (0, 2.5, True, 1e9)
    assert (r.attempt, r.retry_of, r.grid_index, r.baseline) == (2, 1, 7, True)
    assert (r.smoke_case, r.smoke_kind, r.sampler) == (3, "cover", {"method": "random"})
    assert (r.reason, r.tail) == (None, ())


def test_defaults_for_a_trial_sweeprun_never_launched() -> None:
    r = TrialRecord.of(frozen({}, TrialState.WAITING))
    assert r.state == "WAITING"
    assert r.params is None and r.flat_params is None  # not Optuna's params: not the program's
    assert (r.owner, r.host, r.pid, r.argv, r.log_dir) == (None, None, None, None, None)
    assert (r.attempt, r.baseline, r.counted, r.tail, r.retry_of) == (1, False, None, (), None)


def test_a_failed_trial_keeps_its_reason_and_tail() -> None:
    attrs = {records.REASON: "exit 3", records.TAIL: ["a", "b"], records.COUNTED: False}
    r = TrialRecord.of(frozen(attrs, TrialState.FAIL))
    assert (r.state, r.reason, r.tail, r.counted) == ("FAIL", "exit 3", ("a", "b"), False)


@pytest.mark.parametrize(
    ("key", "stored", "field", "expected"),
    [
        (records.PID, "12", "pid", None),
        (records.PID, True, "pid", None),
        (records.EXIT_CODE, -9.0, "exit_code", -9),
        (records.ATTEMPT, 0, "attempt", 1),
        (records.ATTEMPT, "2", "attempt", 1),
        (records.DURATION, float("nan"), "duration", None),
        (records.DURATION, 3, "duration", 3.0),
        (records.COUNTED, 1, "counted", None),
        (records.PARAMS, [1, 2], "params", None),
        (records.ARGV, "python train.py", "argv", None),
        (records.ARGV, ["python", 3], "argv", ("python", "3")),
        (records.HOST, 5, "host", None),
        (records.REASON, 7, "reason", "7"),
        (records.OWNER, "h1", "owner", None),
    ],
)
def test_a_value_of_the_wrong_type_reads_as_the_default(
    key: str, stored: object, field: str, expected: object
) -> None:
    r = TrialRecord.from_attrs(0, "COMPLETE", {key: stored})
    assert getattr(r, field) == expected


def test_the_record_is_frozen() -> None:
    r = TrialRecord.from_attrs(0, "RUNNING", {})
    with pytest.raises(AttributeError):
        r.host = "x"  # type: ignore[misc]


def test_one_display_spelling_for_nested_names() -> None:
    nested = {"a": 1, "opt": {"lr": 0.1, "betas": {"b1": 0.9}}, "empty": {}}
    assert flatten(nested) == {"a": 1, "opt.lr": 0.1, "opt.betas.b1": 0.9}
    assert records.DISPLAY_SEP == "."


def test_records_imports_nothing_heavy() -> None:
    assert_imports_nothing_heavy("import sweeprun.storage.records")
