"""Which sweeps run a Hydra program, and the ``hydra.run.dir`` override each trial gets
(sweeprun/integrations/hydra.py): the command's macros and a look at the program's file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeprun.integrations.hydra import run_dir_args, uses_hydra

MAIN = "import hydra\n\n@hydra.main(version_base=None, config_path='conf')\ndef main(cfg): ...\n"
FROM_MAIN = "from hydra import main, compose\n"
COMPOSE = "from hydra import compose, initialize\nimport argparse\n"


@pytest.mark.parametrize(
    ("source", "command", "expected"),
    [
        (MAIN, ["${interpreter}", "${program}", "${args}"], True),
        (FROM_MAIN, None, True),
        (COMPOSE, ["${interpreter}", "${program}", "${args_no_hyphens}"], False),  # parses argv
        ("import argparse\n", ["${interpreter}", "${program}", "${args_no_hyphens}"], False),
        ("import argparse\n", ["${interpreter}", "${program}", "${args_override_hydra}"], True),
        (None, ["python", "-m", "pkg.train", "${args_no_hyphens}"], True),  # cannot look
        (None, ["python", "-m", "pkg.train", "${args}"], False),
    ],
)
def test_uses_hydra(
    tmp_path: Path, source: str | None, command: list[str] | None, expected: bool
) -> None:
    program = None
    if source is not None:
        program = f"train_{abs(hash((source, str(command))))}.py"  # the file read is cached
        (tmp_path / program).write_text(source)
    assert uses_hydra(command, program, str(tmp_path)) is expected


def test_run_dir_override_unless_the_argv_has_one() -> None:
    argv = ["python", "train.py", "lr=0.1"]
    assert run_dir_args(argv, "/s/trial-00003") == ["hydra.run.dir=/s/trial-00003/hydra"]
    for mine in ("hydra.run.dir=out", "+hydra.run.dir=out", "++hydra.run.dir=out"):
        assert run_dir_args([*argv, mine], "/s/t") == []
    assert run_dir_args([*argv, "hydra.run.dirx=1"], "/s/t") != []
    # a path Hydra's grammar would not read bare is quoted
    assert run_dir_args(argv, "/home/a b/it's") == [r"hydra.run.dir='/home/a b/it\'s/hydra'"]
