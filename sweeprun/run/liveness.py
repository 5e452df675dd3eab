"""Keep running trials visibly alive, so that other agents can tell a dead agent's trials.

* RDB storages (PostgreSQL, MySQL, SQLite): Optuna's heartbeat — ``record_heartbeat`` for each
  running trial at launch and every ``trial.heartbeat`` seconds; any agent fails and re-queues
  the trials Optuna's heartbeat table shows stale (the same query ``fail_stale_trials`` uses).
* Journal file, Redis and gRPC storages: a lease — the attribute ``sweeprun.lease`` holds the
  wall-clock time until which the trial is known alive, renewed every ``trial.heartbeat``
  seconds to ``now + trial.lease_grace``; any agent fails and re-queues trials whose lease ran
  out (see :mod:`sweeprun.run.recovery`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from optuna.exceptions import UpdateFinishedTrialError

from sweeprun.config.limits import MAX_TRIAL_SECONDS, MIN_HEARTBEAT
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.optuna_adapter import HeartbeatStorage, rdb_of, storage_of

if TYPE_CHECKING:
    import optuna

LEASE_ATTR = "sweeprun.lease"


def clamp(seconds: float, low: float = MIN_HEARTBEAT, high: float = MAX_TRIAL_SECONDS) -> float:
    """``seconds`` within ``[low, high]`` (NaN: ``high``): the config bounds these already, but
    a value past them (a config stored by an older release) must not kill the liveness thread
    (``Event.wait`` overflows) or Optuna's heartbeat (a ``timedelta``)."""
    if low <= seconds <= high:
        return seconds
    return low if seconds < low else high


def enable_rdb_heartbeat(
    study: optuna.Study, interval: float, grace: float
) -> HeartbeatStorage | None:
    """Turn Optuna's heartbeat on for an RDB storage and return where heartbeat calls go (see
    :func:`heartbeat_target`); None for other storages.

    Stale trials are then found with the storage's own query and failed by
    :func:`sweeprun.run.recovery.recover_orphans`, which records the reason before failing them
    (Optuna's ``fail_stale_trials`` fails first, after which no attribute can be written)."""
    backend = rdb_of(storage_of(study))
    if backend is None:
        return None
    backend.heartbeat_interval = max(1, round(clamp(interval)))
    backend.grace_period = max(int(clamp(grace)), backend.heartbeat_interval + 1)
    return heartbeat_target(study)


def heartbeat_target(study: optuna.Study) -> HeartbeatStorage | None:
    """Where heartbeat calls go: the study's own storage when it speaks the heartbeat protocol
    (so the outage-retrying wrapper covers them), else the RDB storage itself; None when the
    storage is not an RDB storage."""
    backend = rdb_of(storage_of(study))
    if backend is None:
        return None
    outer = storage_of(study)
    return outer if isinstance(outer, HeartbeatStorage) else backend


class Keeper(threading.Thread):
    """Renews heartbeats (RDB) or leases (other storages) of this agent's running trials."""

    def __init__(
        self,
        study: optuna.Study,
        running_ids: Callable[[], list[int]],
        interval: float,
        grace: float,
    ) -> None:
        super().__init__(name="sweeprun-liveness", daemon=True)
        self.study = study
        self.running_ids = running_ids
        self.interval = clamp(interval)
        self.grace = clamp(grace, 0.0)
        self.rdb = heartbeat_target(study)
        self._stop_event = threading.Event()
        self.errors = 0
        #: trials the storage refused to renew: finished meanwhile (here, or reaped by another
        #: agent while this process was frozen); never renewed again
        self.refused: set[int] = set()

    def beat(self) -> None:
        ids = self.running_ids()
        writer = trial_writer(storage_of(self.study))
        for tid in ids:
            if tid in self.refused:
                continue
            try:
                if self.rdb is not None:
                    self.rdb.record_heartbeat(tid)  # refused when finished (batching)
                else:
                    writer.write_records(tid, {LEASE_ATTR: time.time() + self.grace})
            except UpdateFinishedTrialError:
                self.refused.add(tid)
            except Exception:  # the storage blinked (or a storage's own refusal)
                self.errors += 1

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop_event.set()
