"""`sweeprun validate` and `sweeprun schema` as a user runs them (the installed command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sweeprun.config.parameters import DISTRIBUTIONS, PARAM_KEYS
from sweeprun.config.yamlread import load_yaml
from tests.helpers.cli import assert_imports_nothing_heavy, run_cli
from tests.helpers.paths import ROOT

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
        "notes": ["note: 'project' is a W&B-only key; sweeprun ignores it"], "warnings": [],
    }  # fmt: skip
    assert rows[1]["search_space"] is None and rows[1]["method"] == "bayes"


def test_a_bad_file_exits_2_and_the_others_are_still_reported(files: dict[str, Path]) -> None:
    result = run_cli("validate", str(files["grid"]), str(files["bad"]), str(files["bayes"]))
    result.assert_code(2)
    assert result.stdout.startswith(f"{files['grid']}: ok")
    assert f"{files['bayes']}: ok" in result.stdout
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


def test_options_and_files_in_any_order(files: dict[str, Path]) -> None:
    grid, bayes = str(files["grid"]), str(files["bayes"])
    rows = run_cli("validate", grid, "--json", bayes).assert_success().stdout.splitlines()
    assert [json.loads(r)["file"] for r in rows] == [grid, bayes]


def test_double_dash_ends_the_options(tmp_path: Path) -> None:
    dashed = tmp_path / "-dashed.yaml"
    dashed.write_text(BAYES)
    res = run_cli("validate", "--json", "--", dashed.name, cwd=tmp_path).assert_success()
    assert json.loads(res.stdout)["file"] == "-dashed.yaml"
    res = run_cli("validate", dashed.name, cwd=tmp_path).assert_code(2)
    assert "unknown option '-dashed.yaml'" in res.stderr


def test_a_mistyped_option_is_a_usage_error(files: dict[str, Path]) -> None:
    res = run_cli("validate", str(files["grid"]), "--jsn").assert_code(2)
    assert res.stdout == ""  # nothing validated: the command line is refused first
    assert "sweeprun validate: unknown option '--jsn'; did you mean '--json'?" in res.stderr
    assert "see `sweeprun validate --help`" in res.stderr


def test_validate_does_not_import_optuna() -> None:
    configs = sorted(str(p) for p in (ROOT / "configs").glob("*.yaml"))
    assert_imports_nothing_heavy(
        "import sweeprun.cli.main\n"
        f"assert sweeprun.cli.main.run(['validate', '--json', *{configs!r}]) == 0\n"
        f"assert sweeprun.cli.main.run(['validate', *{configs!r}]) == 0"
    )


@pytest.mark.parametrize(
    "args",
    [["--help"], [], ["validate", "--help"], ["start", "--help"], ["init", "--help"],
     ["strat"], ["start", "--jbos", "2"]],
)  # fmt: skip
def test_help_and_usage_errors_do_not_import_optuna(args: list[str]) -> None:
    assert_imports_nothing_heavy(
        "import sweeprun.cli.main\n"
        f"try:\n    sweeprun.cli.main.main({args!r})\n"
        "except SystemExit as e:\n    assert e.code in (0, 2), e.code\n"
        "else:\n    raise AssertionError('no exit')"
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
