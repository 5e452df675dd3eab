"""``sweeprun report``: a self-contained HTML file whose plots really render (headless Chromium)."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import hiding_env, run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.services import unavailable
from tests.helpers.sweeps import fake_sweep, make_sweeps

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("plotly", reason="plotly (the [plots] extra) is not installed")
    root = tmp_path_factory.mktemp("report")
    storage = str(root / "journal.log")
    make_sweeps(root, storage)
    out = {}
    for name in ("rgrid", "rmulti"):
        path = root / f"{name}.html"
        res = run_cli("report", name, "--storage", storage, "-o", str(path)).assert_success()
        assert f"wrote {path} (" in res.stdout
        out[name] = path
    return out


def titles(page: str) -> list[str]:
    return re.findall(r'<section class="card[^"]*"><h2>([^<]+)</h2>', page)


def test_report_is_self_contained(reports: dict[str, Path]) -> None:
    page = reports["rgrid"].read_text()
    assert "<script src=" not in page and 'src="http' not in page  # nothing fetched
    from plotly.offline import get_plotlyjs

    assert page.count(get_plotlyjs()[:300]) == 1  # plotly.js inlined exactly once
    assert page.count('class="plotly-graph-div"') == 7
    assert titles(page) == [
        "Optimization history",
        "Learning curves (pruned trials included)",
        "Parallel coordinates",
        "Parameter importances",
        "Contour: x × y",
        "Slice",
        "Timeline",
    ]
    # the summary: counts, the best trial and the command that reproduces it
    assert '<div class="n ok">8</div><div class="l">complete</div>' in page
    assert "<b>trial 5</b>: loss = 0.433333" in page
    assert "results_train.py --x=0.5 --y=1</pre>" in page
    assert "loss: 0.433333 (trial 5) vs baseline 0.783333 (trial 0): 0.35 lower" in page


def test_report_multi_objective(reports: dict[str, Path]) -> None:
    page = reports["rmulti"].read_text()
    t = titles(page)
    assert t[:3] == ["Pareto front", "Optimization history: acc", "Optimization history: latency"]
    assert "Timeline" in t and "Learning curves (pruned trials included)" not in t


def test_report_notes_instead_of_failing(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    storage = str(tmp_path / "j.log")
    fake_sweep(storage, "onefail", host="h", log_dir="/nowhere")
    out = tmp_path / "r.html"
    run_cli("report", "onefail", "--storage", storage, "-o", str(out)).assert_success()
    page = out.read_text()
    assert "needs at least 2 complete trials and 1 searched parameter" in page
    assert "no complete trial yet" in page


def test_report_without_plotly(tmp_path: Path) -> None:
    # a sitecustomize that hides plotly, as if the extra were not installed
    env = hiding_env(tmp_path, "plotly")
    res = run_cli("report", "x", "-o", str(tmp_path / "r.html"), env=env).assert_code(2)
    assert "the HTML report needs plotly" in res.stderr
    assert "pip install 'sweeprun[plots]'" in res.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_empty_and_unknown(tmp_path: Path) -> None:
    pytest.importorskip("plotly")
    res = run_cli("report", "nope", "-o", str(tmp_path / "r.html")).assert_code(2)
    assert "no sweeps yet" in res.stderr


def _chromium(args: list[str]) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    profile = tempfile.mkdtemp(prefix="sweeprun-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_plots_render_in_chromium(reports: dict[str, Path], tmp_path: Path) -> None:
    if CHROMIUM is None:
        unavailable("chromium is not installed (apt-get install -y chromium)")
    for name, path in reports.items():
        # offline: any network fetch would fail, so rendered plots prove the JS is inline
        proc = _chromium(["--virtual-time-budget=15000", "--dump-dom", path.as_uri()])
        dom = proc.stdout
        graphs = dom.split('class="plotly-graph-div')[1:]
        assert graphs, f"{name}: no plot in the DOM\n{proc.stderr[-2000:]}"
        expected = reports[name].read_text().count('class="plotly-graph-div"')
        assert len(graphs) == expected
        for i, chunk in enumerate(graphs):
            assert 'class="main-svg"' in chunk, f"{name}: plot {i} did not render"
    shot = tmp_path / "report.png"
    proc = _chromium(
        [
            f"--screenshot={shot}",
            "--window-size=1280,4000",
            "--virtual-time-budget=15000",
            reports["rgrid"].as_uri(),
        ]
    )
    assert shot.exists() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    if os.environ.get("SWEEPRUN_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SWEEPRUN_KEEP_SCREENSHOT"])


ENCODED = """
name: renc
program: {program}
method: random
seed: 7
metric: {{name: loss, goal: minimize}}
parameters:
  x: {{distribution: q_uniform, min: 0, max: 2, q: 0.25}}
  y: {{distribution: normal, mu: 2.0, sigma: 0.5}}
  drop: {{distribution: beta, a: 2, b: 5}}
  opt:
    parameters:
      name: {{values: [adam, sgd, rmsprop], probabilities: [0.5, 0.3, 0.2]}}
      momentum: {{value: 0.9}}
run_cap: 6
"""


def _figures(page: str) -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """Each plot card's title → its plotly (data, layout), typed arrays decoded."""
    np = pytest.importorskip("numpy")
    decoder = json.JSONDecoder()

    def unpack(o: Any) -> Any:
        if isinstance(o, dict) and {"dtype", "bdata"} <= set(o):
            return np.frombuffer(base64.b64decode(o["bdata"]), dtype=o["dtype"]).tolist()
        if isinstance(o, dict):
            return {k: unpack(v) for k, v in o.items()}
        if isinstance(o, list):
            return [unpack(v) for v in o]
        return o

    out = {}
    for card in page.split('<section class="card')[1:]:
        title = re.search(r"<h2>([^<]+)</h2>", card)
        call = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*', card)
        if title is None or call is None:
            continue
        data, end = decoder.raw_decode(card, call.end())
        layout, _ = decoder.raw_decode(card[end:].lstrip().lstrip(",").lstrip())
        out[html.unescape(title.group(1))] = (unpack(data), unpack(layout))
    return out


def test_report_plots_the_values_the_program_received(tmp_path: Path) -> None:
    """q_uniform, normal, beta and a weighted categorical are Optuna params the program never
    sees (an unrounded x, hidden quantiles u); the report plots the program's values, under the
    names ``sweeprun trials`` shows (nested with a dot), constants left out."""
    pytest.importorskip("plotly", reason="plotly (the [plots] extra) is not installed")
    storage = str(tmp_path / "j.log")
    sweep_file = tmp_path / "enc.yaml"
    sweep_file.write_text(ENCODED.format(program=PROGRAMS / "results_train.py"))
    run_cli("start", str(sweep_file), "--storage", storage).assert_success()
    out = tmp_path / "r.html"
    run_cli("report", "renc", "--storage", storage, "-o", str(out)).assert_success()
    exported = json.loads(
        run_cli("export", "renc", "--storage", storage, "--format", "json").assert_success().stdout
    )
    received = {  # what each trial's program got, by display name
        r["number"]: {k.removeprefix("param."): v for k, v in r.items() if k.startswith("param.")}
        for r in exported
    }
    assert len(received) == 6 and all(
        set(v) == {"x", "y", "drop", "opt.name", "opt.momentum"} for v in received.values()
    )

    figures = _figures(out.read_text())
    data, layout = figures["Slice"]
    axes = ["xaxis", *(f"xaxis{i}" for i in range(2, len(data) + 1))]
    names = [layout[axis]["title"]["text"] for axis in axes]  # one subplot per parameter
    assert sorted(names) == ["drop", "opt.name", "x", "y"]  # no opt/name, no constant
    plotted = {name: trace["x"] for name, trace in zip(names, data, strict=True)}
    values = {name: [received[n][name] for n in sorted(received)] for name in names}
    for name in ("x", "y", "drop"):
        assert sorted(plotted[name]) == pytest.approx(sorted(values[name]))
    assert sorted(v.strip("'") for v in plotted["opt.name"]) == sorted(values["opt.name"])
    assert all(x / 0.25 == round(x / 0.25) for x in plotted["x"])  # rounded as the program got

    importances, _ = figures["Parameter importances"]
    assert sorted(importances[0]["y"]) == ["drop", "opt.name", "x", "y"]

    # what Optuna holds instead: the encodings the plots must not show
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="renc", storage=JournalStorage(JournalFileBackend(storage))
    )
    hidden = {t.number: t.params for t in study.trials}
    assert set(hidden[0]) == {"x", "y", "drop", "opt/name"}
    assert all(0 < p["y"] < 1 and 0 < p["opt/name"] < 1 for p in hidden.values())
    assert sorted(plotted["y"]) != pytest.approx(sorted(p["y"] for p in hidden.values()))
    assert not any(isinstance(v, float) for v in plotted["opt.name"])
