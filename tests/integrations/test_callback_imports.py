"""The callback modules import their framework only when the callback class is first used
(a training program that imports ``sweeprun.integrations.lightning`` and never trains pays
nothing), and each class is the framework's own kind of callback."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest

from tests.helpers.frameworks import require
from tests.helpers.paths import ROOT

MODULES = ("lightning", "transformers", "keras", "xgboost", "lightgbm")
FRAMEWORKS = ("torch", "lightning", "pytorch_lightning", "transformers", "keras", "xgboost",
              "lightgbm", "numpy")  # fmt: skip


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_importing_the_callback_modules_imports_no_framework() -> None:
    code = (
        "import sys\n"
        + "".join(f"import sweeprun.integrations.{m}\n" for m in MODULES)
        + f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])\n"
    )
    assert _python(code) == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    code = (
        "import sweeprun.integrations.lightning as m\n"
        "try:\n    m.NoSuchCallback\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert "has no attribute 'NoSuchCallback'" in _python(code)


@pytest.mark.parametrize(
    ("module", "base"),
    [
        pytest.param(m, base, marks=require(base.split(".")[0]), id=m)
        for m, base in [
            ("lightning", "lightning.pytorch.Callback"),
            ("transformers", "transformers.TrainerCallback"),
            ("keras", "keras.callbacks.Callback"),
            ("xgboost", "xgboost.callback.TrainingCallback"),
        ]
    ],
)
def test_each_callback_is_the_frameworks_kind(module: str, base: str) -> None:
    package = base.rpartition(".")[0]
    code = (
        "import os\nos.environ.setdefault('KERAS_BACKEND', 'torch')\n"
        f"import {package}\nfrom sweeprun.integrations.{module} import SweeprunCallback\n"
        f"print(issubclass(SweeprunCallback, {base}), SweeprunCallback.__module__)\n"
    )
    assert _python(code) == f"True sweeprun.integrations.{module}"


@require("pytorch_lightning")
def test_a_program_on_pytorch_lightning_gets_a_pytorch_lightning_callback() -> None:
    code = (
        "import pytorch_lightning as pl, sys\n"
        "from sweeprun.integrations.lightning import SweeprunCallback\n"
        "print(issubclass(SweeprunCallback, pl.Callback), 'lightning.pytorch' in sys.modules)\n"
    )
    assert _python(code) == "True False"


def test_the_documented_callbacks_exist() -> None:
    """Every ``from sweeprun.integrations.X import Y`` of the README and docs/integrations.md
    names a module and one of its public names (checked without importing a framework)."""
    found = set()
    for doc in (ROOT / "README.md", ROOT / "docs" / "integrations.md"):
        for module, name in re.findall(
            r"from (sweeprun\.integrations\.\w+) import (\w+)", doc.read_text()
        ):
            assert name in importlib.import_module(module).__all__, (doc.name, module, name)
            found.add(module.rpartition(".")[2])
    assert found == set(MODULES)
