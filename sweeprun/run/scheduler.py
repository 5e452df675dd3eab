"""The scheduling loop: ask → prepare → launch → report / should_prune → tell, over N slots.

All storage calls happen on the main thread (but the lease renewals of ``liveness``). The
launcher's threads of each child parse metric lines and put small batches of events on one
queue; the main thread drains it. A free slot is refilled at once (no batch waiting).
Stopping (signals, ``sweeprun stop``, the deadline, draining) is its part
:class:`~sweeprun.run.shutdown.Shutdown`;
the per-trial records in :mod:`sweeprun.run.trial`.
"""

from __future__ import annotations

import math
import queue
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.exceptions import UpdateFinishedTrialError

from sweeprun.metrics.grammar import MetricEvent
from sweeprun.metrics.parser import MetricParser
from sweeprun.metrics.summary import Summary
from sweeprun.run import budget as budget_mod
from sweeprun.run.budget import reaches
from sweeprun.run.gpus import GpuPool
from sweeprun.run.liveness import Keeper, enable_rdb_heartbeat
from sweeprun.run.process.child import Child, ChildOutcome
from sweeprun.run.process.lines import LOG_ERROR
from sweeprun.run.recovery import owner_tag, recover_orphans
from sweeprun.run.request import TrialPlan
from sweeprun.run.requeue import requeue_once, withdraw_duplicates
from sweeprun.run.shutdown import Shutdown
from sweeprun.run.trial import (
    LOST,
    Running,
    RunResult,
    child_callbacks,
    end_attrs,
    exited,
    launch_attrs,
    sampler_info,
    take_token,
    tell,
)
from sweeprun.run.verdict import (
    COMPLETE,
    FAIL,
    INTERRUPTED,
    PRUNED,
    Verdict,
    classify,
)
from sweeprun.space.distributions import SearchSpace
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.optuna_adapter import storage_of, study_id_of, trial_id_of

if TYPE_CHECKING:
    import optuna

    from sweeprun.run.display import Display
    from sweeprun.sweep import Sweep


FLUSH_EVERY = 200  # without a pruner, intermediate values are written in batches of this many
FLUSH_AFTER = 1.0  # ... or when the oldest unwritten one is this old (seconds)


class Controller:
    def __init__(
        self,
        sweep: Sweep,
        display: Display,
        *,
        jobs: int = 1,
        cap: int | None = None,
        count: int | None = None,
        time_budget: float | None = None,
        gpus: list[str] | None = None,
        root: Path,
        extra_args: list[str] | None = None,
        extra_env: dict[str, str] | None = None,
        trial_timeout: float | None = None,
    ) -> None:
        self.sweep = sweep
        self.study = sweep.study
        #: the study's storage, which batches a trial's records (sweeprun.storage.batching)
        self.writer = trial_writer(storage_of(self.study))
        self.cfg = sweep.config
        self.display = display
        self.jobs = max(1, jobs)
        self.count = count
        #: --max-trials: how many trials this command runs ("more", not a total: on a resume the
        #: earlier starts' trials do not use it up); the file's run_cap / budget.trials are totals
        self.more = cap
        self.plan = TrialPlan.build(
            self.cfg,
            sweep=sweep.name,
            root=root,
            extra_env=extra_env,
            extra_args=extra_args,
            timeout=trial_timeout,
        )
        self.space = SearchSpace.from_params(self.cfg.parameters)
        self.metrics = list(self.cfg.metrics or ([self.cfg.metric] if self.cfg.metric else []))
        self.objective = self.metrics[0] if len(self.metrics) == 1 else None
        self.multi = len(self.metrics) > 1
        import optuna

        self.prunes = not isinstance(self.study.pruner, optuna.pruners.NopPruner)
        self.budget = budget_mod.Budget(self.study, self.cfg, cap=None, space=self.space)
        now = time.monotonic()
        self.deadline = None if time_budget is None else now + time_budget
        hard = self.cfg.budget.deadline
        self.gpus = GpuPool(gpus or [], self.cfg.resources.gpus_per_trial)
        self.events: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        self.running: dict[int, Running] = {}
        self.result = RunResult()
        self.owner = owner_tag()
        self.shutdown = Shutdown(
            running=self.running,
            result=self.result,
            display=display,
            budget=self.budget,
            events=self.events,
            on_exit=self._on_exit,
            hard_deadline=None if hard is None else now + hard,
            kill_grace=self.cfg.trial.kill_grace,
        )
        self.consecutive_failures = 0
        self._waiting_gpu_noted = False
        self._waiting_note = False
        self._rdb: Any | None = None
        self._next_reap = 0.0
        self._trial_info = sampler_info(self.cfg, self.study)
        #: called with each trial id once its result is told (MLflow tracking)
        self.on_finished: list[Callable[[int], None]] = []

    # ---- main loop ---------------------------------------------------------------------
    def run(self) -> RunResult:
        trial_cfg = self.cfg.trial
        # we record heartbeats ourselves under ask-and-tell (see liveness.py)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        self._rdb = enable_rdb_heartbeat(self.study, trial_cfg.heartbeat, trial_cfg.lease_grace)
        keeper = Keeper(
            self.study,
            lambda: [trial_id_of(r.trial) for r in list(self.running.values())],
            trial_cfg.heartbeat,
            trial_cfg.lease_grace,
        )
        keeper.start()
        old = self.shutdown.install_signals()
        try:
            self._reap()
            while True:
                self._fill_slots()
                if not self.running:
                    if self._wait_for_others():
                        continue
                    break
                self._wait()
                self.shutdown.check_deadline()
                self.budget.maybe_refresh()
                self.shutdown.check_stop()
        except BaseException:
            self.shutdown.stop_all(INTERRUPTED)
            self.shutdown.drain_exits(timeout=30)
            raise
        finally:
            keeper.stop()
            self.shutdown.restore_signals(old)
        return self.result

    def _wait_for_others(self) -> bool:
        """With nothing running here and the budget taken by other agents' running trials,
        wait (reaping) until they finish: if one fails or its agent dies, this agent runs the
        replacement. False when there is nothing to wait for."""
        if self.shutdown.draining or self.result.policy_failure or self.result.stopped:
            return False
        if self.count is not None and self.result.launched >= self.count:
            return False
        if self.more is not None and self.mine() >= self.more:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if not self.budget.others_in_flight(0):
            return False
        if not self._waiting_note:
            self.display.note("budget taken by other agents' running trials; waiting for them")
            self._waiting_note = True
        self._wait()  # sleeps up to 0.2 s on the (empty) event queue, handles signals
        self._next_reap = min(self._next_reap, time.monotonic() + 1.0)
        self._reap()
        self.result.stop_note = None
        return True

    def _reap(self) -> None:
        """Fail and re-queue trials of dead agents (at start, then every heartbeat)."""
        now = time.monotonic()
        if now < self._next_reap:
            return
        self._next_reap = now + self.cfg.trial.heartbeat
        n = recover_orphans(self.study, self.space, self.cfg.trial.lease_grace, rdb=self._rdb)
        if n:
            self.budget.refresh()
            self.display.note(f"recovered {n} orphaned trial(s); their parameters run again")

    def _can_launch(self) -> bool:
        if self.shutdown.draining or self.result.policy_failure:
            return False
        if self.count is not None and self.result.launched >= self.count:
            return False
        if self.more is not None and (mine := self.mine()) >= self.more:
            self.shutdown.stop_launching(
                f"--max-trials {self.more} reached ({mine} launched by this command)"
            )
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.shutdown.stop_launching("time budget reached")
            return False
        self._reap()
        reason = self.budget.exhausted(len(self.running))
        if self.shutdown.check_stop():
            return False
        if reason:
            self.shutdown.stop_launching(reason)
            return False
        return True

    def mine(self) -> int:
        """The trials this command ran or runs that count (as the budget counts: a retried
        attempt, an interrupted or lost trial does not, its parameters run again)."""
        r = self.result
        return r.complete + r.pruned + r.failed + len(self.running)

    def _fill_slots(self) -> None:
        while len(self.running) < self.jobs and self._can_launch():
            gpus = self.gpus.acquire()
            if gpus is None:
                if not self._waiting_gpu_noted:
                    self.display.note("a trial is waiting for a free GPU")
                    self._waiting_gpu_noted = True
                return
            self._waiting_gpu_noted = False
            self._launch(gpus)

    def _launch(self, gpus: list[str]) -> None:
        if self.budget.exact and self.budget.waiting == 0:  # counted for this launch
            self.writer.expect_no_waiting(study_id_of(self.study))  # ask skips its look
        with self.writer.asking():  # the parameters wait for the launch attributes
            trial = self.study.ask(self.space.distributions())
        if not self.budget.admit(trial):  # other agents took the last places first
            self._refuse(trial, gpus, "trial budget reached")
            self.budget.refresh()
            return
        attrs = trial.user_attrs
        grid_index = attrs.get("sweeprun.grid_index")
        if self.budget.grid and grid_index is None and not attrs.get("sweeprun.baseline"):
            # another agent took the last waiting point between our count and our ask
            self._refuse(trial, gpus, "no grid point left")
            self.budget.waiting = 0
            return
        values = self.space.to_values(trial.params)
        number = trial.number
        attempt = int(attrs.get("sweeprun.attempt", 1))
        try:
            cuda = ",".join(gpus) if self.gpus.enabled else None
            prepared = self.plan.prepare(number, values, cuda_devices=cuda)
        except OSError as exc:  # the trial directory's disk, not the storage nor the program
            params = self.space.from_values(values)
            requeue_once(self.study, params, attrs, retry_of=number, attempt=attempt)
            self._refuse(trial, gpus, f"{LOG_ERROR}: {exc.filename}: {exc.strerror or exc}")
            self._files_failed(f"{LOG_ERROR}: {exc.filename}: {exc.strerror or exc}")
            return
        except BaseException as exc:  # recorded, with its parameters, then raised
            self._refuse(trial, gpus, f"not launched: {type(exc).__name__}: {exc}"[:500])
            raise
        req = prepared.request
        summary = Summary()
        parser = MetricParser(
            [m.name for m in self.metrics], self.cfg.report.format, self.cfg.report.pattern
        )
        keep = self.objective.name if self.objective else None  # the parser fills the summary
        on_lines, on_exit = child_callbacks(
            parser, self.events.put, number, summary, keep, streams=self.cfg.report.streams
        )
        trial_id = trial_id_of(trial)
        # the owner and the launch marker are recorded before the spawn, the pid rides the
        # trial's next write: a controller killed at any step leaves a trial whose leftovers
        # the next start finds (this host's owner is dead, its processes carry the marker)
        attrs = launch_attrs(
            owner=self.owner,
            values=values,
            argv=list(req.argv),
            log_dir=str(prepared.trial_dir),
            sampler=self._trial_info,
            lease=time.time() + self.cfg.trial.lease_grace,
            pid=None,
            launch=prepared.launch,
        )
        try:  # alive from the start, not only after the first interval (RDB: Optuna's heartbeat)
            self.writer.write_records(trial_id, attrs, heartbeat=self._rdb is not None)
        except UpdateFinishedTrialError as exc:  # reaped while this agent was frozen since ask
            self._not_launched(number, gpus, exc)
            return
        child = Child.start(req, on_lines, on_exit)
        if child.pid is not None:
            self.writer.write_records(trial_id, {"sweeprun.pid": child.pid}, hold=True)
        used = {r.slot for r in self.running.values()}
        slot = next(i for i in range(len(used) + 1) if i not in used)  # the lowest free slot
        self.running[number] = Running(
            trial, number, values, child, summary, gpus, attempt, grid_index, slot
        )
        self.result.launched += 1
        self.budget.launched(grid_index)
        self.display.launched(number, values, list(req.argv), gpus, slot)

    def _not_launched(self, number: int, gpus: list[str], exc: Exception) -> None:
        """The launch record was refused: another agent failed the trial while this one was
        paused since it asked, and queued its parameters again; nothing was started here."""
        self.gpus.release(gpus)
        self.display.note(
            f"trial {number}: not launched: {exc} (another agent failed the trial while this "
            "agent was paused, and runs its parameters again)"
        )
        self.budget.refresh()

    def _refuse(self, trial: optuna.Trial, gpus: list[str], reason: str) -> None:
        """Fail a trial that was asked for but may not run (or could not be prepared); it
        does not count."""
        import optuna

        self.gpus.release(gpus)
        attrs = {"sweeprun.counted": False, "sweeprun.reason": reason}
        self.writer.write_records(trial_id_of(trial), attrs)
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _wait(self) -> None:
        try:
            item = self.events.get(timeout=0.2)
        except queue.Empty:
            item = None
        batch = [] if item is None else [item]
        while True:
            try:
                batch.append(self.events.get_nowait())
            except queue.Empty:
                break
        self.shutdown.handle_signals()
        for kind, number, payload in batch:
            run = self.running.get(number)
            if run is None:
                continue
            if kind == "m":
                self._on_metrics(run, payload)
            elif kind == "n":  # a note about the trial's metric lines
                self.display.note(f"trial {number}: {payload}")
            else:
                self._on_exit(run, payload)
        now = time.monotonic()
        for run in list(self.running.values()):
            if run.pending is not None and take_token(run):
                self._report(run, *run.pending)
            if run.buffer and now - run.buffered_at >= FLUSH_AFTER:
                self._flush(run)
        self.display.tick(self.running, self.result)

    # ---- metrics and pruning ------------------------------------------------------------
    def _on_metrics(self, run: Running, events: list[MetricEvent]) -> None:
        summary = run.summary
        obj = self.objective
        latest: tuple[float, int] | None = None
        for ev in events:
            if obj is None or ev.name != obj.name or not math.isfinite(ev.value):
                continue
            step = ev.step
            if step is None:
                stats = summary.get(obj.name)
                step = len(stats.history) - 1 if stats else 0
            latest = (ev.value, step)
            if self.multi or run.stop_reason:
                continue
            if take_token(run):
                self._report(run, ev.value, step)
            else:
                run.pending = latest
        if latest is not None and obj is not None:
            self.display.metric(run.number, obj.name, latest[0], latest[1])

    def _report(self, run: Running, value: float, step: int) -> None:
        run.pending = None
        if step < 0 or step in run.reported_steps:
            return
        run.reported_steps.add(step)
        if not self.prunes:  # nothing reads it now: write in batches (one fsync per batch)
            if not run.buffer:
                run.buffered_at = time.monotonic()
            run.buffer.append((step, value))
            if len(run.buffer) >= FLUSH_EVERY:
                self._flush(run)
            return
        if run.lost is not None:
            return
        try:
            run.trial.report(value, step)
            prune = run.stop_reason is None and run.late_prune is None and run.trial.should_prune()
        except UpdateFinishedTrialError as exc:
            self._lose(run, exc)
            return
        if not prune:
            return
        if exited(run.child):  # ran to its end: the decision changes nothing (see verdict.py)
            run.late_prune = step
            return
        run.stop_reason = "pruned"
        run.child.stop("pruned")
        self.display.note(f"trial {run.number} pruned at step {step}")

    def _flush(self, run: Running, attrs: dict[str, Any] | None = None, hold: bool = False) -> None:
        buffered, run.buffer = run.buffer, []
        if run.lost is not None:  # finished by another agent: its records would be refused
            return
        try:
            self.writer.write_records(trial_id_of(run.trial), attrs or {}, buffered, hold=hold)
        except UpdateFinishedTrialError as exc:
            self._lose(run, exc)

    def _lose(self, run: Running, exc: Exception) -> None:
        """The storage refused a write: another agent failed the trial (its agent looked dead:
        frozen, paused or cut off longer than ``trial.lease_grace``) and queued its parameters
        again. Nothing more is written for it, its program is stopped (its re-run is the one
        that counts) and :meth:`_on_exit` notes it once."""
        run.lost = str(exc)
        self.writer.discard(trial_id_of(run.trial))
        run.child.stop(LOST)

    # ---- finishing ----------------------------------------------------------------------
    def _on_exit(self, run: Running, outcome: ChildOutcome) -> None:
        del self.running[run.number]
        self.gpus.release(run.gpus)
        if run.pending is not None:
            self._report(run, *run.pending)
        verdict = classify(outcome, run.summary, self.metrics)
        retry = self._should_retry(run, verdict)
        counted = not (verdict.requeue or retry)
        if not counted and not run.lost:
            # the copy before the end (see run/requeue.py): killed between the two, the trial
            # stays RUNNING with its copy queued, and its reaper queues no other
            # a retry is the next attempt; an interrupted or stopped trial runs its own again
            attempt = run.attempt + (0 if verdict.requeue else 1)
            params = self.space.from_values(run.values)
            requeue_once(
                self.study, params, run.trial.user_attrs, retry_of=run.number, attempt=attempt
            )
        # the end attributes go out with the state (one append, or one transaction)
        self._flush(run, end_attrs(outcome, verdict, counted), hold=True)
        error = run.lost or tell(self.study, run.trial, verdict)
        if error:
            if not counted and not run.lost:
                withdraw_duplicates(self.study, run.trial)
            self._late(run, verdict, error)
            return
        for hook in self.on_finished:
            hook(trial_id_of(run.trial))
        self.budget.finished(run.grid_index, counted, verdict.state)
        self._account(verdict, counted)
        self.display.finished(run.number, verdict, outcome, run.values)

    def _late(self, run: Running, verdict: Verdict, error: str) -> None:
        """The trial's result was refused (another agent reaped it and queued its parameters
        again): one note; it is counted nowhere — not in the storage, the budget, this run's
        figures nor the failure policy — and neither retried nor re-queued here."""
        self.writer.discard(trial_id_of(run.trial))
        self.display.note(
            f"trial {run.number}: could not record result: {error} "
            f"(its {verdict.state} result is not counted: another agent failed the trial "
            "and runs its parameters again)"
        )
        self.result.lost += 1
        self.budget.finished(run.grid_index, False, verdict.state)
        self.budget.refresh()  # where its re-run is now: waiting, running or done

    def _should_retry(self, run: Running, verdict: Verdict) -> bool:
        if verdict.state != FAIL or verdict.requeue or self.shutdown.draining:
            return False
        return run.attempt <= self.cfg.trial.retries

    def _files_failed(self, reason: str) -> None:
        """A trial's log or files could not be written: launch no more (their disk is full or
        read-only); what is recorded stays, and the trial's parameters run again on resume."""
        if self.result.policy_failure is None:
            self.result.policy_failure = (
                f"{reason}; stopped launching: free the disk (or set SWEEPRUN_DIR), then run "
                "the same command again"
            )
            self.display.note(self.result.policy_failure)

    def _account(self, verdict: Verdict, counted: bool) -> None:
        if (verdict.reason or "").startswith(LOG_ERROR):
            self._files_failed(verdict.reason or "")
        if verdict.state == COMPLETE:
            self.result.complete += 1
            self.consecutive_failures = 0
        elif verdict.state == PRUNED:
            self.result.pruned += 1
            self.consecutive_failures = 0
        elif counted:
            self.result.failed += 1
            self.consecutive_failures += 1
            limit = self.cfg.failures.max_consecutive
            if limit and self.consecutive_failures >= limit and not self.result.policy_failure:
                self.result.policy_failure = (
                    f"{self.consecutive_failures} consecutive trials failed "
                    f"(failures.max_consecutive = {limit}); stopped launching"
                )
                self.display.note(self.result.policy_failure)
        if verdict.state == COMPLETE and self.objective and self.objective.target is not None:
            assert verdict.values is not None
            t = self.objective.target
            if reaches(verdict.values[0], t, self.objective.goal):
                self.shutdown.stop_launching(f"metric.target {t} reached")
                self.shutdown.draining = True
