"""Consistency distillation of a guided teacher into a few-step student (LCM, Luo et al. 2023).

One training step, per sample: a task and its mask (as the teacher was trained), a point
``t_hi = ts[n]`` of the teacher's solver grid ``ts`` (:func:`make_timesteps` with ``grid``
steps), ``x_hi`` noised from the clean latent, then one guided DDIM step of the teacher from
``t_hi`` to ``t_lo = ts[n + 1]``. The student's x0 estimate at ``(x_hi, t_hi)`` is pulled to its
own (stop-gradient) estimate at ``(x_lo, t_lo)``: so every point of one ODE trajectory maps to the
same x0, which is what lets it jump from noise to music in a few steps. The teacher's guidance
(``cfg_scale``) is baked in, so the student runs one network call per step without guidance.

The boundary condition f(x, 0) = x holds by construction: every objective's x0 estimate at
t = 0 (alpha = 1, sigma = 0) is x itself, so the last grid step's target is the teacher's own
guided x0. Known frames (inpainting, continuation) carry no loss, as in the teacher's training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from jen1.conditioning.conditions import Conditions, concat_conditions
from jen1.conditioning.control_tensors import ControlTensors
from jen1.conditioning.tasks import build_unet_input, make_masks, sample_tasks
from jen1.config import DiffusionConfig
from jen1.diffusion.objective import (
    add_noise,
    diffusion_loss_per_sample,
    draw_noise,
    expand_like,
    prediction_to_x0_eps,
)
from jen1.diffusion.schedule import alpha_sigma, make_timesteps
from jen1.diffusion.train_step import run_unet_by_mode, uniform_draws
from jen1.errors import Jen1Error
from jen1.rng import Generators


METHODS = ("consistency", "guidance")  # jen1 train distill --distill-method


@dataclass(frozen=True)
class DistillSpec:
    """What a distillation run makes: the method, the student's steps, the teacher's grid and
    guidance.

    ``method`` "consistency" is this module's few-step student (it samples with ``lcm``);
    "guidance" is :mod:`jen1.diffusion.guidance_distill`'s unguided student (it samples with the
    teacher's sampler, and ``grid`` plays no part).
    """

    steps: int = 4  # the student's default sampling steps (its exported config)
    grid: int = 32  # steps of the teacher's DDIM grid: one of them per training sample
    cfg_scale: float = 2.0  # the teacher's guidance scale, baked into the student
    method: str = "consistency"

    def check(self) -> None:
        if self.method not in METHODS:
            raise Jen1Error(
                f"--distill-method must be one of {', '.join(METHODS)}, got '{self.method}'"
            )
        if self.steps < 1:
            raise Jen1Error(f"--distill-steps must be at least 1, got {self.steps}")
        if self.grid < 2:
            raise Jen1Error(f"--distill-grid must be at least 2, got {self.grid}")
        if self.method == "consistency" and self.grid % self.steps:
            # the student is trained on grid times only: its own grid must be part of it
            raise Jen1Error(
                f"--distill-grid ({self.grid}) must be a multiple of --distill-steps ({self.steps})"
            )
        if not self.cfg_scale >= 0:
            raise Jen1Error(f"--distill-cfg must be at least 0, got {self.cfg_scale}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DistillSpec":
        # runs from before the guidance method have no "method": they are consistency runs
        return cls(
            int(data["steps"]),
            int(data["grid"]),
            float(data["cfg_scale"]),
            str(data.get("method", "consistency")),
        )


def _x0(
    unet: nn.Module, x: Tensor, t: Tensor, cond: Conditions, causal: Tensor, dcfg: DiffusionConfig
) -> Tensor:
    """(B, C, T) x0 estimate of ``unet`` at (x, t), known frames set to ``cond.known``."""
    raw = run_unet_by_mode(unet, build_unet_input(x, cond.known, cond.mask), t, cond, causal)
    alpha, sigma = alpha_sigma(t.float(), dcfg)
    x0, _ = prediction_to_x0_eps(raw, x, alpha, sigma, dcfg.objective)
    mask = cond.mask.float()
    return mask * cond.known.float() + (1 - mask) * x0


def consistency_distill_step(
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
    """Consistency-distillation loss of one batch; call ``.backward()`` on ``out["loss"]``.

    Args:
        student: UNet1D being trained (initialised from the teacher).
        teacher: the frozen UNet1D (no gradients are taken through it).
        z: (B, C, T) normalised clean latents.
        text_emb: (B, S, D); text_mask: (B, S) bool.
        dcfg: the teacher's schedule, objective and task shares.
        spec: grid and guidance scale.
        generator: one generator or B of them (:func:`jen1.rng.sample_generators`).
        controls: the batch's control labels (kept: the student learns the guided teacher
            with them; the teacher's unconditional branch drops them with the text).

    Returns:
        ``"loss"``: scalar (with grad); ``"t_hi"``: detached mean time of the batch.
    """
    batch, _, num_frames = z.shape
    device = z.device
    tasks, causal = sample_tasks(batch, dcfg, generator)
    mask = make_masks(tasks, num_frames, dcfg, generator).to(device)
    grid = make_timesteps(spec.grid, dcfg).to(device)
    n = (uniform_draws(batch, generator, device) * spec.grid).long().clamp(max=spec.grid - 1)
    t_hi, t_lo = grid[n].float(), grid[n + 1].float()
    noise = draw_noise(z.shape, generator, device)
    z = z.float()
    a_hi, s_hi = alpha_sigma(t_hi, dcfg)
    a_lo, s_lo = alpha_sigma(t_lo, dcfg)
    x_hi = add_noise(z, noise, a_hi, s_hi)
    cond = Conditions(
        text_emb=text_emb,
        text_mask=text_mask.to(torch.bool),
        known=z,
        mask=mask,
        controls=None if controls is None else controls.to(device),
    )
    with torch.no_grad():
        both = concat_conditions([cond, cond.with_null_text()])
        x0_both = _x0(
            teacher,
            torch.cat([x_hi, x_hi]),
            torch.cat([t_hi, t_hi]),
            both,
            torch.cat([causal, causal]),
            dcfg,
        ).float()
        x0_c, x0_u = x0_both.chunk(2)
        x0_teacher = x0_u + spec.cfg_scale * (x0_c - x0_u)
        # the teacher's DDIM step t_hi -> t_lo along its guided ODE
        eps = (x_hi - expand_like(a_hi, z) * x0_teacher) / expand_like(s_hi, z)
        x_lo = expand_like(a_lo, z) * x0_teacher + expand_like(s_lo, z) * eps
        target = _x0(student, x_lo, t_lo, cond, causal, dcfg).float()
    pred = _x0(student, x_hi, t_hi, cond, causal, dcfg)
    loss = diffusion_loss_per_sample(pred, target, mask).mean()
    return {"loss": loss, "t_hi": t_hi.mean().detach()}
