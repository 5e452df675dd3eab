"""The sweep-file corpus: every valid file loads, every invalid one fails as its header says.

Each ``tests/corpus/invalid/*.yaml`` starts with ``# expect: <key path> | <message text>``;
loading it must raise a ConfigError with a problem at exactly that path whose message
contains that text. A sample also goes through the installed ``sweeprun validate``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweeprun.config.load import load_config, parse_config
from sweeprun.config.models import SweepConfig
from sweeprun.config.yamlread import EMPTY_MESSAGE
from sweeprun.errors import ConfigError
from tests.helpers.cli import run_cli
from tests.helpers.paths import ROOT

CORPUS = Path(__file__).parent.parent / "corpus"
VALID = sorted((CORPUS / "valid").glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def expectation(path: Path) -> tuple[str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
    if not first.strip():
        return "", EMPTY_MESSAGE  # the empty file cannot carry a header
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    where, _, text = first[len("# expect: ") :].partition(" | ")
    return where.strip(), text.strip()


def test_corpus_is_big_enough() -> None:
    assert len(VALID) >= 30
    assert len(INVALID) >= 40


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_file_loads_and_round_trips(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, SweepConfig)
    again = parse_config(cfg.model_dump(), source="stored")
    assert again.model_dump() == cfg.model_dump()
    from_json = parse_config(json.loads(cfg.model_dump_json()), source="stored")
    assert from_json.model_dump(mode="json") == cfg.model_dump(mode="json")


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_file_fails_with_path_and_text(path: Path) -> None:
    where, text = expectation(path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    assert str(path) in str(err)
    matching = [p for p in err.problems if p.path == where]
    assert matching, f"no problem at {where!r}; got {err.problems}"
    assert any(text in p.message for p in matching), str(err)


SAMPLE = [p for p in INVALID if p.stem in {
    "unknown-top-key", "syntax-error", "grid-continuous", "min-ge-max", "empty-file",
    "metric-missing-bayes", "bad-duration", "unknown-distribution", "duplicate-key",
}]  # fmt: skip


@pytest.mark.parametrize("path", SAMPLE, ids=lambda p: p.name)
def test_invalid_sample_exits_2_from_the_cli(path: Path) -> None:
    where, text = expectation(path)
    result = run_cli("validate", str(path)).assert_code(2)
    assert result.stdout == ""
    assert str(path) in result.stderr
    assert text in result.stderr
    if where:
        assert f"at {where}" in result.stderr


def test_line_numbers_point_at_the_key() -> None:
    err = _error(CORPUS / "invalid" / "min-ge-max.yaml")
    assert err.problems[0].line == 5  # `min: 0.5`
    err = _error(CORPUS / "invalid" / "metrics-bad-goal.yaml")
    assert err.problems[0].line == 5
    assert "line 5" in str(err)


def test_the_configs_directory_validates() -> None:
    assert CONFIGS, "configs/ has example sweeps"
    result = run_cli("validate", *map(str, CONFIGS), cwd=ROOT).assert_success()
    for path in CONFIGS:
        assert f"{path}: ok — method " in result.stdout


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value
