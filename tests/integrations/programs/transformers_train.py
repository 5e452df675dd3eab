"""A small Hugging Face Trainer program as users write it, plus the one line that reports to
sweeprun (``callbacks=[SweeprunCallback()]``): a 2-layer BERT classifier (2 labels, the default) built from a config (vocab 100,
nothing downloaded) learns whether the first token is below 50, evaluated every epoch."""

import argparse

import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from sweeprun.integrations.transformers import SweeprunCallback

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--output_dir", default="hf-output")
args = parser.parse_args()


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 100, (n, 16), generator=gen)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        ids = self.ids[i]
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "labels": int(ids[0] < 50),
        }


torch.manual_seed(0)
config = BertConfig(
    vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=32,
)  # fmt: skip
training = TrainingArguments(
    output_dir=args.output_dir,
    learning_rate=args.lr,
    num_train_epochs=args.epochs,
    per_device_train_batch_size=16,
    eval_strategy="epoch",
    logging_strategy="epoch",
    save_strategy="no",
    report_to="none",
    use_cpu=True,
)
trainer = Trainer(
    model=BertForSequenceClassification(config),
    args=training,
    train_dataset=Tokens(64, 1),
    eval_dataset=Tokens(32, 2),
    callbacks=[SweeprunCallback()],  # the one line for sweeprun
)
trainer.train()
