"""B5: many agents on one sweep — throughput ÷ ideal, per-trial controller CPU, agent memory.

Agents are separate ``sweeprun`` processes (one ``start`` + ``agent``s, ``--jobs 1`` each), on
PostgreSQL, the journal file and ``sweeprun serve`` in front of PostgreSQL. Each trial is
``sh -c 'sleep 0.2; echo loss'`` (a cheap child, so the figure is sweeprun's, not the trial
interpreter's). Ideal throughput with k agents is k ÷ 0.2 s. Throughput is measured from the
trials' own timestamps over the steady window in which every agent is busy (from the last
agent's first trial to the first agent's last), so agent start-up is not counted.

    .venv/bin/python bench/agents.py                       # 1, 2, 4, 8 agents, three storages
    .venv/bin/python bench/agents.py --agents 8 --storages journal
    .venv/bin/python bench/agents.py --memory 3000         # also: VmHWM over a long sweep

Prints Markdown tables (for docs/benchmarks.md). The PostgreSQL URL is ``$BENCH_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432/test``); its studies are deleted afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SWEEPRUN = str(Path(sys.executable).parent / "sweeprun")
PG = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Probe:
    """Polls one process's own CPU seconds and VmHWM until it exits."""

    pid: int
    cpu: float = 0.0
    hwm_kb: int = 0
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # wall, cpu, hwm

    def poll(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        self.hwm_kb = int(line.split()[1])
        except OSError:
            return False
        if fields[0] == "Z":
            return False
        self.cpu = (int(fields[11]) + int(fields[12])) / TICKS
        self.samples.append((time.time(), self.cpu, self.hwm_kb))
        return True


def watch(procs: list[subprocess.Popen[bytes]]) -> list[Probe]:
    probes = [Probe(p.pid) for p in procs]

    def loop() -> None:
        alive = list(probes)
        while alive:
            alive = [p for p in alive if p.poll()]
            time.sleep(0.1)

    threading.Thread(target=loop, daemon=True).start()
    return probes


def postgres_cpu() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server (postmaster, its live backends
    and the backends it has reaped), or None when no local server runs."""
    procs: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as fh:
                if not fh.read().startswith("postgres"):
                    continue
            with open(f"/proc/{entry}/stat") as fh:
                procs[int(entry)] = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
    if not procs:
        return None
    ticks = 0
    for f in procs.values():
        own = int(f[11]) + int(f[12])
        ticks += own if int(f[1]) in procs else own + int(f[13]) + int(f[14])
    return ticks / TICKS


def sweep_file(d: Path, name: str, cap: int, trial: float) -> Path:
    path = d / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nmethod: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n"
        f"command: [/bin/sh, -c, 'sleep {trial}; echo loss=0.5']\n"
        "failures: {max_consecutive: 0}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    return path


def load_trials(url: str, name: str) -> list[Any]:
    import optuna

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = open_storage(classify(url), retry=False)
    return optuna.load_study(study_name=name, storage=st).get_trials(deepcopy=False)


def delete(url: str, name: str) -> None:
    import optuna

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=name, storage=open_storage(classify(url), retry=False))


def steady_throughput(trials: list[Any]) -> tuple[float, int]:
    """Trials per second while every agent was busy, and how many trials that window held."""
    done = [t for t in trials if t.state.name == "COMPLETE" and t.datetime_complete]
    per_owner: dict[int, list[tuple[float, float]]] = {}
    for t in done:
        pid = t.user_attrs["sweeprun.owner"]["pid"]
        per_owner.setdefault(pid, []).append(
            (t.datetime_start.timestamp(), t.datetime_complete.timestamp())
        )
    start = max(min(s for s, _ in v) for v in per_owner.values())
    end = min(max(e for _, e in v) for v in per_owner.values())
    inside = [(s, e) for v in per_owner.values() for s, e in v if s >= start and e <= end]
    if end <= start or len(inside) < 2:
        return float("nan"), len(inside)
    return len(inside) / (end - start), len(inside)


def steady_cpu(probes: list[Probe], trials: list[Any]) -> float:
    """Agent CPU seconds per trial after each agent's first trial started (start-up excluded)."""
    cpu = 0.0
    count = 0
    for p in probes:
        mine = [t for t in trials if t.user_attrs.get("sweeprun.owner", {}).get("pid") == p.pid]
        if not mine or not p.samples:
            continue
        first = min(t.datetime_start.timestamp() for t in mine)
        before = [c for w, c, _ in p.samples if w <= first]
        if not before:  # not sampled before its first trial: start-up cannot be told apart
            continue
        cpu += p.cpu - before[-1]
        count += len(mine) - 1
    return cpu / max(1, count)


def run_agents(url: str, k: int, trial: float, per_agent: int, d: Path) -> dict[str, float]:
    name = f"b5-{k}-{uuid.uuid4().hex[:6]}"
    sweep = sweep_file(d, name, k * per_agent, trial)
    env = {**os.environ, "SWEEPRUN_DIR": str(d / ".sweeprun")}
    out = subprocess.DEVNULL
    db_before = postgres_cpu()
    first = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--storage", url, "--quiet"], env=env, stdout=out
    )
    procs = [first]
    probes = watch([first])  # from the start: its first trial may begin before the others join
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            load_trials(url, name)
            break
        except Exception:
            time.sleep(0.2)
    procs += [
        subprocess.Popen(
            [SWEEPRUN, "agent", name, "--storage", url, "--quiet"], env=env, stdout=out
        )
        for _ in range(k - 1)
    ]
    probes += watch(procs[1:])
    for p in procs:
        if p.wait(timeout=600) != 0:
            raise RuntimeError(f"an agent exited {p.returncode}")
    time.sleep(0.3)
    db_after = postgres_cpu()
    trials = load_trials(url, name)
    delete(url, name)
    tput, n = steady_throughput(trials)
    ran = sum(t.state.name == "COMPLETE" for t in trials)
    cpu = sum(p.cpu for p in probes)
    return {
        "throughput": tput,
        "ideal": k / trial,
        "window": n,
        "cpu_ms_per_trial": 1000 * cpu / max(1, ran),
        "steady_ms_per_trial": 1000 * steady_cpu(probes, trials),
        "hwm_mb": max(p.hwm_kb for p in probes) / 1024,
        # the whole server: other clients of a shared server add to it
        "db_ms_per_trial": float("nan")
        if db_before is None or db_after is None or url.startswith("/")
        else 1000 * (db_after - db_before) / max(1, ran),
    }


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f} ms"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(backend: str) -> tuple[subprocess.Popen[bytes], str, Probe]:
    port = free_port()
    p = subprocess.Popen(
        [SWEEPRUN, "serve", "--storage", backend, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert p.stdout is not None
    while b"agents:" not in p.stdout.readline():
        if p.poll() is not None:
            raise RuntimeError("sweeprun serve did not start")
    probe = watch([p])[0]
    return p, f"grpc://127.0.0.1:{port}", probe


def memory(url: str, n: int, d: Path) -> list[str]:
    """One agent through ``n`` instant trials: VmHWM after 10 % and at the end."""
    name = f"b5-mem-{uuid.uuid4().hex[:6]}"
    sweep = sweep_file(d, name, n, 0.0)
    env = {**os.environ, "SWEEPRUN_DIR": str(d / ".sweeprun")}
    p = subprocess.Popen(
        [SWEEPRUN, "start", str(sweep), "--storage", url, "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    (probe,) = watch([p])
    t0 = time.monotonic()
    p.wait()
    wall = time.monotonic() - t0
    delete(url, name)
    s = probe.samples
    early = next((h for t, _, h in s if t - s[0][0] >= 0.1 * wall), s[0][2]) if s else 0
    return [
        f"| {url if not url.startswith('/') else 'journal file'} | {n} | {early / 1024:.0f} MB "
        f"| {probe.hwm_kb / 1024:.0f} MB | {1000 * probe.cpu / n:.1f} ms |"
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", default="1,2,4,8")
    ap.add_argument("--storages", default="postgresql,journal,serve")
    ap.add_argument("--trial", type=float, default=0.2, help="seconds per trial")
    ap.add_argument("--per-agent", type=int, default=20, help="trials per agent")
    ap.add_argument("--memory", type=int, default=0, help="also a long sweep of N trials")
    args = ap.parse_args()
    counts = [int(a) for a in args.agents.split(",")]
    d = Path(tempfile.mkdtemp(prefix="sweeprun-b5-"))
    rows = [
        f"B5: agents as processes, `--jobs 1` each, trials `sleep {args.trial}`; "
        f"{os.cpu_count()} CPUs; throughput ÷ ideal (k ÷ {args.trial} s), goal ≥ 0.85 at 8",
        "",
        "| storage | agents | trials/s | ideal | ratio | window trials | agent CPU / trial "
        "(with start-up) | agent CPU / trial (steady) | PostgreSQL CPU / trial | agent VmHWM |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for storage in args.storages.split(","):
        serve = None
        if storage == "journal":
            url = str(d / "journal.log")
        elif storage == "serve":
            serve, url, serve_probe = start_serve(PG)
        else:
            url = PG
        for k in counts:
            r = run_agents(url, k, args.trial, args.per_agent, d)
            ratio = r["throughput"] / r["ideal"]
            rows.append(
                f"| {storage} | {k} | {r['throughput']:.1f} | {r['ideal']:.0f} | {ratio:.2f} "
                f"| {r['window']:.0f} | {r['cpu_ms_per_trial']:.0f} ms "
                f"| {r['steady_ms_per_trial']:.0f} ms | {_ms(r['db_ms_per_trial'])} "
                f"| {r['hwm_mb']:.0f} MB |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
        if serve is not None:
            total = sum(k * args.per_agent for k in counts)
            rows.append(
                f"| (serve process) | — | — | — | — | — | — "
                f"| {1000 * serve_probe.cpu / total:.0f} ms | — | {serve_probe.hwm_kb / 1024:.0f} MB |"
            )
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=30)
    if args.memory:
        rows += [
            "",
            "| storage | trials | VmHWM at 10 % | VmHWM at end | agent CPU / trial |",
            "| --- | --- | --- | --- | --- |",
        ]
        rows += memory(str(d / "mem.log"), args.memory, d)
        rows += memory(PG, args.memory, d)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
