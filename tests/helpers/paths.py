"""Where things are: the tests' directories, the child programs, the installed command."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
PROGRAMS = TESTS / "programs"  # small child programs, some misbehaving on purpose
# the command of the venv running the tests, as a user would type it
SWEEPRUN = str(Path(sys.executable).parent / "sweeprun")
