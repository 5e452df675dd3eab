"""``make bench``: sweeprun's overhead as ratios against the hand-written Optuna loop.

Each figure alternates the two sides and takes the median. ``--quick`` runs small sizes (for
CI; its numbers are not asserted). Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BIN,
    HERE,
    SWEEPRUN,
    alternate,
    paired,
    paired_ratio,
    row,
    run_sweeprun,
    tmpdir,
    write,
)

PY_PROGRAM = (
    'import json, sys\nx = float(sys.argv[1].split("=")[1])\nprint(json.dumps({"loss": x * x}))\n'
)


def _trivial_sweep(d: Path, n: int, command: str) -> Path:
    write(d / "trivial.py", PY_PROGRAM)
    return write(
        d / "sweep.yaml",
        f"name: bench\nmethod: random\nseed: 0\nmetric: {{name: loss}}\nrun_cap: {n}\n"
        f"{command}\nparameters:\n  x: {{min: -5.0, max: 5.0}}\n",
    )


def _hand(n: int, argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "handwritten_loop.py"), str(n), *argv],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def _fresh_run(sweep: Path, extra: list[str] | None = None) -> tuple[float, int]:
    d = tmpdir()
    return run_sweeprun(["start", str(sweep), "--quiet", *(extra or [])], cwd=d)


def _with_cpu(fn: Callable[[], float], cpu: list[float]) -> Callable[[], float]:
    """``fn``, also noting the CPU seconds of the processes it waited for (user + system)."""

    def run() -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = fn()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return wall

    return run


def _installed_bytecode() -> None:
    """Write sweeprun's ``.pyc`` files, as ``pip install`` of a wheel does. With an editable
    install and ``PYTHONDONTWRITEBYTECODE`` set, every ``sweeprun start`` would otherwise
    compile each module edited since its last ``.pyc`` (tens of ms), which the hand loop, whose
    optuna was installed compiled, never pays."""
    import compileall

    import sweeprun

    compileall.compile_dir(Path(sweeprun.__file__).parent, quiet=1)


def _b1(
    n: int, rounds: int, sweep: Path, hand_argv: list[str], d: Path
) -> tuple[list[float], list[float], float, float]:
    """Each round's wall, sweeprun then the hand loop, and the medians of their CPU (the
    process and its children)."""
    _installed_bytecode()
    cpu_ours: list[float] = []
    cpu_theirs: list[float] = []
    ours, theirs = paired(
        _with_cpu(lambda: _fresh_run(sweep)[0], cpu_ours),
        _with_cpu(lambda: _hand(n, hand_argv, d), cpu_theirs),
        rounds,
    )
    return ours, theirs, statistics.median(cpu_ours), statistics.median(cpu_theirs)


def _cpu_row(label: str, n: int, cpu_ours: float, cpu_theirs: float) -> str:
    per_trial = (cpu_ours - cpu_theirs) / n * 1000
    return (
        f"| B1 {label}: CPU per trial over the hand loop (start-up included) "
        f"| {per_trial:.2f} ms | {cpu_ours:.2f} s vs {cpu_theirs:.2f} s | — | — | |"
    )


def b1_python(n: int, rounds: int) -> list[str]:
    d = tmpdir()
    sweep = _trivial_sweep(d, n, f"program: {d / 'trivial.py'}")
    walls, hands, cpu_ours, cpu_theirs = _b1(
        n, rounds, sweep, [sys.executable, str(d / "trivial.py")], d
    )
    ratio, low, high = paired_ratio(walls, hands)
    ok = "ok" if ratio <= 1.10 else "MISS"
    return [
        f"| B1 {n} trivial Python trials, --jobs 1, journal | {statistics.median(walls):.3f} s "
        f"| {statistics.median(hands):.3f} s | {ratio:.3f} (rounds {low:.3f}–{high:.3f}) "
        f"| ratio ≤ 1.10 | {ok} |",
        _cpu_row("Python", n, cpu_ours, cpu_theirs),
    ]


def b1_sh(n: int, rounds: int) -> list[str]:
    d = tmpdir()
    sweep = _trivial_sweep(
        d, n, 'command: [/bin/sh, -c, "echo \'{\\"loss\\": 1.0}\'", sh, "${args}"]'
    )
    hand_argv = ["/bin/sh", "-c", "echo '{\"loss\": 1.0}'", "sh"]
    walls, hands, cpu_ours, cpu_theirs = _b1(n, rounds, sweep, hand_argv, d)
    ours, theirs = statistics.median(walls), statistics.median(hands)
    per_trial_ms = statistics.median(w - h for w, h in zip(walls, hands, strict=True)) / n * 1000
    return [
        row(f"B1 {n} `sh -c echo` trials, --jobs 1, journal", ours, theirs, "s", "—", True),
        f"| B1 controller overhead per trial beyond spawn | {per_trial_ms:.2f} ms | — | — "
        f"| ≤ 3 ms | {'ok' if per_trial_ms <= 3 else 'MISS'} |",
        _cpu_row("sh", n, cpu_ours, cpu_theirs),
    ]


FLOODS = {
    "JSON": '\'{"loss": %d.5, "step": %d}\\n\' % (i % 7, i)',
    "name=value": "'step=%d loss=%d.5\\n' % (i, i % 7)",
}


def _flood(d: Path, kind: str, lines: int) -> Path:
    """A sweep whose one trial prints ``lines`` metric lines as fast as Python can."""
    slug = "json" if kind == "JSON" else "kv"
    write(
        d / f"flood_{slug}_{lines}.py",
        f"import sys\nw = sys.stdout.write\nfor i in range({lines}):\n    w({FLOODS[kind]})\n",
    )
    return write(
        d / f"sweep_{slug}_{lines}.yaml",
        f"name: flood\nmethod: random\nmetric: {{name: loss}}\nrun_cap: 1\n"
        f"program: {d / f'flood_{slug}_{lines}.py'}\nparameters:\n  x: {{values: [1]}}\n",
    )


def _controller_run(sweep: Path) -> tuple[float, float, int]:
    """One ``sweeprun start``: the trial's duration (child wall), the controller's own CPU
    seconds (its threads; the trial's CPU excluded) and its peak RSS (KiB)."""
    run_dir = tmpdir()
    env = {**os.environ, "SWEEPRUN_DIR": str(run_dir / ".sweeprun")}
    with open(run_dir / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [SWEEPRUN, "start", str(sweep), "--quiet"],
            cwd=run_dir, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        peak, children = 0, 0.0
        tick = os.sysconf("SC_CLK_TCK")
        while True:  # poll until it is a zombie: reaped children's CPU, peak RSS
            try:
                with open(f"/proc/{proc.pid}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                break
            children = (int(fields[13]) + int(fields[14])) / tick  # cutime + cstime
            if fields[0] == b"Z":
                break
            time.sleep(0.02)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"sweeprun failed: {(run_dir / 'stderr.txt').read_text()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime - children
    return _trial_duration(run_dir, "flood"), cpu, peak


def b3_ingestion(lines: int, rounds: int) -> list[str]:
    """A child printing ``lines`` metric lines: its wall under sweeprun ÷ writing to a file,
    the controller's CPU per million lines (beyond a run printing one) and peak RSS."""
    d = tmpdir()
    rows, peaks = [], []
    for kind in FLOODS:
        sweep, empty = _flood(d, kind, lines), _flood(d, kind, 1)
        script = sweep.with_name(f"flood_{'json' if kind == 'JSON' else 'kv'}_{lines}.py")
        cpus: list[float] = []
        idle: list[float] = []

        def direct(script: Path = script) -> float:
            t0 = time.perf_counter()
            with open(d / "out.txt", "w") as fh:
                subprocess.run([sys.executable, str(script)], stdout=fh, check=True)
            return time.perf_counter() - t0

        def ours(sweep: Path = sweep, empty: Path = empty, cpus: list[float] = cpus,
                 idle: list[float] = idle) -> float:  # fmt: skip
            wall, cpu, peak = _controller_run(sweep)
            idle.append(_controller_run(empty)[1])
            cpus.append(cpu)
            peaks.append(peak)
            return wall

        mine, base = alternate(ours, direct, rounds)
        per_million = (statistics.median(cpus) - statistics.median(idle)) * 1e6 / lines
        rows += [
            row(
                f"B3 child printing {lines:,} {kind} metric lines (child wall)",
                *(mine, base, "s", "ratio ≤ 1.2", mine / base <= 1.2),
            ),
            f"| B3 controller CPU per million {kind} lines (beyond a 1-line trial) "
            f"| {per_million:.2f} s | — | — | — | |",
        ]
    peak_mb = max(peaks) / 1024
    return [
        *rows,
        f"| B3 controller peak RSS | {peak_mb:.0f} MB | — | — | < 150 MB "
        f"| {'ok' if peak_mb < 150 else 'MISS'} |",
    ]


def _trial_duration(run_dir: Path, name: str) -> float:
    out = subprocess.run(
        [SWEEPRUN, "export", name, "--format", "json"],
        cwd=run_dir,
        env={**os.environ, "SWEEPRUN_DIR": str(run_dir / ".sweeprun")},
        capture_output=True,
        text=True,
    )
    if out.returncode == 0:
        rows = json.loads(out.stdout)
        return float(rows[0]["duration"])
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(
        JournalFileBackend(str(run_dir / ".sweeprun" / "journal.log"))
    )
    study = optuna.load_study(study_name=name, storage=storage)
    return float(study.trials[0].user_attrs["sweeprun.duration"])


def _trial_window(run_dir: Path, name: str) -> float:
    """Seconds from the first trial's start to the last trial's end (start-up excluded)."""
    import optuna

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(classify(str(run_dir / ".sweeprun" / "journal.log")))
    trials = optuna.load_study(study_name=name, storage=storage).trials
    start = min(t.datetime_start for t in trials if t.datetime_start)
    end = max(t.datetime_complete for t in trials if t.datetime_complete)
    return (end - start).total_seconds()


def b4_parallel(n: int, rounds: int) -> list[str]:
    d = tmpdir()
    sweep = write(
        d / "sweep.yaml",
        f"name: par\nmethod: random\nmetric: {{name: loss}}\nrun_cap: {n}\n"
        'command: [/bin/sh, -c, "sleep 0.5; echo \'{\\"loss\\": 1}\'", sh, "${args}"]\n'
        "parameters:\n  x: {min: 0.0, max: 1.0}\n",
    )
    out = []
    walls = {}
    for jobs in (1, 2, 4):
        best = float("inf")
        for _ in range(rounds):
            run_dir = tmpdir()
            run_sweeprun(["start", str(sweep), "--quiet", "--jobs", str(jobs)], cwd=run_dir)
            best = min(best, _trial_window(run_dir, "par"))
        walls[jobs] = best
        ideal = n * 0.5 / jobs
        eff = ideal / walls[jobs]
        out.append(
            f"| B4 --jobs {jobs}, {n} trials of `sleep 0.5` (first start → last end) "
            f"| {walls[jobs]:.2f} s | ideal {ideal:.2f} s | {eff:.3f} of ideal | ≥ 0.95 "
            f"| {'ok' if eff >= 0.95 else 'MISS'} |"
        )
    speedup = walls[1] / walls[2]
    out.append(
        f"| B4 throughput --jobs 2 ÷ --jobs 1 | {speedup:.2f}× | — | — | ≥ 1.9 "
        f"| {'ok' if speedup >= 1.9 else 'MISS'} |"
    )
    return out


def b7_startup(rounds: int) -> list[str]:
    d = tmpdir()
    sweep = _trivial_sweep(d, 1, f"program: {d / 'trivial.py'}")

    def timed(argv: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - t0

    base = min(timed([sys.executable, "-c", "pass"]) for _ in range(rounds))
    helpt = min(timed([SWEEPRUN, "--help"]) for _ in range(rounds)) - base
    valt = min(timed([SWEEPRUN, "validate", str(sweep)]) for _ in range(rounds)) - base
    return [
        f"| B7 `sweeprun --help` minus `python -c pass` | {helpt * 1000:.0f} ms | — | — "
        f"| ≤ 150 ms | {'ok' if helpt <= 0.150 else 'MISS'} |",
        f"| B7 `sweeprun validate` minus `python -c pass` | {valt * 1000:.0f} ms | — | — "
        f"| ≤ 250 ms | {'ok' if valt <= 0.250 else 'MISS'} |",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes, for CI")
    ap.add_argument("--only", default="", help="comma list: b1,b2,b3,b4,b5,b6,b7,b9")
    args = ap.parse_args()
    q = args.quick
    only = set(filter(None, args.only.split(",")))
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])} (venv {BIN.parent})\n")
    print("| benchmark | sweeprun | baseline | ratio | goal | |")
    print("|---|---|---|---|---|---|")
    hand_sh = {}

    def b2() -> list[str]:
        from storages import b2_storages

        n = 50 if q else 200
        d = tmpdir()
        hand_argv = ["/bin/sh", "-c", "echo '{\"loss\": 1.0}'", "sh"]
        hand_sh[n] = min(_hand(n, hand_argv, d) for _ in range(1 if q else 3))
        return b2_storages(n, hand_sh[n])

    def b5() -> list[str]:
        argv = [sys.executable, str(HERE / "agents.py")]
        argv += ["--agents", "1,8", "--per-agent", "5"] if q else ["--agents", "1,2,4,8"]
        out = subprocess.run(argv, capture_output=True, text=True)
        return (
            ["", *out.stdout.strip().splitlines(), ""]
            if out.returncode == 0
            else [f"| B5 failed | {out.stderr[-300:]!r} | | | | |"]
        )

    def b6() -> list[str]:
        from storages import agent_memory, b6_scale

        sizes = (1000,) if q else (1000, 10000)
        return b6_scale(sizes, 3 if q else 10) + agent_memory(1000 if q else 10000)

    def b9() -> list[str]:
        from prune_latency import rows

        return rows(2 if q else 3, 50 if q else 100)

    sections = {
        "b1": lambda: (
            b1_python(20 if q else 200, 1 if q else 5) + b1_sh(50 if q else 500, 1 if q else 5)
        ),
        "b2": b2,
        "b3": lambda: b3_ingestion(100_000 if q else 1_000_000, 1 if q else 3),
        "b4": lambda: b4_parallel(4 if q else 12, 1 if q else 2),
        "b6": b6,
        "b7": lambda: b7_startup(3 if q else 7),
        "b5": b5,
        "b9": b9,
    }
    for key, fn in sections.items():
        if only and key not in only:
            continue
        for line in fn():
            print(line, flush=True)


if __name__ == "__main__":
    main()
