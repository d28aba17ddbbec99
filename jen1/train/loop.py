"""One training loop for both stages, on Lightning Fabric (CPU, one GPU, DDP, multi-node).

The loop owns what is common: process launch, data order, LR schedules, EMA, logging
(TensorBoard + CSV), progress, checkpoints (every N steps and on SIGTERM/SIGINT, atomic, last
K kept) and exact resume. What a step does lives in a :class:`Stage` (``jen1.train.stages``).

Data order is a pure function of (seed, step): the global sample stream is a concatenation of
seeded per-epoch permutations, optimiser step ``s`` consumes items ``[s*G, (s+1)*G)`` of it
(G = global batch), and rank ``r`` takes its micro-batches from that slice. Every sample also
carries its stream position, from which stages derive per-sample random generators, so a run
is identical whatever the number of processes, and a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from jen1 import __version__
from jen1.config import Jen1Config, TrainConfig
from jen1.errors import Jen1Error
from jen1.train.ema import EMA
from jen1.train.optim import build_scheduler

CKPT_PREFIX = "ckpt-"


class Stage(Protocol):
    """What the loop needs from a training stage (autoencoder or diffusion)."""

    name: str
    cfg: Jen1Config
    train_cfg: TrainConfig
    modules: dict[str, nn.Module]  # trainable modules, set up by the loop
    optimizers: dict[str, torch.optim.Optimizer]
    ema_names: tuple[str, ...]  # modules whose EMA is kept (and exported)

    def build(self, device: torch.device) -> None: ...

    def dataset(self) -> Dataset: ...

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]: ...

    def training_step(
        self, fabric: Any, micro_batches: list[dict[str, Any]], step: int
    ) -> dict[str, float]: ...

    def prepare_run_dir(self, run_dir: Path) -> None:
        """Keep what the run's export needs beside its checkpoints (called once, on rank 0)."""
        ...

    # Optional: ``eval_every`` (int) and ``evaluate(ema_modules, run_dir) -> {name: float}``, an
    # evaluation of the EMA weights the loop runs every ``eval_every`` steps on rank 0 and logs
    # as ``eval_<name>`` (the diffusion stage's in-training FAD, :mod:`jen1.train.probe`).
    # Optional: ``checkpoint_modules() -> dict[str, nn.Module]``, the modules a checkpoint holds
    # and ``ema_names`` name, when they are not the trained ``modules`` (a LoRA run: the
    # adapters alone, not the frozen U-Net they sit in). See :func:`checkpoint_modules`.


@dataclass
class RunOptions:
    """How to run: where, how long, on what."""

    run_dir: Path
    max_steps: int | None = None  # None: the config's max_steps
    resume: bool = False
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | None = None  # None: the config's precision
    progress: bool = True
    compile: bool = False  # torch.compile the trained networks (long runs: compiling takes minutes)


class _Indexed(Dataset):
    """Wraps a dataset so items are fetched by (stream position, index, epoch)."""

    def __init__(self, ds: Dataset):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, Any]:
        position, index, epoch = key
        if hasattr(self.ds, "set_epoch"):
            self.ds.set_epoch(epoch)
        item = dict(self.ds[index])
        item["sample_id"] = position
        return item


class StepBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Yields this rank's micro-batches for optimiser steps ``start_step .. max_steps-1``."""

    def __init__(
        self,
        n: int,
        global_batch: int,
        micro_batch: int,
        accumulate: int,
        rank: int,
        world: int,
        seed: int,
        start_step: int,
        max_steps: int,
    ):
        self.n, self.g, self.m, self.acc = n, global_batch, micro_batch, accumulate
        self.rank, self.world, self.seed = rank, world, seed
        self.start, self.stop = start_step, max_steps
        self._perm_cache: dict[int, list[int]] = {}

    def _perm(self, epoch: int) -> list[int]:
        if epoch not in self._perm_cache:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm_cache = {epoch: torch.randperm(self.n, generator=g).tolist()}
        return self._perm_cache[epoch]

    def item(self, position: int) -> tuple[int, int, int]:
        epoch, offset = divmod(position, self.n)
        return position, self._perm(epoch)[offset], epoch

    def __len__(self) -> int:
        return max(0, self.stop - self.start) * self.acc

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for step in range(self.start, self.stop):
            base = step * self.g
            for a in range(self.acc):
                first = base + (a * self.world + self.rank) * self.m
                yield [self.item(p) for p in range(first, first + self.m)]


class _StopFlag:
    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        for s in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread
                pass

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum


def list_checkpoints(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob(f"{CKPT_PREFIX}*.pt"))


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True``: no arbitrary unpickling)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise Jen1Error(f"checkpoint {path} is truncated or corrupt ({first})") from None


def make_loggers(run_dir: Path) -> list[Any]:
    """CSV (``logs/version_N/metrics.csv``) and TensorBoard loggers for a run directory.

    Each (re)start logs into a new version_N folder, so a resumed run never overwrites the curve
    before it. The loop logs every ``log_every`` steps and the CSV is written at every one of
    those calls, so a run killed without warning keeps its curve up to the last log.
    """
    from lightning.fabric.loggers import CSVLogger, TensorBoardLogger

    # flush_logs_every_n_steps=1: Lightning saves when (step + 1) % n == 0, which a step that is
    # a multiple of log_every (n = log_every) never meets - the CSV stayed empty until the end
    return [
        CSVLogger(str(run_dir), name="logs", flush_logs_every_n_steps=1),
        TensorBoardLogger(str(run_dir), name="tensorboard"),
    ]


def train(stage: Stage, opts: RunOptions) -> dict[str, Any]:
    """Run (or resume) training; returns {"step", "stopped_by_signal", "checkpoint", "logs"}."""
    from lightning.fabric import Fabric

    tc = stage.train_cfg
    max_steps = opts.max_steps if opts.max_steps is not None else tc.max_steps
    run_dir = Path(opts.run_dir)
    precision = resolve_train_precision(opts.precision or tc.precision, opts.accelerator)
    loggers = make_loggers(run_dir)
    fabric = Fabric(
        accelerator=opts.accelerator,
        devices=opts.devices,
        num_nodes=opts.num_nodes,
        strategy=opts.strategy,
        precision=precision,  # type: ignore[arg-type]
        loggers=loggers,
    )
    fabric.launch()
    world, rank = fabric.world_size, fabric.global_rank
    if tc.batch_size % (world * tc.accumulate):
        raise Jen1Error(
            f"batch_size {tc.batch_size} must be divisible by processes x accumulate "
            f"({world} x {tc.accumulate})"
        )
    micro = tc.batch_size // (world * tc.accumulate)

    torch.manual_seed(tc.seed)
    if rank == 0:
        stage.prepare_run_dir(run_dir)
    stage.build(fabric.device)
    ema = {n: EMA(checkpoint_modules(stage)[n], tc.ema_decay) for n in stage.ema_names}
    schedulers = {k: build_scheduler(o, tc) for k, o in stage.optimizers.items()}

    step = 0
    ckpt_path = latest_checkpoint(run_dir) if opts.resume else None
    if opts.resume and ckpt_path is None and rank == 0:
        print(f"no checkpoint in {run_dir}: starting from scratch")
    if not opts.resume and latest_checkpoint(run_dir) is not None:
        raise Jen1Error(f"{run_dir} already holds checkpoints: pass --resume or choose a new --out")
    if ckpt_path is not None:
        state = load_training_checkpoint(ckpt_path)
        if state.get("stage") != stage.name:
            raise Jen1Error(
                f"{ckpt_path} is a '{state.get('stage')}' checkpoint, not '{stage.name}'"
            )
        for n, m in checkpoint_modules(stage).items():
            m.load_state_dict(state["modules"][n], strict=True)
        for n, o in stage.optimizers.items():
            o.load_state_dict(state["optimizers"][n])
        for n, s in schedulers.items():
            s.load_state_dict(state["schedulers"][n])
        for n, e in ema.items():
            e.load_state_dict(state["ema"][n])
        step = int(state["step"])
        torch.set_rng_state(state["rng"]["torch"])

    if opts.compile:  # in place (nn.Module.compile): state_dict keys and checkpoints unchanged
        # the networks whose EMA is kept, or (a LoRA run, whose EMA is of its adapters) all
        for n in [n for n in stage.ema_names if n in stage.modules] or list(stage.modules):
            stage.modules[n].compile()
    for n in list(stage.modules):
        stage.modules[n] = fabric.setup_module(stage.modules[n])
    for n in list(stage.optimizers):
        stage.optimizers[n] = fabric.setup_optimizers(stage.optimizers[n])

    ds = stage.dataset()
    if len(ds) == 0:  # type: ignore[arg-type]
        raise Jen1Error("the training data set is empty")
    sampler = StepBatchSampler(
        len(ds),
        tc.batch_size,
        micro,
        tc.accumulate,
        rank,
        world,  # type: ignore[arg-type]
        tc.seed,
        step,
        max_steps,
    )
    loader = DataLoader(
        _Indexed(ds),
        batch_sampler=sampler,
        collate_fn=stage.collate,
        num_workers=tc.num_workers,
        persistent_workers=False,
    )
    stop = _StopFlag()
    stop.install()
    pbar = None
    if opts.progress and rank == 0:
        from tqdm import tqdm

        pbar = tqdm(
            total=max_steps,
            initial=step,
            desc=f"train {stage.name}",
            unit="step",
            dynamic_ncols=True,
        )
    t_last, n_last = time.perf_counter(), 0
    logs: dict[str, float] = {}
    last_saved = None
    stopped = False
    try:
        it = iter(loader)
        while step < max_steps:
            micro_batches = [next(it) for _ in range(tc.accumulate)]
            logs = stage.training_step(fabric, micro_batches, step)
            with warnings.catch_warnings():  # an optimiser may skip steps (GAN warm-up)
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
                for s in schedulers.values():
                    s.step()
            for n, e in ema.items():
                e.update(checkpoint_modules(stage)[n])
            step += 1
            n_last += tc.batch_size
            if step % tc.log_every == 0 or step == max_steps:
                now = time.perf_counter()
                logs = dict(logs)
                logs["samples_per_s"] = n_last / max(now - t_last, 1e-9)
                logs["lr"] = next(iter(stage.optimizers.values())).param_groups[0]["lr"]
                t_last, n_last = now, 0
                fabric.log_dict(logs, step=step)
                if pbar is not None:
                    pbar.set_postfix(
                        {
                            k: f"{v:.4g}"
                            for k, v in logs.items()
                            if k in ("loss", "samples_per_s", "disc")
                        }
                    )
            if pbar is not None:
                pbar.update(1)
            flag = torch.tensor(float(stop.signum is not None))
            if world > 1:
                flag = fabric.all_reduce(flag, reduce_op="max")
            if flag.item() > 0:
                stopped = True
                break
            if step % tc.ckpt_every == 0 and step < max_steps:
                last_saved = _save(fabric, stage, ema, schedulers, step, run_dir, tc.keep_last)
            every = getattr(stage, "eval_every", 0)
            if every and step % every == 0:
                _evaluate(fabric, stage, ema, step, run_dir)
        last_saved = _save(fabric, stage, ema, schedulers, step, run_dir, tc.keep_last)
    finally:
        stop.restore()
        if pbar is not None:
            pbar.close()
        for lg in loggers:
            lg.finalize("success")
    return {
        "step": step,
        "stopped_by_signal": stopped,
        "checkpoint": last_saved,
        "logs": logs,
        "rank": rank,
        "world_size": world,
    }


def _evaluate(fabric: Any, stage: Any, ema: dict[str, EMA], step: int, run_dir: Path) -> None:
    """The stage's in-training evaluation of its EMA weights, on rank 0, into the logs."""
    if fabric.global_rank == 0:
        res = stage.evaluate({n: e.shadow for n, e in ema.items()}, run_dir)
        fabric.log_dict({f"eval_{k}": v for k, v in res.items()}, step=step)
        print(f"step {step}: eval " + ", ".join(f"{k} {v:.4g}" for k, v in res.items()), flush=True)
    fabric.barrier()


def checkpoint_modules(stage: Stage) -> dict[str, nn.Module]:
    """The modules a checkpoint holds and the EMA tracks: the stage's ``checkpoint_modules()``
    where it has one, else its trained modules (unwrapped from Fabric)."""
    own = getattr(stage, "checkpoint_modules", None)
    if own is not None:
        return own()
    return {n: _unwrap(m) for n, m in stage.modules.items()}


def _unwrap(m: nn.Module) -> nn.Module:
    """The user's module inside Fabric's (and DDP's) wrappers."""
    return getattr(m, "_original_module", m)


def _save(
    fabric: Any,
    stage: Stage,
    ema: dict[str, EMA],
    schedulers: dict[str, Any],
    step: int,
    run_dir: Path,
    keep_last: int,
) -> Path:
    path = run_dir / f"{CKPT_PREFIX}{step:08d}.pt"
    if fabric.global_rank == 0:
        state = {
            "jen1_version": __version__,
            "stage": stage.name,
            "config": stage.cfg.to_dict(),
            "step": step,
            "modules": {n: m.state_dict() for n, m in checkpoint_modules(stage).items()},
            "optimizers": {n: o.state_dict() for n, o in stage.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
            "ema": {n: e.state_dict() for n, e in ema.items()},
            "rng": {"torch": torch.get_rng_state()},
            "data_position": step * stage.train_cfg.batch_size,
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        for old in list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
            old.unlink(missing_ok=True)
    fabric.barrier()
    return path


def resolve_train_precision(precision: str, accelerator: str) -> str:
    """``auto`` -> ``bf16-mixed`` where the device computes bf16 natively, else ``32-true``
    (emulated bf16 on a CPU without AVX-512 BF16 / AMX is several times slower than float32)."""
    if precision != "auto":
        return precision
    import torch

    from jen1.precision import native_bf16

    cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    return "bf16-mixed" if native_bf16("cuda" if cuda else "cpu") else "32-true"


def steps_per_epoch(n_items: int, global_batch: int) -> int:
    return math.ceil(n_items / global_batch)
