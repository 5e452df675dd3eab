"""Report metrics with sweeprun.report while printing noise, including a fake JSON line."""

import sys

import sweeprun

print("noise: starting", flush=True)
print('{"val_loss": 999.0, "step": 0}', flush=True)  # a fake metric on stdout
for step in range(3):
    sweeprun.report(val_loss=1.0 / (step + 1), step=step)
    print(f"noise {step} with val_loss=555", flush=True)
    print("stderr noise", file=sys.stderr, flush=True)
sweeprun.report(acc=0.5)
