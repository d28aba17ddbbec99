"""Parameterisations of the U-Net output and the per-sample diffusion loss.

With ``x_t = alpha * z + sigma * eps`` (alpha**2 + sigma**2 = 1):

- ``"eps"`` (JEN-1, DDPM): the network predicts eps; ``x0 = (x_t - sigma * eps) / alpha``.
- ``"v"`` (Salimans & Ho 2022): the network predicts ``v = alpha * eps - sigma * z``;
  ``x0 = alpha * x_t - sigma * v`` and ``eps = sigma * x_t + alpha * v``.
- ``"flow"`` (rectified flow, flow matching; Liu et al. 2022, Lipman et al. 2022), only with the
  flow schedule (alpha = 1 - t, sigma = t, so alpha + sigma = 1 instead): the network predicts
  the velocity ``u = dx_t/dt = eps - z``; ``x0 = x_t - sigma * u`` and ``eps = x_t + alpha * u``,
  which never divide (alpha = 0 at t = 1 is fine).

All math runs in float32 (a bf16 prediction from autocast is upcast first).
"""

from __future__ import annotations

import torch
from torch import Tensor

from jen1 import rng
from jen1.errors import Jen1Error
from jen1.rng import Generators

OBJECTIVES = ("v", "eps", "flow")


def _check(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise Jen1Error(
            f"unknown diffusion.objective '{objective}': use one of {', '.join(OBJECTIVES)}"
        )


def expand_like(s: Tensor | float, x: Tensor) -> Tensor:
    """Broadcast a scalar or (B,) tensor to (B, 1, 1) float32 on ``x``'s device."""
    s = torch.as_tensor(s, device=x.device).to(torch.float32)
    if s.ndim == 0:
        return s
    return s.reshape(-1, *([1] * (x.ndim - 1)))


def draw_noise(
    shape: tuple[int, ...] | torch.Size, generator: Generators, device: torch.device
) -> Tensor:
    """Standard normal float32 noise drawn on the generator's device, then moved to ``device``.

    A CPU generator thus gives the same noise whatever device the model runs on. With a sequence
    of B generators (:mod:`jen1.rng`), row b comes from generator b.
    """
    if generator is None or isinstance(generator, torch.Generator):
        gen_device = generator.device if generator is not None else torch.device(device)
        return torch.randn(tuple(shape), generator=generator, device=gen_device).to(device)
    return rng.randn(tuple(shape), generator, device=device)


def add_noise(z: Tensor, noise: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """``x_t = alpha * z + sigma * noise``.

    Args:
        z: (B, C, T) clean latent.
        noise: (B, C, T) standard normal noise.
        alpha: scalar or (B,) signal scale.
        sigma: scalar or (B,) noise scale.

    Returns:
        (B, C, T) float32 noisy latent.
    """
    return expand_like(alpha, z) * z.float() + expand_like(sigma, z) * noise.float()


def training_target(
    z: Tensor, noise: Tensor, alpha: Tensor, sigma: Tensor, objective: str
) -> Tensor:
    """Regression target of the network for clean ``z`` noised with ``noise``.

    Args:
        z: (B, C, T) clean latent.
        noise: (B, C, T) the eps used to build x_t.
        alpha: scalar or (B,).
        sigma: scalar or (B,).
        objective: "v", "eps" or "flow".

    Returns:
        (B, C, T) float32 target.
    """
    _check(objective)
    if objective == "eps":
        return noise.float()
    if objective == "flow":  # the velocity of the straight path; alpha and sigma are not needed
        return noise.float() - z.float()
    return expand_like(alpha, z) * noise.float() - expand_like(sigma, z) * z.float()


def prediction_to_x0_eps(
    pred: Tensor, x_t: Tensor, alpha: Tensor, sigma: Tensor, objective: str
) -> tuple[Tensor, Tensor]:
    """Turn the raw network prediction into (x0_hat, eps_hat).

    Args:
        pred: (B, C, T) raw U-Net output.
        x_t: (B, C, T) noisy input.
        alpha: scalar or (B,) (> 0 for "eps": the cosine schedule never reaches 0).
        sigma: scalar or (B,).
        objective: "v", "eps" or "flow" (the latter with the flow schedule's alpha, sigma).

    Returns:
        (x0_hat, eps_hat), each (B, C, T) float32.
    """
    _check(objective)
    pred, x_t = pred.float(), x_t.float()
    a, s = expand_like(alpha, x_t), expand_like(sigma, x_t)
    if objective == "eps":
        return (x_t - s * pred) / a, pred
    if objective == "flow":
        return x_t - s * pred, x_t + a * pred
    return a * x_t - s * pred, s * x_t + a * pred


def diffusion_loss_per_sample(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean squared error over channels and the frames to generate (``mask == 0``).

    Known frames (``mask == 1``) carry no loss: JEN-1 trains only on what is generated. A sample
    without any frame to generate gets loss 0.

    Args:
        pred: (B, C, T) raw prediction.
        target: (B, C, T) target from :func:`training_target`.
        mask: (B, 1, T) float, 1 = known.

    Returns:
        (B,) float32 losses.
    """
    weight = 1.0 - mask.float()  # (B, 1, T), 1 where generated
    sq = (pred.float() - target.float()).square().mean(dim=1, keepdim=True)  # (B, 1, T)
    frames = weight.sum(dim=(1, 2))
    return (sq * weight).sum(dim=(1, 2)) / frames.clamp(min=1.0)
