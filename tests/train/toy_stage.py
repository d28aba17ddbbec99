"""A tiny regression stage for testing the training loop (DDP, resume, signals) in seconds."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from jen1.config import TrainConfig, load_config
from jen1.rng import randn, sample_generators
from jen1.train.optim import build_optimizer


class ToyData(Dataset):
    def __init__(self, n: int = 37):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.randn(8, 1, generator=g)
        self.epoch = 0

    def set_epoch(self, e: int) -> None:
        self.epoch = e

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return {"x": self.x[i], "y": self.y[i]}


class ToyStage:
    name = "toy"
    ema_names = ("net",)

    def __init__(self, train_cfg: TrainConfig, sleep: float = 0.0):
        self.cfg = load_config("tiny")
        self.train_cfg = train_cfg
        self.sleep = sleep
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict = {}

    def build(self, device):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1)).to(device)
        self.modules = {"net": net}
        self.optimizers = {"net": build_optimizer(list(net.parameters()), self.train_cfg)}

    def dataset(self):
        return ToyData()

    def collate(self, items):
        return {
            "x": torch.stack([i["x"] for i in items]),
            "y": torch.stack([i["y"] for i in items]),
            "sample_id": torch.tensor([i["sample_id"] for i in items]),
        }

    def training_step(self, fabric, micro_batches, step):
        net, opt = self.modules["net"], self.optimizers["net"]
        opt.zero_grad()
        total = 0.0
        for mb in micro_batches:
            gens = sample_generators(0, mb["sample_id"])
            noise = randn(mb["x"].shape, gens)  # per-sample randomness, as the real stages do
            pred = net(mb["x"] + 0.1 * noise)
            # per-sample loss summed, divided by the global batch: equal across splits
            loss = ((pred - mb["y"]) ** 2).sum() / (self.train_cfg.batch_size / fabric.world_size)
            fabric.backward(loss)
            total += float(loss.detach())
        fabric.clip_gradients(net, opt, max_norm=self.train_cfg.grad_clip)
        opt.step()
        if self.sleep:
            time.sleep(self.sleep)
        return {"loss": total}

    def prepare_run_dir(self, run_dir):
        pass  # nothing to keep beside the checkpoints


def main() -> None:
    """python tests/train/toy_stage.py OUT DEVICES MAX_STEPS BATCH ACC [RESUME] [SLEEP] [COMPILE]"""
    from jen1.train.loop import RunOptions, train

    out, devices, max_steps, batch, acc = sys.argv[1:6]
    resume = len(sys.argv) > 6 and sys.argv[6] == "1"
    sleep = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    compile_ = len(sys.argv) > 8 and sys.argv[8] == "1"
    tc = TrainConfig(
        batch_size=int(batch),
        accumulate=int(acc),
        max_steps=1000,
        warmup_steps=2,
        ckpt_every=5,
        keep_last=2,
        log_every=1,
        lr=0.05,
        precision="32-true",
    )
    stage = ToyStage(tc, sleep)
    res = train(
        stage,
        RunOptions(
            run_dir=Path(out),
            max_steps=int(max_steps),
            resume=resume,
            accelerator="cpu",
            devices=int(devices),
            strategy="ddp" if int(devices) > 1 else "auto",
            progress=False,
            compile=compile_,
        ),
    )
    net = stage.modules["net"]
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    torch.save(flat, Path(out) / f"params-rank{res['rank']}.pt")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
