"""A toy corpus of clicks at a given tempo, and a tiny U-Net trained on it to follow a tempo
control: the test that the control paths learn (tests) and the comparison of global-only and
global + time-aligned conditioning (``benchmarks/controls_toy.py``).

The "latents" are made directly, without an autoencoder: channel 0 holds a Gaussian bump
(a click) on every beat, channel 1 its negative, at :data:`FRAME_RATE` frames per second. Beats
start at a random phase in training; the model sees the tempo only through the controls (the
text is one fixed token), so a model that follows the tempo control makes clicks at the asked
rate and one that ignores it cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from jen1.conditioning.control_tensors import ControlTensors, frame_channels, grid_from_tempo
from jen1.config import ControlConfig, DiffusionConfig, UNetConfig

FRAME_RATE = 16.0  # frames per second: 60 BPM = 16 frames per beat, 180 BPM = 5.3
BPM_RANGE = (60.0, 180.0)
C = 2  # latent channels


def clicks(bpm: float, num_frames: int, phase: float = 0.0) -> Tensor:
    """(C, T) toy latent: a click (Gaussian bump, 1 frame wide) on every beat, the first at
    ``phase`` beats (0..1) after the start."""
    period = 60.0 * FRAME_RATE / bpm  # frames per beat
    f = torch.arange(num_frames, dtype=torch.float64)
    d = torch.remainder(f - phase * period + period / 2, period) - period / 2  # to the nearest
    x = 2.0 * torch.exp(-0.5 * d**2) - 0.5
    return torch.stack([x, -x]).float()


def tempo_of(z: Tensor) -> float:
    """Tempo in BPM of a toy latent (C, T): the first autocorrelation peak of channel 0 within
    80 % of the highest (a multiple of the beat period scores as high as the period itself)."""
    x = z[0].double() - z[0].double().mean()
    lags = np.arange(4, int(60 * FRAME_RATE / BPM_RANGE[0] * 1.3))
    acf = np.array([float((x[:-k] * x[k:]).sum()) / len(x) for k in lags])
    peaks = [i for i in range(1, len(acf) - 1) if acf[i - 1] <= acf[i] >= acf[i + 1]]
    top = max((acf[i] for i in peaks), default=acf.max())
    i = next((i for i in peaks if acf[i] >= 0.8 * top), int(np.argmax(acf)))
    lag = float(lags[i])
    if 0 < i < len(acf) - 1:  # parabolic refinement
        a, b, c = acf[i - 1], acf[i], acf[i + 1]
        if a - 2 * b + c < 0:
            lag += 0.5 * (a - c) / (a - 2 * b + c)
    return 60.0 * FRAME_RATE / lag


def tempo_controls(bpm: Tensor, phase: Tensor, num_frames: int, aligned: bool) -> ControlTensors:
    """Controls of a batch of toy clips: the tempo, and (``aligned``) its beat grid."""
    seconds = num_frames / FRAME_RATE
    frames = []
    for b, p in zip(bpm.tolist(), phase.tolist()):
        beats = grid_from_tempo(b, seconds, offset=p * 60.0 / b) if aligned else None
        frames.append(frame_channels(num_frames, FRAME_RATE, beats=beats))
    z = torch.zeros(len(bpm), dtype=torch.long)
    f = torch.from_numpy(np.stack(frames))
    return ControlTensors(bpm.float(), z, z.clone(), z.clone(), z.clone(), f)


@dataclass(frozen=True)
class ToyRun:
    """A tiny training run: its size, the conditioning paths and the budget."""

    aligned: bool = True
    global_embed: bool = True
    steps: int = 300
    batch: int = 16
    num_frames: int = 64
    lr: float = 3e-3
    seed: int = 0


def toy_unet_config(run: ToyRun) -> UNetConfig:
    ctl = ControlConfig(global_embed=run.global_embed, aligned=run.aligned, dropout=0.1)
    return UNetConfig(
        channels=(32, 48), num_res_blocks=1, attn_levels=(False, False), head_dim=16,
        time_dim=32, cross_attn_dim=16, groups=8, controls=ctl,
    )  # fmt: skip


TEXT_DIM = 8
DCFG = DiffusionConfig(task_shares=(1.0, 0.0, 0.0), generate_causal_share=0.0, cfg_dropout=0.1)


def _text(batch: int) -> tuple[Tensor, Tensor]:
    return torch.ones(batch, 1, TEXT_DIM), torch.ones(batch, 1, dtype=torch.bool)


def train_toy(run: ToyRun) -> tuple[torch.nn.Module, list[float]]:
    """Train a tiny U-Net on toy clicks -> (the U-Net in eval mode, the loss curve)."""
    from jen1.diffusion.train_step import diffusion_train_step
    from jen1.diffusion.unet import UNet1D

    torch.manual_seed(run.seed)
    cfg = toy_unet_config(run)
    unet = UNet1D(cfg, C, TEXT_DIM)
    opt = torch.optim.Adam(unet.parameters(), lr=run.lr)
    gen = torch.Generator().manual_seed(run.seed)
    losses = []
    for _ in range(run.steps):
        lo, hi = (math.log(b) for b in BPM_RANGE)
        bpm = torch.exp(lo + (hi - lo) * torch.rand(run.batch, generator=gen))
        phase = torch.rand(run.batch, generator=gen)
        z = torch.stack([clicks(b, run.num_frames, p) for b, p in zip(bpm.tolist(), phase)])
        controls = tempo_controls(bpm, phase, run.num_frames, run.aligned)
        out = diffusion_train_step(
            unet, z, *_text(run.batch), DCFG, gen, controls=controls,
            control_dropout=cfg.controls.dropout,
        )  # fmt: skip
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    return unet.eval(), losses


@torch.no_grad()
def sample_toy(
    unet: torch.nn.Module, bpm: list[float], run: ToyRun, *, steps: int = 12, seed: int = 1,
    with_controls: bool = True, cfg_scale: float = 1.0,
) -> Tensor:
    """(B, C, T) toy latents sampled at the asked tempi (beats from phase 0, as text-to-music
    places them), or with every control absent."""  # fmt: skip
    from jen1.diffusion.sampling import sample_latents
    from jen1.request import SamplingParams

    b, t = len(bpm), run.num_frames
    controls = tempo_controls(torch.tensor(bpm), torch.zeros(b), t, run.aligned)
    if not with_controls:
        controls = controls.all_dropped()
    emb, mask = _text(b)
    return sample_latents(
        unet, DCFG, known=torch.zeros(b, C, t), mask=torch.zeros(b, 1, t), text_emb=emb,
        text_mask=mask, params=SamplingParams(steps, cfg_scale, "ddim"),
        generator=torch.Generator().manual_seed(seed), controls=controls,
    )  # fmt: skip


def tempo_errors(unet: torch.nn.Module, bpm: list[float], run: ToyRun, **kw) -> np.ndarray:
    """Relative tempo error |est / asked - 1| of one sample per asked tempo."""
    z = sample_toy(unet, bpm, run, **kw)
    return np.array([abs(tempo_of(x) / b - 1.0) for x, b in zip(z, bpm)])

