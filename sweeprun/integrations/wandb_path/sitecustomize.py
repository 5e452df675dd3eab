"""sweeprun's ``sitecustomize`` on a trial's import path (``PYTHONPATH``).

It installs the wandb mirror (:mod:`sweeprun_wandb_hook`: the program's ``wandb.log`` values and
``run.summary`` writes reach sweeprun's metrics channel), then runs the ``sitecustomize`` this
one hides, if any, so a site's or a virtualenv's own customisation keeps working. A program
that never imports wandb pays for one finder on ``sys.meta_path`` that looks at one name.
"""

import sweeprun_wandb_hook

sweeprun_wandb_hook.install()
sweeprun_wandb_hook.run_hidden_sitecustomize(__file__)
