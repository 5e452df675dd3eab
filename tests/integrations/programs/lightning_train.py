"""A small Lightning program as users write it, plus the one line that reports to sweeprun
(the ``SweeprunCallback()`` in the trainer's callbacks): a linear regression on random CPU
tensors, ``val_loss`` logged with ``self.log`` once per epoch. ``--lr 0`` never learns (for
pruning). Prints ``pid=<its pid>`` first and ``fit done`` after ``trainer.fit`` returns."""

import argparse
import os

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from sweeprun.integrations.lightning import SweeprunCallback

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--max_epochs", type=int, default=4)
parser.add_argument("--batches", type=int, default=4, help="training batches per epoch")
parser.add_argument("--validate", type=int, default=1, help="0: no validation loop")
parser.add_argument("--val_check_interval", type=float, default=1.0)
parser.add_argument("--check_val_every_n_epoch", type=int, default=1)
args = parser.parse_args()
print(f"pid={os.getpid()}", flush=True)


class Regressor(L.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = nn.Linear(8, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def data(n: int, gen: torch.Generator) -> TensorDataset:
    x = torch.randn(n, 8, generator=gen)
    return TensorDataset(x, x.sum(dim=1, keepdim=True))


gen = torch.Generator().manual_seed(0)
torch.manual_seed(0)
train = DataLoader(data(32 * args.batches, gen), batch_size=32)
val = DataLoader(data(64, gen), batch_size=64)
trainer = L.Trainer(
    max_epochs=args.max_epochs,
    val_check_interval=args.val_check_interval,
    check_val_every_n_epoch=args.check_val_every_n_epoch,
    accelerator="cpu",
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    callbacks=[SweeprunCallback()],  # the one line for sweeprun
)
model = Regressor(args.lr)
trainer.fit(model, train, val if args.validate else None)
print("fit done", flush=True)
