"""Guidance distillation: a student that needs no classifier-free guidance (Meng et al. 2023).

One training step, per sample: a task and its mask, a time t, noise and x_t, all drawn as in the
teacher's own training (:func:`jen1.diffusion.train_step.diffusion_train_step`). The frozen
teacher runs its conditional and null-text branches in one batched call and its guided raw
prediction ``u + w (c - u)`` is the target; the student's conditional prediction alone is
regressed onto it, on the frames to generate. Every objective's x0 (and eps) is affine in the raw
prediction at fixed x_t, so guiding the raw prediction is the same as guiding x0 as the samplers
do (:func:`jen1.diffusion.guidance.cfg_denoiser`).

After training the student sampled without guidance (``cfg_scale`` 1: one network call per step)
follows the guided teacher's ODE with any of the teacher's samplers, so sampling costs half. The
target is a function of the frozen teacher only, never of the student, so unlike consistency
distillation (:mod:`jen1.diffusion.consistency`) it cannot drift or collapse as training goes on.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from jen1.conditioning.conditions import Conditions, concat_conditions
from jen1.conditioning.control_tensors import ControlTensors
from jen1.conditioning.tasks import build_unet_input, make_masks, sample_tasks
from jen1.config import DiffusionConfig
from jen1.diffusion.consistency import DistillSpec
from jen1.diffusion.objective import add_noise, diffusion_loss_per_sample, draw_noise
from jen1.diffusion.schedule import alpha_sigma, sample_train_t
from jen1.diffusion.train_step import run_unet_by_mode
from jen1.rng import Generators


def guidance_distill_step(
    student: nn.Module,
    teacher: nn.Module,
    z: Tensor,
    text_emb: Tensor,
    text_mask: Tensor,
    dcfg: DiffusionConfig,
    spec: DistillSpec,
    generator: Generators = None,
    *,
    controls: ControlTensors | None = None,
) -> dict[str, Tensor]:
    """Guidance-distillation loss of one batch; call ``.backward()`` on ``out["loss"]``.

    Runs under the caller's autocast; the target and the loss are float32.

    Args:
        student: UNet1D being trained (initialised from the teacher).
        teacher: the frozen UNet1D (no gradients are taken through it).
        z: (B, C, T) normalised clean latents.
        text_emb: (B, S, D); text_mask: (B, S) bool.
        dcfg: the teacher's schedule, objective, training times and task shares.
        spec: ``cfg_scale``, the guidance baked into the student (``steps`` and ``grid`` are
            the run's, not the step's).
        generator: one generator or B of them (:func:`jen1.rng.sample_generators`); draws in
            the order of the teacher's training step (tasks, masks, t, noise).
        controls: the batch's control labels (kept: the student learns the guided teacher
            with them; the teacher's unconditional branch drops them with the text).

    Returns:
        ``"loss"``: scalar (with grad); ``"t"``: detached mean time of the batch.
    """
    batch, _, num_frames = z.shape
    device = z.device
    tasks, causal = sample_tasks(batch, dcfg, generator)
    mask = make_masks(tasks, num_frames, dcfg, generator).to(device)  # (B, 1, T), 1 = known
    t = sample_train_t(batch, generator, device=device, dcfg=dcfg)
    alpha, sigma = alpha_sigma(t, dcfg)
    noise = draw_noise(z.shape, generator, device)
    z = z.float()
    x_t = add_noise(z, noise, alpha, sigma)
    x_in = build_unet_input(x_t, z, mask)  # (B, 2C+1, T): the same input for both networks
    cond = Conditions(
        text_emb=text_emb,
        text_mask=text_mask.to(torch.bool),
        known=z,
        mask=mask,
        controls=None if controls is None else controls.to(device),
    )
    with torch.no_grad():
        both = concat_conditions([cond, cond.with_null_text()])
        raw = run_unet_by_mode(
            teacher, torch.cat([x_in, x_in]), torch.cat([t, t]), both, torch.cat([causal, causal])
        ).float()
        raw_c, raw_u = raw.chunk(2)
        target = raw_u + spec.cfg_scale * (raw_c - raw_u)
    pred = run_unet_by_mode(student, x_in, t, cond, causal)
    loss = diffusion_loss_per_sample(pred, target, mask).mean()
    return {"loss": loss, "t": t.mean().detach()}
