"""Close the report fd (as a wrapper would), reuse its number for a file, then report.

The report must go to SWEEPRUN_REPORT_FILE, and the reused fd must stay untouched.
"""

import os
import sys

import sweeprun

fd = int(os.environ["SWEEPRUN_REPORT_FD"])
os.close(fd)
other = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
if other != fd:
    os.dup2(other, fd)
    os.close(other)
sweeprun.report(val_loss=0.25, step=7)
print("done", flush=True)
