"""``sweeprun init``: templates that validate, lint clean and run against example programs."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sweeprun.commands.init import DEFAULT_TEMPLATE, template_names, template_text
from sweeprun.config.lint import lint_config
from sweeprun.config.load import load_config
from tests.helpers.cli import run_cli
from tests.helpers.paths import ROOT

EXAMPLES = ROOT / "examples" / "templates"
TEMPLATES = ["basic", "cnn", "lightgbm", "lora", "sklearn-mlp", "transformer", "xgboost"]
#: template → its example program; the sklearn ones train real models
PROGRAMS = {
    "basic": "basic.py",
    "sklearn-mlp": "sklearn_mlp.py",
    "transformer": "transformer_sim.py",
    "cnn": "cnn_sim.py",
    "lora": "lora_sim.py",
    "xgboost": "xgboost_sim.py",
    "lightgbm": "lightgbm_sim.py",
}
SKLEARN = {"basic", "sklearn-mlp"}


def test_template_list() -> None:
    assert template_names()[0] == DEFAULT_TEMPLATE == "basic"
    assert sorted(template_names()) == TEMPLATES


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_validates_and_lints_clean(name: str, tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(template_text(name), encoding="utf-8")
    cfg = load_config(path)
    assert lint_config(cfg) == []
    assert cfg.baseline, "every template has a baseline"
    assert cfg.program == "train.py"
    assert PROGRAMS[name].removesuffix(".py") in template_text(name).replace("-", "_")


def setup_program(name: str, where: Path) -> None:
    shutil.copy(EXAMPLES / PROGRAMS[name], where / "train.py")
    shutil.copy(EXAMPLES / "_sim.py", where / "_sim.py")


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_runs_against_its_example_program(name: str, tmp_path: Path) -> None:
    if name in SKLEARN:
        pytest.importorskip("sklearn", reason="the sklearn templates need scikit-learn (dev)")
    run_cli("init", "--template", name, cwd=tmp_path).assert_code(0)
    setup_program(name, tmp_path)
    res = run_cli(
        "start", "sweep.yaml", "--max-trials", "2", cwd=tmp_path, env={"SIM_STEP_SECONDS": "0"}
    ).assert_code(0)
    # the template's early stopping may prune the second trial: fine, but none may fail
    found = re.search(r"sweep \S+: (\d+) complete, (\d+) pruned, 0 failed", res.stdout)
    assert found, res.describe()
    complete, pruned = int(found.group(1)), int(found.group(2))
    assert complete >= 1 and complete + pruned == 2, res.describe()


@pytest.mark.parametrize("name", ["transformer", "lora"])
def test_simulated_template_passes_smoke(name: str, tmp_path: Path) -> None:
    """The stand-ins accept every configuration smoke tries, with the template's smoke args."""
    run_cli("init", "--template", name, cwd=tmp_path).assert_code(0)
    setup_program(name, tmp_path)
    res = run_cli(
        "smoke", "sweep.yaml", "--jobs", "4", cwd=tmp_path, env={"SIM_STEP_SECONDS": "0"}
    ).assert_code(0)
    assert "smoke passed" in res.stdout


def test_default_writes_basic_and_lists_the_others(tmp_path: Path) -> None:
    res = run_cli("init", cwd=tmp_path).assert_code(0)
    assert (tmp_path / "sweep.yaml").read_text(encoding="utf-8") == template_text("basic")
    assert "wrote sweep.yaml (template 'basic')" in res.stdout
    assert "other templates (cnn, lightgbm, lora, sklearn-mlp, transformer, xgboost)" in res.stdout


def test_output_path_and_force(tmp_path: Path) -> None:
    out = tmp_path / "conf" / "lora.yaml"
    run_cli("init", "--template", "lora", "-o", str(out)).assert_code(0)
    assert out.read_text(encoding="utf-8") == template_text("lora")
    res = run_cli("init", "--template", "cnn", "-o", str(out)).assert_code(2)
    assert f"{out} already exists: use --force to overwrite it" in res.stderr
    assert out.read_text(encoding="utf-8") == template_text("lora")  # untouched
    run_cli("init", "--template", "cnn", "-o", str(out), "--force").assert_code(0)
    assert out.read_text(encoding="utf-8") == template_text("cnn")


def test_unknown_template_lists_them_and_writes_nothing(tmp_path: Path) -> None:
    res = run_cli("init", "--template", "lgbm", cwd=tmp_path).assert_code(2)
    assert "unknown template 'lgbm': did you mean 'lightgbm'?" in res.stderr
    for name in TEMPLATES:
        assert f"\n  {name} " in res.stderr
    assert not (tmp_path / "sweep.yaml").exists()
