"""A trial of the launch-window test: it leaves its pid in ``$LW_DIR``, waits while the file
``$LW_HOLD`` exists (only the first controller sets it), then appends its ``x`` to
``$LW_DIR/runs.log`` and reports ``loss``. Its parameters come from ``SWEEPRUN_PARAMS``: the
``${args_json_file}`` the sweep passes is there only to make sweeprun write that file."""

import json
import os
import time
from pathlib import Path

x = json.loads(os.environ["SWEEPRUN_PARAMS"])["x"]
out = Path(os.environ["LW_DIR"])
(out / f"pid-{os.getpid()}").write_text(str(x))
hold = os.environ.get("LW_HOLD")
while hold and os.path.exists(hold):
    time.sleep(0.02)
with open(out / "runs.log", "a") as fh:
    fh.write(f"{x}\n")
print(json.dumps({"loss": float(x)}))
