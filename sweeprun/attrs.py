"""Write several ``sweeprun.*`` trial attributes at once.

On the journal storages (file and Redis) the attributes go out as one append — one lock and
one fsync instead of one per key; Optuna's journal format holds one attribute per record, so
this writes exactly the records ``set_trial_user_attr`` would. Other storages get one call per
key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


def set_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    if isinstance(storage, JournalStorage) and hasattr(storage, "_replay_result"):
        with storage._thread_lock:
            worker = storage._replay_result.worker_id
            op = int(JournalOperation.SET_TRIAL_USER_ATTR)
            storage._backend.append_logs(
                [
                    {"op_code": op, "worker_id": worker, "trial_id": trial_id, "user_attr": {k: v}}
                    for k, v in attrs.items()
                ]
            )
            storage._sync_with_backend()
        return
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
