"""sweeprun's ``sitecustomize`` on a trial's import path (``PYTHONPATH``).

It puts one finder on ``sys.meta_path`` that answers for the name ``wandb`` only: when the
program imports wandb, :mod:`sweeprun_wandb_hook` loads and mirrors the program's ``wandb.log``
values and ``run.summary`` writes into sweeprun's metrics channel. Then it runs the
``sitecustomize`` this one hides, if any, so a site's or a virtualenv's own customisation keeps
working. Every trial's interpreter runs this file, so it imports nothing that ``site`` has not
already imported (``os``, ``sys``) and looks for the hidden module with a few ``stat`` calls.
"""

import os
import sys


class _SweeprunWandbFinder:
    """Finds ``wandb`` as the path finder would, with a loader that patches it after it ran."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != "wandb":
            return None
        import sweeprun_wandb_hook

        return sweeprun_wandb_hook.find_wandb(path, target)

    @staticmethod
    def invalidate_caches():  # type: ignore[no-untyped-def]
        pass


def _hidden_entries(here):  # type: ignore[no-untyped-def]
    """The ``sys.path`` entries other than ours that hold a ``sitecustomize``: a ``stat`` per
    form one is written in (a source file, its bytecode alone, a package; an extension module
    named sitecustomize is not looked for)."""
    forms = ("sitecustomize.py", "sitecustomize.pyc", os.path.join("sitecustomize", "__init__.py"))
    for entry in sys.path:
        where = os.path.abspath(entry or os.curdir)
        if where == here:
            continue
        if os.path.isdir(where):
            if any(os.path.exists(os.path.join(where, form)) for form in forms):
                yield entry
        elif os.path.isfile(where):  # a zip archive: only the path finder can tell
            yield entry


def _run_hidden():  # type: ignore[no-untyped-def]
    here = os.path.dirname(os.path.abspath(__file__))
    entries = list(_hidden_entries(here))
    if entries:
        import sweeprun_wandb_hook

        sweeprun_wandb_hook.run_sitecustomize(entries)


if os.environ.get("SWEEPRUN_WANDB_HOOK", "1") != "0":
    sys.meta_path.insert(0, _SweeprunWandbFinder)
    if "wandb" in sys.modules:  # imported by an earlier customisation
        import sweeprun_wandb_hook

        sweeprun_wandb_hook.patch_loaded(sys.modules["wandb"])
_run_hidden()
