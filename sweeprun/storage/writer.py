"""Write a trial's batch of records at once: the sinks of the batching decorator.

:func:`sink_for` picks one for a storage:

* :class:`JournalSink` (journal file, Redis): one append — one lock and one fsync on the file —
  holding exactly the records ``set_trial_param``, ``set_trial_intermediate_value`` and
  ``set_trial_user_attr`` would append one each. Optuna's replay makes its checks on them (a
  finished trial's records are refused, and skipped; a parameter whose distribution disagrees
  with the study's raises). On the journal file the records held for the state write ride on
  the append of the state record itself (:meth:`SafeJournalFileBackend.hold`); on Redis they
  go out in one append before it.
* :class:`sweeprun.storage.writer_rdb.RdbSink` (PostgreSQL, MySQL, SQLite): one transaction.
* :class:`PlainSink` (anything else, e.g. the gRPC proxy): one call per record.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.distributions import BaseDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage
from optuna.trial import TrialState

from sweeprun.storage.batch import Batch, Sink
from sweeprun.storage.journal import SafeJournalFileBackend
from sweeprun.storage.optuna_adapter import (
    journal_append,
    journal_backend,
    journal_records,
    journal_sync,
    rdb_of,
)


def sink_for(storage: BaseStorage) -> Sink:
    """The sink that writes batches to ``storage`` (an Optuna storage, maybe Optuna's cache)."""
    rdb = rdb_of(storage)
    if rdb is not None:
        from sweeprun.storage.writer_rdb import RdbSink  # lazy: SQLAlchemy, for RDB storages only

        return RdbSink(rdb, storage)
    if isinstance(storage, JournalStorage):
        return JournalSink(storage)
    return PlainSink(storage)


class PlainSink:
    """One storage call per record; parameters are written at once."""

    holds_params = False

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage

    def check_param(self, trial_id: int, name: str, dist: BaseDistribution) -> bool:
        return False

    def write(self, trial_id: int, batch: Batch, heartbeat: bool, strict: bool = True) -> None:
        for p in batch.params:
            self.storage.set_trial_param(trial_id, p.name, p.value, p.distribution)
        for step, value in batch.intermediate:
            self.storage.set_trial_intermediate_value(trial_id, step, value)
        for key, value in batch.attrs.items():
            self.storage.set_trial_user_attr(trial_id, key, value)

    def finish(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None, batch: Batch
    ) -> bool:
        self.write(trial_id, batch, False)
        return self.storage.set_trial_state_values(trial_id, state, values)


class JournalSink:
    """One journal append per batch; on the journal file, the state's append carries it."""

    holds_params = True

    def __init__(self, journal: JournalStorage) -> None:
        self.journal = journal
        backend = journal_backend(journal)
        self.file = backend if isinstance(backend, SafeJournalFileBackend) else None

    def check_param(self, trial_id: int, name: str, dist: BaseDistribution) -> bool:
        return False  # checked by the replay of the append

    def _records(self, trial_id: int, batch: Batch) -> list[dict[str, object]]:
        params = [(p.name, p.value, p.distribution) for p in batch.params]
        return journal_records(self.journal, trial_id, params, batch.attrs, batch.intermediate)

    def write(self, trial_id: int, batch: Batch, heartbeat: bool, strict: bool = True) -> None:
        """One append; Optuna's replay refuses the records of a finished trial. ``strict``:
        raise any refusal the replay met; else only when this trial is finished (reaped by
        another agent while this process was frozen), not for another trial's record (a
        lease renewal racing its trial's end)."""
        try:
            journal_append(self.journal, self._records(trial_id, batch), strict=True)
        except UpdateFinishedTrialError:
            if strict:
                raise
            number = self._finished(trial_id)
            if number is not None:
                raise UpdateFinishedTrialError(
                    f"Trial#{number} has already finished and can not be updated."
                ) from None

    def _finished(self, trial_id: int) -> int | None:
        """The trial's number when the replayed journal shows it finished."""
        try:
            trial = self.journal.get_trial(trial_id)
        except UpdateFinishedTrialError:  # another refused record met by the replay
            journal_sync(self.journal)
            trial = self.journal.get_trial(trial_id)
        return trial.number if trial.state.is_finished() else None

    def finish(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None, batch: Batch
    ) -> bool:
        if self.file is None:
            self.write(trial_id, batch, False)
            return self.journal.set_trial_state_values(trial_id, state, values)
        self.file.hold(self._records(trial_id, batch))  # (dicts of JSON values)
        try:
            return self.journal.set_trial_state_values(trial_id, state, values)
        except UpdateFinishedTrialError:
            # finished by another agent: Optuna's replay refused our first record; the rest
            # of the append (the state too) is refused as it is replayed
            journal_sync(self.journal)
            raise
        finally:
            self.file.drop_held()  # written with the state's append, or refused before it
