"""The chaos soak's machinery: a sweep of misbehaving trial programs
(tests/programs/chaos_trial.py), the fleet of ``sweeprun start``/``agent`` processes running it,
the faults a driver injects into them, and the invariants checked at the end.

Two drivers:

- ``run_soak``: several agents on one sweep; at random moments one is killed (``kill -9``, a
  new one started at once) or frozen (SIGSTOP for longer than ``trial.lease_grace``, so other
  agents reap its trials, then SIGCONT: its late results must not count);
- ``run_controller_soak``: one ``sweeprun start --jobs N`` controller, killed (``kill -9``) or
  stopped (SIGTERM, SIGHUP, Ctrl-C twice) at random moments (during its start-up, in a
  launch, while trials run or end) and started again with the same command each time, which
  resumes the sweep.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import optuna

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS, SWEEPRUN
from tests.helpers.processes import kill_sweep_processes, other_host_prefix, signal_pending
from tests.helpers.studies import counted, open_study, study_exists, trials_of
from tests.helpers.wait import wait_until

CHAOS_TRIAL = PROGRAMS / "chaos_trial.py"
LEASE_GRACE = 4.0
TRIAL_SETTINGS = (
    f"trial: {{timeout: 2s, kill_grace: 0.5s, heartbeat: 1s, lease_grace: {LEASE_GRACE:g}s}}\n"
)


def chaos_sweep(tmp: Path, name: str, cap: int, seed: int, extra: str = "") -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nprogram: {CHAOS_TRIAL}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: {cap}\nseed: {seed}\nfailures: {{max_consecutive: 0}}\n{TRIAL_SETTINGS}"
        f"parameters:\n  x: {{min: 0.0, max: 1.0}}\n  seed: {{value: {seed}}}\n{extra}"
    )
    return path


@dataclass
class SoakStats:
    trials: int = 0
    counted: int = 0
    kills: int = 0
    #: controllers stopped by SIGTERM, SIGHUP or a double Ctrl-C
    stops: int = 0
    freezes: int = 0
    agents_started: int = 0
    over: int = 0
    #: trials of frozen agents that other agents failed (reaped) while they were frozen
    reaped_while_frozen: int = 0
    #: processes of the sweep still alive once every agent has ended (escaped helpers included)
    left: int = 0
    problems: list[str] = field(default_factory=list)
    states: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)


class Fleet:
    """The agent processes of one sweep, their output in files."""

    def __init__(self, tmp: Path, url: str, name: str) -> None:
        self.tmp, self.url, self.name = tmp, url, name
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.frozen: set[int] = set()
        #: agents that run as another machine (their own hostname)
        self.remote: set[int] = set()

    def spawn(self, *args: str, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        out = self.tmp / f"agent-{n}.out"
        err = self.tmp / f"agent-{n}.err"
        argv = [*(prefix or []), SWEEPRUN, *args, "--storage", self.url]
        with open(out, "wb") as o, open(err, "wb") as e:
            p = subprocess.Popen(argv, cwd=self.tmp, stdout=o, stderr=e)
        self.procs.append(p)
        self.logs += [out, err]
        if prefix:
            self.remote.add(p.pid)
        return p

    def agent(self, jobs: int = 2, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
        return self.spawn("agent", self.name, "--jobs", str(jobs), prefix=prefix)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def kill_all(self) -> None:
        for p in self.alive():
            if p.pid in self.frozen:
                p.send_signal(signal.SIGCONT)
            p.kill()
            p.wait()

    def tracebacks(self) -> list[str]:
        bad = []
        for log in self.logs:
            text = log.read_text(errors="replace")
            if "Traceback" in text or "internal error" in text:
                bad.append(f"{log.name}:\n{text[-3000:]}")
        return bad


def run_soak(
    tmp: Path,
    url: str,
    name: str,
    *,
    cap: int,
    agents: int,
    seed: int,
    min_kills: int,
    min_freezes: int = 0,
    pace: float = 0.0,
) -> SoakStats:
    """Run a chaos sweep to its end while kill -9ing (and, with ``min_freezes``, freezing)
    random agents; check every invariant. One agent runs as another machine (its own
    hostname); a frozen agent is that one or one of this host's (judged hung by its lease, its
    trials reaped and their programs stopped); killed agents are this host's (whose next agent
    stops what their trials left running). ``pace`` (seconds added to every epoch of a trial)
    keeps the other agents busy for longer than a freeze's ``lease_grace``.

    Every violated invariant is collected in ``stats.problems`` (and the figures printed) before
    the test asserts that there are none."""
    rng = random.Random(seed)
    stats = SoakStats()
    sweep = chaos_sweep(tmp, name, cap, seed, f"  pace: {{value: {pace}}}\n" if pace else "")
    fleet = Fleet(tmp, url, name)
    try:
        fleet.spawn("start", str(sweep), "--jobs", "2")
        wait_until(lambda: study_exists(url, name), 60, "the sweep is created")
        for i in range(agents - 1):
            is_remote = min_freezes > 0 and i == 0
            fleet.agent(prefix=other_host_prefix(f"chaos-node-{seed}") if is_remote else None)
        stats.agents_started = agents
        study = open_study(url, name)
        # a fault at random points of the sweep: the points are trial counts spread over the
        # first 70% of the budget (so the minimum number of faults happens however fast the
        # machine is), reached by waiting on the storage, then a random moment within the
        # running trials
        faults = min_kills + min_freezes
        spread = max(2, int(cap * 0.7 / faults))
        next_at = rng.randint(1, spread)
        while True:
            target = next_at

            def reached(at: int = target) -> bool:
                return counted(study.get_trials(deepcopy=False)) >= at or not fleet.alive()

            wait_until(reached, 300, f"{target} trials counted", interval=0.1)
            live = fleet.alive()
            if not live:
                break
            time.sleep(rng.uniform(0.0, 0.5))  # pacing: a random moment, not synchronisation
            local = [p for p in live if p.pid not in fleet.remote]
            # kills and freezes interleaved in proportion, so both minimums are reached
            freeze = stats.freezes < min_freezes and (
                stats.kills >= min_kills or stats.freezes * min_kills < stats.kills * min_freezes
            )
            if (freeze or not local) and len(live) > 1:
                # another machine's agent, or one of this host's (hung: reaped by its lease)
                stats.freezes += _freeze(fleet, rng.choice(live), stats)
            elif not local:
                break
            else:
                victim = rng.choice(local)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                stats.kills += 1
                fleet.agent()
                stats.agents_started += 1
            done = counted(study.get_trials(deepcopy=False))
            if done >= cap * 0.8 and stats.kills >= min_kills and stats.freezes >= min_freezes:
                break
            next_at = done + rng.randint(2, spread)
        _finish(fleet, stats, tmp, url, name, ["agent", name, "--jobs", "2"])
        check_invariants(url, name, cap, stats)
    finally:
        fleet.kill_all()
        _leftovers(stats, name)
    return stats


def _running_of(url: str, name: str, pid: int) -> set[int]:
    """The numbers of the RUNNING trials the agent with ``pid`` owns."""
    return {
        t.number
        for t in trials_of(url, name)
        if t.state.name == "RUNNING"
        and (t.user_attrs.get("sweeprun.owner") or {}).get("pid") == pid
    }


def _freeze(fleet: Fleet, victim: subprocess.Popen[bytes], stats: SoakStats) -> bool:
    """SIGSTOP an agent that runs trials until another agent has reaped them (past
    ``trial.lease_grace``), or for at most 30 s (a victim frozen inside a storage lock blocks the
    reaper too), then SIGCONT it: its late results must be refused. False when the victim ran
    no trial (nothing frozen)."""
    try:
        owned = wait_until(lambda: _running_of(fleet.url, fleet.name, victim.pid), 10, "a trial")
    except AssertionError:
        return False
    victim.send_signal(signal.SIGSTOP)
    fleet.frozen.add(victim.pid)
    try:

        def reaped() -> bool:
            states = {t.number: t.state.name for t in trials_of(fleet.url, fleet.name)}
            others = [p for p in fleet.alive() if p is not victim]
            return all(states.get(n) != "RUNNING" for n in owned) or not others

        with contextlib.suppress(AssertionError):
            wait_until(reaped, LEASE_GRACE + 30, "the frozen agent's trials reaped", 0.2)
            stats.reaped_while_frozen += sum(
                t.number in owned and t.state.name == "FAIL"
                for t in trials_of(fleet.url, fleet.name)
            )
    finally:
        victim.send_signal(signal.SIGCONT)
        fleet.frozen.discard(victim.pid)
    return True


def run_controller_soak(
    tmp: Path, url: str, name: str, *, cap: int, jobs: int, seed: int, kills: int
) -> SoakStats:
    """``sweeprun start sweep.yaml --jobs N``, kill -9ed ``kills`` times at random moments (and
    stopped by SIGTERM, SIGHUP or a double Ctrl-C about as often in between), and started again
    at once with the same command each time; then it runs to the end, and one more start
    (a clean resume of a finished sweep) must find nothing to do. Every invariant is checked,
    and no process of the sweep (trial programs, their grandchildren, helpers that escaped
    into their own session) may be left."""
    rng = random.Random(seed)
    stats = SoakStats()
    sweep = chaos_sweep(tmp, name, cap, seed)
    fleet = Fleet(tmp, url, name)
    command = ["start", str(sweep), "--jobs", str(jobs)]

    def done() -> int:
        return counted(trials_of(url, name)) if study_exists(url, name) else 0

    try:
        proc = fleet.spawn(*command)
        stats.agents_started = 1
        while stats.kills < kills:  # the stops come on top
            # a random moment: after 0–1 more trials have been counted, plus up to 0.8 s (with 0
            # trials, anywhere from the controller's start-up on); a kill every ~1 trial leaves
            # the sweep progressing however fast the machine is
            target = done() + rng.randint(0, 1)

            def reached(at: int = target, p: subprocess.Popen[bytes] = proc) -> bool:
                return done() >= at or p.poll() is not None

            wait_until(reached, 300, f"{target} trials counted", interval=0.05)
            time.sleep(rng.uniform(0.0, 0.8))  # pacing: a random moment, not synchronisation
            if proc.poll() is not None:
                stats.problems.append(
                    f"the controller ended (exit {proc.returncode}) before kill {stats.kills + 1}"
                    f" of {kills}: fewer kills or a larger run_cap"
                )
                break
            fault = rng.choice(FAULTS)
            if fault == "SIGKILL":
                proc.kill()
                proc.wait()
                stats.kills += 1
            else:
                _stop(proc, fault, stats)
            proc = fleet.spawn(*command)
            stats.agents_started += 1
        _finish(fleet, stats, tmp, url, name, command)
        check_invariants(url, name, cap, stats)
    finally:
        fleet.kill_all()
        _leftovers(stats, name)
    return stats


#: how a controller is ended: kill -9 (half the time), SIGTERM, SIGHUP, Ctrl-C twice
FAULTS = ("SIGKILL", "SIGKILL", "SIGKILL", "SIGTERM", "SIGHUP", "SIGINT SIGINT")


def _stop(proc: subprocess.Popen[bytes], fault: str, stats: SoakStats) -> None:
    """Send the signals of ``fault``, each delivered before the next; the controller must stop
    its trials and exit within a minute (a trial being launched included)."""
    for sig in (signal.Signals[name] for name in fault.split()):
        proc.send_signal(sig)

        def taken(sig: signal.Signals = sig) -> bool:
            return proc.poll() is not None or not signal_pending(proc.pid, sig)

        wait_until(taken, 30, f"{sig.name} delivered")
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stats.problems.append(f"the controller did not stop within 60 s of {fault}")
        proc.kill()
        proc.wait()
    stats.stops += 1


def _finish(
    fleet: Fleet, stats: SoakStats, tmp: Path, url: str, name: str, command: list[str]
) -> None:
    """Wait for the fleet to end, run ``command`` once more (an agent that quits while a dead
    agent's trials are still RUNNING leaves them to the next one, which reaps them and finishes
    the budget exactly), and collect tracebacks and the modes the trials ran."""
    for p in fleet.procs:
        p.wait(timeout=300)
    final = run_cli(*command, "--storage", url, cwd=tmp, timeout=300)
    stats.agents_started += 1
    if final.returncode != 0 or "Traceback" in final.stderr:
        stats.problems.append(f"final {command[0]}: {final.describe()}")
    stats.problems += fleet.tracebacks()
    stats.modes = _modes(name)
    status = run_cli("status", name, "--storage", url, "--json", cwd=tmp)
    if status.returncode != 0:
        stats.problems.append(f"status --json: {status.describe()}")
    else:
        json.loads(status.stdout)


def _leftovers(stats: SoakStats, name: str) -> None:
    """Processes of the sweep still alive after every agent ended: each one is a problem (the
    trial programs' escaped helpers included); they are killed."""
    left = kill_sweep_processes(name)
    stats.left = len(left)
    stats.problems += [f"left running: {d}" for d in left]


def check_invariants(url: str, name: str, cap: int, stats: SoakStats) -> None:
    trials = trials_of(url, name)  # the storage opens in plain Optuna
    stats.trials = len(trials)
    stats.counted = counted(trials)
    stats.states = Counter(t.state.name for t in trials)
    stats.reasons = Counter(
        str(t.user_attrs.get("sweeprun.reason", "-")).split(" after")[0]
        for t in trials
        if t.state.name == "FAIL"
    )
    problems = stats.problems
    stats.over = stats.counted - cap
    if stats.counted != cap:
        problems.append(f"{stats.counted} trials counted, run_cap is {cap}")
    if stats.states["RUNNING"]:
        problems.append(f"{stats.states['RUNNING']} trial(s) left RUNNING")
    if stats.states["WAITING"] and stats.counted < cap:
        problems.append(f"{stats.states['WAITING']} trial(s) WAITING with budget left")
    no_reason = [t for t in trials if t.state.name == "FAIL" and not _reason(t)]
    if no_reason:
        problems.append(
            "FAIL trials without sweeprun.reason: "
            + "; ".join(f"{t.number} {t.user_attrs} {t.system_attrs}" for t in no_reason)
        )
    # nothing lost: every complete trial has its params and its value
    for t in trials:
        if t.state.name == "COMPLETE" and (
            t.value is None or "sweeprun.params" not in t.user_attrs
        ):
            problems.append(f"trial {t.number} COMPLETE without value or params")
    # re-queued parameters keep their values
    by_number = {t.number: t for t in trials}
    for t in trials:
        src = t.user_attrs.get("sweeprun.retry_of")
        original = by_number[src].user_attrs.get("sweeprun.params") if src is not None else None
        if original is not None and t.user_attrs.get("sweeprun.params", original) != original:
            problems.append(f"trial {t.number} re-ran {src} with other parameters")


def _reason(t: optuna.trial.FrozenTrial) -> str:
    return str(t.user_attrs.get("sweeprun.reason") or "")


def _modes(name: str) -> Counter[str]:
    """Which misbehaviours the trial programs chose (first line of each stdout.log)."""
    from sweeprun.run.request import safe_name

    modes: Counter[str] = Counter()
    home = Path(os.environ["SWEEPRUN_DIR"]) / safe_name(name)
    for log in home.glob("trial-*/stdout.log"):
        with open(log, "rb") as fh:
            first = fh.readline().decode(errors="replace").split()
        if first[:2] == ["chaos", "mode"]:
            modes[first[2]] += 1
    return modes


def report(stats: SoakStats, label: str) -> None:
    print(
        f"\n[chaos {label}] trials={stats.trials} counted={stats.counted} kills={stats.kills} "
        f"stops={stats.stops} freezes={stats.freezes} reaped_while_frozen={stats.reaped_while_frozen} over_budget={stats.over} agents={stats.agents_started} "
        f"left={stats.left} states={dict(stats.states)} fail_reasons={dict(stats.reasons)} "
        f"modes={dict(stats.modes)} problems={len(stats.problems)}"
    )
    for problem in stats.problems:
        print(f"  problem: {problem[:2000]}")
