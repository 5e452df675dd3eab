"""`sweeprun validate` and `sweeprun schema` as a user runs them (the installed command)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweeprun.config.parameters import DISTRIBUTIONS, PARAM_KEYS
from sweeprun.config.yamlread import load_yaml
from tests.conftest import ROOT, assert_fast_path_skips_typer, run_cli

CORPUS = Path(__file__).parent.parent / "corpus"
GRID = """\
project: demo
method: grid
metric: {name: val_loss}
parameters:
  a: {values: [1, 2, 3]}
  b: {min: 1, max: 4}
  nested:
    parameters:
      c: {distribution: q_uniform, min: 0, max: 1, q: 0.25}
      d: {value: 3}
"""
BAYES = """\
method: bayes
metrics:
  - {name: acc, goal: maximize}
  - {name: size}
parameters:
  lr: {min: 1e-5, max: 1e-1}
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {
        "grid": GRID,
        "bayes": BAYES,
        "bad": "method: grid\nparameters: {}\n",
    }.items():
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text)
    return out


def test_summary_lines_and_notes(files: dict[str, Path]) -> None:
    result = run_cli("validate", str(files["grid"]), str(files["bayes"])).assert_success()
    assert result.stdout.splitlines() == [
        f"{files['grid']}: ok — method grid, metric val_loss (minimize), 4 parameters, "
        "search space 48 points",
        "  note: 'project' is a W&B-only key; sweeprun ignores it",
        f"{files['bayes']}: ok — method bayes, metrics acc (maximize), size (minimize), "
        "1 parameter, search space continuous",
    ]
    assert result.stderr == ""


def test_json_output(files: dict[str, Path]) -> None:
    result = run_cli("validate", "--json", str(files["grid"]), str(files["bayes"]))
    rows = [json.loads(line) for line in result.assert_success().stdout.splitlines()]
    assert rows[0] == {
        "file": str(files["grid"]), "ok": True, "method": "grid",
        "metrics": [{"name": "val_loss", "goal": "minimize"}], "parameters": 4,
        "search_space": 48, "early_terminate": None,
        "notes": ["note: 'project' is a W&B-only key; sweeprun ignores it"],
    }  # fmt: skip
    assert rows[1]["search_space"] is None and rows[1]["method"] == "bayes"


def test_first_bad_file_stops_with_exit_2(files: dict[str, Path]) -> None:
    result = run_cli("validate", str(files["grid"]), str(files["bad"]), str(files["bayes"]))
    result.assert_code(2)
    assert result.stdout.startswith(f"{files['grid']}: ok")
    assert str(files["bayes"]) not in result.stdout
    assert result.stderr == (
        f"sweeprun: {files['bad']}: invalid sweep configuration\n"
        "  at parameters (line 2): `parameters` is empty: add at least one, e.g. "
        "`lr: {min: 0.0001, max: 0.1}`\n"
    )


@pytest.mark.parametrize(
    ("target", "text"),
    [("missing.yaml", "missing.yaml: invalid sweep configuration\n  at (top level): no such file"),
     (".", "this is a directory, not a sweep file")],
)  # fmt: skip
def test_unreadable_paths(tmp_path: Path, target: str, text: str) -> None:
    result = run_cli("validate", target, cwd=tmp_path).assert_code(2)
    assert text in result.stderr


@pytest.mark.parametrize(
    "args",
    [["grid", "bayes"], ["--json", "grid", "bayes"], ["grid", "--json", "bad", "bayes"],
     ["grid", "missing"]],
)  # fmt: skip
def test_plain_form_matches_typer_parsing(files: dict[str, Path], args: list[str]) -> None:
    """`validate FILE... [--json]` skips typer; `--` sends the same files through typer."""
    argv = [a if a.startswith("-") else str(files.get(a, a)) for a in args]
    fast = run_cli("validate", *argv)
    options = [a for a in argv if a.startswith("-")]
    parsed = run_cli("validate", *options, "--", *[a for a in argv if a not in options])
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        parsed.returncode,
        parsed.stdout,
        parsed.stderr,
    )
    assert fast.returncode == (0 if "bad" not in args and "missing" not in args else 2)


def test_plain_validate_skips_typer(files: dict[str, Path]) -> None:
    err = assert_fast_path_skips_typer(
        ["validate", str(files["grid"]), "--json"], ["validate", "--jsn"], ROOT
    )
    assert "No such option: --jsn" in err


def _no_optuna(code: str) -> None:
    script = f"import sys\n{code}\nassert 'optuna' not in sys.modules, 'optuna imported'\n"
    script += "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\nprint('clean')\n"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean")


def test_validate_does_not_import_optuna() -> None:
    configs = sorted(str(p) for p in (ROOT / "configs").glob("*.yaml"))
    _no_optuna(
        "import sweeprun.cli.main, sweeprun.commands.validate\n"
        "from pathlib import Path\n"
        f"assert sweeprun.commands.validate.run([Path(p) for p in {configs!r}]) == 0"
    )


def test_help_does_not_import_optuna() -> None:
    _no_optuna(
        "import sweeprun.cli.main\n"
        "try:\n    sweeprun.cli.main.main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "try:\n    sweeprun.cli.main.main(['validate', '--help'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0"
    )


# ---- schema -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    result = run_cli("schema").assert_success()
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_schema_shape(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "sweeprun sweep configuration"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) == {"method", "parameters"}
    assert "tpe" in schema["properties"]["method"]["enum"]
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.split("/")[-1] in schema["$defs"]
    # pydantic leaves ge/gt on validated types; the schema must use JSON Schema words
    assert not {"ge", "gt", "le", "lt"} & _keys(schema)
    param = schema["$defs"]["ParamSpec"]
    assert set(PARAM_KEYS) <= set(param["properties"])
    dist = param["properties"]["distribution"]
    enums = [o.get("enum") for o in dist.get("anyOf", [dist]) if o.get("enum")]
    assert enums and set(enums[0]) == set(DISTRIBUTIONS)
    assert schema["properties"]["parameters"]["propertyNames"]["pattern"].startswith("^[A-Za-z_]")
    for prop in schema["properties"].values():
        assert prop.get("description") or "$ref" in prop or "anyOf" in prop


def _object_schema(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    for option in [node, *node.get("anyOf", [])]:
        if "$ref" in option:
            return schema["$defs"][option["$ref"].split("/")[-1]]
        if option.get("type") == "object" and "properties" in option:
            return option
    return None


def _check(schema: dict[str, Any], node: dict[str, Any], data: Any, where: str) -> None:
    """A small structural check: every key of ``data`` is a property of its object schema."""
    if not isinstance(data, dict) or node.get("additionalProperties") is not False:
        return
    for key, value in data.items():
        assert key in node["properties"], f"{where}.{key} missing from the schema"
        sub = _object_schema(schema, node["properties"][key])
        if sub is not None:
            _check(schema, sub, value, f"{where}.{key}")
        if key == "parameters" and isinstance(value, dict):
            for name, spec in value.items():
                _check(schema, schema["$defs"]["ParamSpec"], spec, f"{where}.{key}.{name}")


VALID_FILES = sorted((CORPUS / "valid").glob("*.yaml")) + sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_schema_covers_valid_files(schema: dict[str, Any], path: Path) -> None:
    _check(schema, schema, load_yaml(path).data, path.name)


def test_structural_check_catches_unknown_keys(schema: dict[str, Any]) -> None:
    with pytest.raises(AssertionError, match=r"sweep\.trial\.timout missing"):
        _check(schema, schema, {"method": "grid", "trial": {"timout": 3}}, "sweep")
    with pytest.raises(AssertionError, match=r"sweep\.parameters\.x\.mni missing"):
        _check(schema, schema, {"parameters": {"x": {"mni": 1}}}, "sweep")


def test_schema_validates_with_jsonschema(schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")  # not a dependency: used when installed
    for path in VALID_FILES:
        jsonschema.validate(json.loads(json.dumps(load_yaml(path).data)), schema)
