"""Write several records of one trial at once: ``sweeprun.*`` attributes and intermediate
values.

On the journal storages (file and Redis) they go out as one append — one lock and one fsync
instead of one per record; Optuna's journal format holds one attribute or one intermediate
value per record, so this writes exactly the records ``set_trial_user_attr`` and
``set_trial_intermediate_value`` would. Other storages get one call per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


def set_user_attrs(
    storage: BaseStorage,
    trial_id: int,
    attrs: dict[str, Any],
    intermediate: Sequence[tuple[int, float]] = (),
) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    if isinstance(storage, JournalStorage) and hasattr(storage, "_replay_result"):
        with storage._thread_lock:
            worker = storage._replay_result.worker_id
            head = {"worker_id": worker, "trial_id": trial_id}
            op_value = int(JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE)
            op_attr = int(JournalOperation.SET_TRIAL_USER_ATTR)
            logs = [
                {"op_code": op_value, **head, "step": step, "intermediate_value": value}
                for step, value in intermediate
            ]
            logs += [{"op_code": op_attr, **head, "user_attr": {k: v}} for k, v in attrs.items()]
            if logs:
                storage._backend.append_logs(logs)
                storage._sync_with_backend()
        return
    for step, value in intermediate:
        storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
