"""B2 (storages) and B6 (scale) benchmarks, called by run_all.py.

B2: the B1 `sh` workload through `sweeprun start --jobs 1` on each storage, as a ratio to the
hand-written in-memory Optuna loop. B6: the time of one TPE ask from a journal file holding 1k
and 10k finished trials beside Optuna in-process (in-memory storage), and `sweeprun status` /
`best` on the 10k-trial sweep.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from common import SWEEPRUN, run_sweeprun, tmpdir, write

PG = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
SH = 'command: [/bin/sh, -c, "echo \'{\\"loss\\": 1.0}\'", sh, "${args}"]'


def _sweep(d: Path, name: str, n: int) -> Path:
    return write(
        d / f"{name}.yaml",
        f"name: {name}\nmethod: random\nseed: 0\nmetric: {{name: loss}}\nrun_cap: {n}\n{SH}\n"
        "parameters:\n  x: {min: -5.0, max: 5.0}\n",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _delete(url: str, name: str) -> None:
    import optuna

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    with contextlib.suppress(Exception):
        optuna.delete_study(study_name=name, storage=open_storage(classify(url), retry=False))


def b2_storages(n: int, hand_seconds: float) -> list[str]:
    d = tmpdir()
    rows = []
    port = _free_port()
    serve = subprocess.Popen(
        [SWEEPRUN, "serve", "--storage", PG, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(3)
    urls = {
        "journal file": str(d / "journal.log"),
        "SQLite": f"sqlite:///{d / 'db.sqlite'}",
        "PostgreSQL": PG,
        "Redis": REDIS,
        "gRPC proxy (serve → PostgreSQL)": f"grpc://127.0.0.1:{port}",
    }
    try:
        for label, url in urls.items():
            name = f"b2-{uuid.uuid4().hex[:8]}"
            sweep = _sweep(d, name, n)
            try:
                wall, _ = run_sweeprun(["start", str(sweep), "--quiet", "--storage", url], cwd=d)
            except RuntimeError as exc:
                rows.append(f"| B2 {n} `sh` trials on {label} | failed: {str(exc)[:80]} | | | | |")
                continue
            finally:
                if "://" in url and not url.startswith("sqlite"):
                    _delete(PG if url.startswith("grpc") else url, name)
            per = (wall - hand_seconds) / n * 1000
            rows.append(
                f"| B2 {n} `sh` trials on {label} | {wall:.2f} s | {hand_seconds:.2f} s "
                f"| {wall / hand_seconds:.2f} | {per:.1f} ms/trial over the hand loop | — |"
            )
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    return rows


def _fill(storage: object, name: str, n: int) -> object:
    import optuna

    from sweeprun.config.load import parse_config
    from sweeprun.space.distributions import SearchSpace

    cfg = parse_config(
        {
            "method": "tpe",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}},
        }
    )
    dists = SearchSpace.from_params(cfg.parameters).distributions()
    study = optuna.create_study(study_name=name, storage=storage)  # type: ignore[arg-type]
    rng = __import__("random").Random(0)
    trials = []
    for _ in range(n):
        params = {k: rng.uniform(-5, 5) for k in dists}
        trials.append(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=sum(v * v for v in params.values())
            )
        )
    study.add_trials(trials)
    return cfg, dists


def _ask_ms(study: object, dists: dict, k: int) -> float:
    t0 = time.perf_counter()
    for _ in range(k):
        trial = study.ask(dists)  # type: ignore[attr-defined]
        study.tell(trial, 1.0)  # type: ignore[attr-defined]
    return (time.perf_counter() - t0) / k * 1000


def b6_scale(sizes: tuple[int, ...], asks: int) -> list[str]:
    import optuna

    from sweeprun.search.samplers import make_sampler
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for n in sizes:
        d = tmpdir()
        name = f"b6-{n}"
        spec = classify(str(d / "journal.log"))
        cfg, dists = _fill(open_storage(spec), name, n)
        ours = optuna.load_study(
            study_name=name, storage=open_storage(spec), sampler=make_sampler(cfg)
        )
        mem = optuna.storages.InMemoryStorage()
        _fill(mem, name, n)
        theirs = optuna.load_study(study_name=name, storage=mem, sampler=make_sampler(cfg))
        a, b = _ask_ms(ours, dists, asks), _ask_ms(theirs, dists, asks)
        rows.append(
            f"| B6 TPE ask+tell with {n:,} finished trials (journal file vs in-memory) "
            f"| {a:.1f} ms | {b:.1f} ms | {a / b:.2f} | — | |"
        )
        if n == max(sizes):
            rows += status_best(n)
    return rows


def status_best(n: int) -> list[str]:
    """`sweeprun status`, `status NAME` and `best NAME` on an ``n``-trial sweep with sweeprun's
    attributes (the results tests' builder), on the journal file and on PostgreSQL."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify
    from tests.distributed.test_results import build_big_sweep

    out = []
    d = tmpdir()
    name = f"b6-status-{uuid.uuid4().hex[:8]}"
    for label, url in (("journal", str(d / "big.log")), ("PostgreSQL", PG)):
        try:
            build_big_sweep(open_storage(classify(url), retry=False), name, n)
        except Exception as exc:  # no server here: say so in the table
            out.append(f"| B6 status/best on {label} | — | — | — | ≤ 2 s | not run: {exc} |")
            continue
        try:
            env = {**os.environ, "SWEEPRUN_DIR": str(d)}
            for cmd in (["status"], ["status", name], ["best", name]):
                walls = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    proc = subprocess.run(
                        [SWEEPRUN, *cmd, "--storage", url, "--json"],
                        env=env, capture_output=True, text=True, check=False,
                    )  # fmt: skip
                    walls.append(time.perf_counter() - t0)
                    if proc.returncode != 0:
                        raise RuntimeError(proc.stderr[-500:])
                wall = sorted(walls)[1]
                shown = " ".join(c if c != name else "NAME" for c in cmd)
                out.append(
                    f"| B6 `sweeprun {shown}`, {n:,} trials, {label} (median of 3) "
                    f"| {wall:.2f} s | — | — | ≤ 2 s | {'ok' if wall <= 2.0 else 'MISS'} |"
                )
        finally:
            if label == "PostgreSQL":
                _delete(url, name)
    return out


def agent_memory(n: int) -> list[str]:
    """Peak RSS of a `start` running n `sh` trials, and of one running n/10 (issue: 1k vs 10k).

    Each run has its own journal. The agent holds Optuna's replay of the journal in memory (as
    Optuna's own JournalStorage does), so memory grows with the trials: the row says by how
    much per trial."""
    small_n = max(1, n // 10)
    peaks = {}
    for k in (small_n, n):
        d = tmpdir()
        _, peaks[k] = run_sweeprun(["start", str(_sweep(d, f"mem-{k}", k)), "--quiet"], cwd=d)
    per_trial = (peaks[n] - peaks[small_n]) / (n - small_n) if n > small_n else float("nan")
    return [
        f"| B6 agent peak RSS, {small_n:,} vs {n:,} trials (journal) | {peaks[n] / 1024:.0f} MB "
        f"| {peaks[small_n] / 1024:.0f} MB | {peaks[n] / peaks[small_n]:.2f} "
        f"| — | {per_trial:.1f} KiB per trial |"
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for line in b6_scale((1000,), 5):
        print(line)
