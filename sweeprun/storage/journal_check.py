"""Whether one line of a journal file is a record Optuna's replay can apply.

A journal line that is not valid JSON, not a JSON object, or a record Optuna's replay would
stumble on (an ``op_code`` this Optuna does not know, a key its replay reads missing or of the
wrong type) is skipped by the reader (:class:`sweeprun.storage.journal.SafeJournalFileBackend`)
with one note, instead of raising inside every later read. :func:`problem` says why a record
cannot be applied, or None: it checks what Optuna 5.0/5.1's replay reads of each operation,
the keys and their types, not what the record means. Records that are well formed but refer to
a study or trial that does not exist, or update a finished trial, are Optuna's business as
before: it ignores another process's, and raises for its own (that is how its writes learn
they were refused).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sweeprun.storage.optuna_adapter import JOURNAL_OPS

Check = Callable[[Any], bool]
_decode = json.JSONDecoder().decode
_MISSING = object()
_STATES = frozenset(int(s) for s in TrialState)
_DIRECTIONS = frozenset(int(d) for d in StudyDirection)


def parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """The record on ``line`` (newline-terminated) and ``""``, or None and why not."""
    try:
        record = _decode(line.decode())  # (json.loads without its guess of the encoding)
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
        text = str(exc).split(":", 1)[0] if isinstance(exc, json.JSONDecodeError) else str(exc)
        return None, f"not JSON: {text[:80]}"
    try:
        why = problem(record)
    except Exception as exc:  # a check that trips is a record the replay would trip on too
        why = f"unreadable ({type(exc).__name__})"
    return (None, why) if why else (record, "")


_OP = re.compile(rb'"op_code":\s*(\d+)')
_STUDY_ID = re.compile(rb'"study_id":\s*(\d+)\s*[,}]')
_STATE = re.compile(rb'"state":\s*(\d)\s*[,}]')
_LONG_AGO = "1970-01-01T00:00:00+00:00"
_START = re.compile(rb'"datetime_start":\s*"([0-9T:.+\-]{10,40})"')


def salvage(line: bytes) -> dict[str, Any] | None:
    """For a bad line that was a trial's creation record (one ``op_code`` on the line, 4, and
    its ``study_id`` still readable): a creation record that stands in for it, with the state
    and start time when they are readable too, and no parameters. A RUNNING stand-in whose
    start is unreadable started in 1970: a trial no later record claims (no owner, no lease) is
    then an orphan that the next agent's recovery fails at once, instead of a RUNNING trial
    that holds a place in the budget forever.

    Optuna numbers a study's trials by their creation records, so without it every trial
    created after the line would take the id of the one before, and the records that name
    them (parameters, values, states) would land on the wrong trial or on none. With it the
    later records of the damaged trial itself apply to it as before."""
    ops = _OP.findall(line)
    study = _STUDY_ID.search(line)
    if ops != [b"4"] or study is None:
        return None
    record: dict[str, Any] = {
        "op_code": 4,
        "worker_id": "sweeprun-salvaged",
        "study_id": int(study.group(1)),
        "datetime_start": None,
    }
    state = _STATE.search(line)
    if state is not None and int(state.group(1)) in _STATES:
        record["state"] = int(state.group(1))
    start = _START.search(line)
    if start is not None and _when(start.group(1).decode()):
        record["datetime_start"] = start.group(1).decode()
    elif record.get("state", int(TrialState.RUNNING)) == TrialState.RUNNING:
        record["datetime_start"] = _LONG_AGO  # no owner, no lease: an orphan at once, reaped
    return record if problem(record) is None else None


def problem(record: object) -> str | None:
    """Why Optuna's replay could not apply ``record``; None when it can."""
    if type(record) is not dict:
        return f"a JSON {type(record).__name__}, not a record"
    op = record.get("op_code")
    name = JOURNAL_OPS.get(op) if type(op) is int else None
    if name is None:
        return f"op_code {_short(op)} is not an operation this Optuna knows"
    if type(record.get("worker_id")) is not str:
        return "no worker_id"
    for key, check in _NEEDS[name]:
        value = record.get(key, _MISSING)
        if value is _MISSING or not check(value):
            return f"{name} with {'no' if value is _MISSING else 'a bad'} {key}"
    more = _MORE.get(name)
    return None if more is None else more(record)


def _state_problem(record: dict[str, Any]) -> str | None:
    state = TrialState(record["state"])
    if state == TrialState.RUNNING and not _when(record.get("datetime_start")):
        return "SET_TRIAL_STATE_VALUES with a bad datetime_start"
    if state.is_finished() and not _when(record.get("datetime_complete")):
        return "SET_TRIAL_STATE_VALUES with a bad datetime_complete"
    return None


def _trial_problem(record: dict[str, Any]) -> str | None:
    for key, check in _TRIAL_OPTIONAL:
        if key in record and not check(record[key]):
            return f"CREATE_TRIAL with a bad {key}"
    dists = {name: _distribution(text) for name, text in record.get("distributions", {}).items()}
    for name, value in record.get("params", {}).items():
        if not _external(dists.get(name), value):
            return f"CREATE_TRIAL with a bad params.{_short(name)}"
    if record.get("value") is not None and record.get("values") is not None:
        return "CREATE_TRIAL with both value and values"
    return None


def _param_problem(record: dict[str, Any]) -> str | None:
    dist = _distribution(record["distribution"])
    if not _external(dist, record["param_value_internal"]):
        return "SET_TRIAL_PARAM with a bad param_value_internal or distribution"
    return None


@functools.lru_cache(maxsize=1024)  # a sweep's few distributions, in every trial's records
def _distribution(text: object) -> BaseDistribution | None:
    try:
        return json_to_distribution(text)  # type: ignore[arg-type]
    except Exception:
        return None


def _external(dist: BaseDistribution | None, value: object) -> bool:
    if dist is None or not _number(value):
        return False
    try:
        dist.to_external_repr(value)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def _int(v: object) -> bool:
    return type(v) is int


def _number(v: object) -> bool:
    return type(v) is float or type(v) is int


def _str(v: object) -> bool:
    return type(v) is str


def _dist_text(v: object) -> bool:
    return isinstance(v, str) and _distribution(v) is not None


def _one_attr(v: object) -> bool:
    return type(v) is dict and len(v) == 1


def _dict(v: object) -> bool:
    return isinstance(v, dict)


def _values(v: object) -> bool:
    return v is None or (isinstance(v, list) and all(_number(x) for x in v))


def _state(v: object) -> bool:
    return _int(v) and v in _STATES


def _directions(v: object) -> bool:
    return isinstance(v, list) and bool(v) and all(_int(d) and d in _DIRECTIONS for d in v)


def _when(v: object) -> bool:
    """An ISO date and time the replay can turn into local time."""
    if not isinstance(v, str):
        return False
    try:
        datetime.fromisoformat(v).astimezone()
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _maybe_when(v: object) -> bool:
    return v is None or _when(v)


def _distributions(v: object) -> bool:
    return isinstance(v, dict) and all(_dist_text(t) for t in v.values())


def _steps(v: object) -> bool:
    if not isinstance(v, dict):
        return False
    try:
        for k in v:
            int(k)
    except ValueError:
        return False
    return all(_number(x) for x in v.values())


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


_STUDY = ("study_id", _int)
_TRIAL = ("trial_id", _int)
# what the replay of each operation reads unconditionally, and what it must be
_NEEDS: dict[str, tuple[tuple[str, Check], ...]] = {
    "CREATE_STUDY": (("study_name", _str), ("directions", _directions)),
    "DELETE_STUDY": (_STUDY,),
    "SET_STUDY_USER_ATTR": (_STUDY, ("user_attr", _one_attr)),
    "SET_STUDY_SYSTEM_ATTR": (_STUDY, ("system_attr", _one_attr)),
    "CREATE_TRIAL": (_STUDY, ("datetime_start", _maybe_when)),
    "SET_TRIAL_PARAM": (
        _TRIAL,
        ("param_name", _str),
        ("param_value_internal", _number),
        ("distribution", _dist_text),
    ),
    "SET_TRIAL_STATE_VALUES": (_TRIAL, ("state", _state), ("values", _values)),
    "SET_TRIAL_INTERMEDIATE_VALUE": (_TRIAL, ("step", _int), ("intermediate_value", _number)),
    "SET_TRIAL_USER_ATTR": (_TRIAL, ("user_attr", _one_attr)),
    "SET_TRIAL_SYSTEM_ATTR": (_TRIAL, ("system_attr", _one_attr)),
    "DISCARD_TRIALS": (),  # (Optuna's replay skips it)
}
# what the replay of CREATE_TRIAL reads when it is there
_TRIAL_OPTIONAL: tuple[tuple[str, Check], ...] = (
    ("distributions", _distributions),
    ("params", _dict),
    ("datetime_complete", _when),
    ("state", _state),
    ("user_attrs", _dict),
    ("system_attrs", _dict),
    ("value", lambda v: v is None or _number(v)),
    ("intermediate_values", _steps),
    ("values", _values),
)
# what more the replay of these operations reads, checked after their keys
_MORE: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "CREATE_TRIAL": _trial_problem,
    "SET_TRIAL_PARAM": _param_problem,
    "SET_TRIAL_STATE_VALUES": _state_problem,
}
