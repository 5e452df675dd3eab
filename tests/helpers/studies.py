"""Reading sweeps back from a storage, from outside sweeprun's own code paths where it matters
(``counted`` is the tests' own reading of the budget rule, not sweeprun's)."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from pathlib import Path

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def unique(prefix: str) -> str:
    """A sweep name no other test (or earlier run on a shared database) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def storage_of(url: str) -> optuna.storages.BaseStorage:
    """The storage behind a ``--storage`` URL, opened as sweeprun opens it (no retrying)."""
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    return open_storage(classify(url), retry=False)


def open_study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage_of(url))


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return open_study(url, name).get_trials(deepcopy=False)


def load_trials(home: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of sweep ``name`` in the default journal file under ``home`` (a
    ``SWEEPRUN_DIR``), read with plain Optuna."""
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(home / "journal.log")))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def study_exists(url: str, name: str) -> bool:
    """Whether ``sweeprun start`` has created sweep ``name`` (its config is stored)."""
    try:
        st = storage_of(url)
        sid = st.get_study_id_from_name(name)
        return "sweeprun.config" in st.get_study_user_attrs(sid)
    except Exception:
        return False


def delete_study(url: str, name: str) -> None:
    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=name, storage=storage_of(url))


def is_counted(t: optuna.trial.FrozenTrial) -> bool:
    """Counts toward the budget: finished, or failed by its own agent which said it counts."""
    if t.state.name in ("COMPLETE", "PRUNED"):
        return True
    return t.state.name == "FAIL" and t.user_attrs.get("sweeprun.counted") is True


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    return sum(is_counted(t) for t in trials)


def states(trials: list[optuna.trial.FrozenTrial]) -> Counter[str]:
    return Counter(t.state.name for t in trials)
