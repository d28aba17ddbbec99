"""One multi-task training step of the omnidirectional latent diffusion model (JEN-1 section 4.3).

Per sample: a task (text-to-music, inpainting, continuation) and its mask, a causal flag, a time
t, noise, and CFG text dropout; then the U-Net runs once on the causal samples and once on the
bidirectional ones, and the loss covers the frames to generate only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jen1 import rng
from jen1.conditioning.conditions import Conditions
from jen1.conditioning.control_tensors import ControlTensors, drop_controls
from jen1.conditioning.tasks import Task, build_unet_input, make_masks, sample_tasks
from jen1.config import DiffusionConfig
from jen1.diffusion.objective import (
    add_noise,
    diffusion_loss_per_sample,
    draw_noise,
    training_target,
)
from jen1.diffusion.schedule import alpha_sigma, sample_train_t
from jen1.rng import Generators


def uniform_draws(batch: int, generator: Generators, device: torch.device) -> Tensor:
    """(B,) U(0, 1) draws on the generator's device (row b from generator b for a sequence)."""
    if generator is None or isinstance(generator, torch.Generator):
        gen_device = generator.device if generator is not None else torch.device("cpu")
        return torch.rand(batch, generator=generator, device=gen_device).to(device)
    return rng.rand((batch,), generator, device=device)


def run_unet_by_mode(
    unet: nn.Module, x: Tensor, t: Tensor, cond: Conditions, causal: Tensor
) -> Tensor:
    """Run the U-Net with a per-sample causal flag: one call per mode present.

    Args:
        unet: UNet1D.
        x: (B, 2C+1, T) U-Net input.
        t: (B,) times.
        cond: conditions for the B samples.
        causal: (B,) bool.

    Returns:
        (B, C, T) raw prediction, in the original sample order.
    """
    causal = causal.to(torch.bool).cpu()
    if bool(causal.all()) or not bool(causal.any()):
        return unet(x, t, cond, causal=bool(causal[0]) if len(causal) else False)
    outs, order = [], []
    for flag in (True, False):
        idx = torch.nonzero(causal == flag).flatten()
        idx_dev = idx.to(x.device)
        outs.append(unet(x[idx_dev], t[idx_dev], cond.select(idx_dev), causal=flag))
        order.append(idx)
    inverse = torch.argsort(torch.cat(order)).to(x.device)
    return torch.cat(outs, dim=0)[inverse]


def diffusion_train_step(
    unet: nn.Module,
    z: Tensor,
    text_emb: Tensor,
    text_mask: Tensor,
    dcfg: DiffusionConfig,
    generator: Generators = None,
    *,
    controls: ControlTensors | None = None,
    control_dropout: float = 0.0,
) -> dict[str, Tensor]:
    """Loss of one batch; call ``.backward()`` on ``out["loss"]``.

    Runs under the caller's autocast; schedule and loss math are float32.

    Args:
        unet: UNet1D (train mode is the caller's).
        z: (B, C, T) normalised clean latents.
        text_emb: (B, S, D) prompt tokens.
        text_mask: (B, S) bool, True = real token.
        dcfg: schedule, objective, task shares, mask bounds, ``cfg_dropout``.
        generator: source of all randomness (tasks, masks, t, noise, dropout), drawn on the
            generator's device (a CPU generator gives the same draws on any device). One generator:
            task counts and times are stratified over the batch. A sequence of B generators
            (:func:`jen1.rng.sample_generators`): every draw of sample b comes from generator b,
            independent of the rest of the batch.
        controls: the batch's musical-control labels, frames (B, K, T) (absent ones coded
            absent); each control is dropped with probability ``control_dropout`` per sample,
            and all of them where the text is dropped (:func:`drop_controls`). Drawn after
            every other draw, so a batch without controls draws exactly as before.

    Returns:
        ``"loss"``: scalar mean over the batch (with grad). ``"loss_generate"``,
        ``"loss_inpaint"``, ``"loss_continue"``: detached mean over the samples of that task,
        present only when the batch holds that task (so never NaN).
    """
    batch, _, num_frames = z.shape
    device = z.device
    tasks, causal = sample_tasks(batch, dcfg, generator)
    mask = make_masks(tasks, num_frames, dcfg, generator).to(device)  # (B, 1, T), 1 = known
    t = sample_train_t(batch, generator, device=device, dcfg=dcfg)
    alpha, sigma = alpha_sigma(t, dcfg)
    noise = draw_noise(z.shape, generator, device)
    drop_text = uniform_draws(batch, generator, device) < dcfg.cfg_dropout
    if controls is not None:
        controls = drop_controls(controls.to(device), control_dropout, drop_text, generator)

    z = z.float()
    x_t = add_noise(z, noise, alpha, sigma)
    cond = Conditions(
        text_emb=text_emb,
        text_mask=text_mask.to(torch.bool),
        known=z,
        mask=mask,
        drop_text=drop_text,
        controls=controls,
    )
    pred = run_unet_by_mode(unet, build_unet_input(x_t, z, mask), t, cond, causal)
    target = training_target(z, noise, alpha, sigma, dcfg.objective)
    per_sample = diffusion_loss_per_sample(pred, target, mask)  # (B,)

    out = {"loss": per_sample.mean()}
    detached = per_sample.detach()
    for task in Task:
        picked = [i for i, tk in enumerate(tasks) if tk is task]
        if picked:
            out[f"loss_{task.value}"] = detached[torch.tensor(picked, device=device)].mean()
    return out
