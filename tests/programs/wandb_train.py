"""A training program written the W&B way, as users write it: argparse defaults handed to
``wandb.init(project=..., config=vars(args))``, hyperparameters read from ``wandb.config``, one
``wandb.log`` per epoch. Nothing in it knows sweeprun.

Prints ``project=<run.project> lr=<wandb.config.lr>``; the loss of epoch e is
``lr * (epochs - e)``. ``--summary V`` also writes ``run.summary["val_loss"] = V``.
"""

import argparse
import time

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--summary", type=float, default=None)
args = parser.parse_args()

run = wandb.init(project="my-project", config=vars(args))
lr = wandb.config.lr
print(f"project={run.project} lr={lr}", flush=True)
for epoch in range(wandb.config.epochs):
    wandb.log({"val_loss": lr * (wandb.config.epochs - epoch), "epoch": epoch})
    time.sleep(args.sleep)
if args.summary is not None:
    run.summary["val_loss"] = args.summary
run.finish()
