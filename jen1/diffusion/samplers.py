"""Samplers: pure functions over a denoiser ``denoise(x_t, t) -> x0_hat``.

Every sampler has the same shape::

    sample_xxx(denoise, x, ts, *, dcfg, generator=None, callback=None) -> Tensor

- ``denoise(x_t (B, C, T), t (B,) float32) -> x0_hat (B, C, T)``: the network's estimate of the
  clean latent (see :mod:`jen1.diffusion.objective` and :mod:`jen1.diffusion.guidance`).
- ``x``: (B, C, T) start sample at time ``ts[0]`` (initial noise when ``ts[0] = 1``).
- ``ts``: (N + 1,) decreasing times in [0, 1], e.g. :func:`make_timesteps`; ``ts[-1] = 0`` ends on
  the last x0 estimate.
- ``dcfg``: the noise schedule, read through :func:`jen1.diffusion.schedule.alpha_sigma`.
- ``callback(i, total)``: called after step i (1-based) of ``total`` steps, for progress.

Step coefficients are computed in float64; the sample stays float32. Samplers never import the
U-Net, so they can be tested with closed-form denoisers.

Every sampler runs on every schedule, the rectified-flow one (alpha = 1 - t, sigma = t, alpha = 0
at t = 1) included: DDIM, Euler and DPM-Solver++ are written in alpha and sigma without assuming
alpha**2 + sigma**2 = 1, and Heun integrates the flow in t itself (see :func:`sample_heun`).
Guidance, negative prompts and known frames live in ``denoise``, so they hold for all of them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from jen1.config import DiffusionConfig
from jen1.diffusion.objective import draw_noise
from jen1.diffusion.schedule import alpha_sigma, is_variance_preserving, make_timesteps
from jen1.errors import Jen1Error

Denoiser = Callable[[Tensor, Tensor], Tensor]
Callback = Callable[[int, int], None]

__all__ = [
    "sample_ddim",
    "sample_dpmpp_2m",
    "sample_euler",
    "sample_heun",
    "sample_lcm",
    "make_timesteps",
    "Denoiser",
]


def _coeffs(t: Tensor, dcfg: DiffusionConfig) -> tuple[float, float]:
    alpha, sigma = alpha_sigma(t.to(torch.float64), dcfg)
    return float(alpha), float(sigma)


def _call(denoise: Denoiser, x: Tensor, t: Tensor) -> Tensor:
    t_b = torch.full((x.shape[0],), float(t), dtype=torch.float32, device=x.device)
    return denoise(x, t_b).float()


def sample_ddim(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12); ``eta = 0`` is deterministic, ``eta = 1`` is DDPM-like.

    Args:
        denoise: x0 predictor.
        x: (B, C, T) sample at ts[0].
        ts: (N + 1,) decreasing times.
        dcfg: noise schedule.
        eta: stochasticity in [0, 1].
        generator: noise source for eta > 0 (any device).
        callback: progress hook ``callback(i, total)``.

    Returns:
        (B, C, T) float32 sample at ts[-1].
    """
    x = x.float()
    total = len(ts) - 1
    for i in range(total):
        alpha, sigma = _coeffs(ts[i], dcfg)
        alpha_next, sigma_next = _coeffs(ts[i + 1], dcfg)
        x0 = _call(denoise, x, ts[i])
        if sigma_next == 0.0:
            x = x0
        else:
            eps = (x - alpha * x0) / sigma
            # eq. 16: s_eta = eta sqrt((1 - a_next) / (1 - a)) sqrt(1 - a / a_next), a = alpha^2
            if is_variance_preserving(dcfg):
                ratio = max(1.0 - (alpha / alpha_next) ** 2, 0.0)
            else:
                # the same posterior std without alpha**2 + sigma**2 = 1 (flow): the transition
                # variance sigma**2 - (alpha / alpha_next)**2 sigma_next**2, which equals the
                # line above on a variance-preserving schedule
                ratio = max(sigma**2 - (alpha * sigma_next / alpha_next) ** 2, 0.0)
            s_eta = eta * (sigma_next / sigma) * ratio**0.5
            x = alpha_next * x0 + max(sigma_next**2 - s_eta**2, 0.0) ** 0.5 * eps
            if s_eta > 0:
                x = x + s_eta * draw_noise(x.shape, generator, x.device)
        if callback is not None:
            callback(i + 1, total)
    return x


def sample_dpmpp_2m(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M): multistep second order, data prediction, in lambda = log(alpha / sigma).

    Lu et al. 2022 ("DPM-Solver++", Algorithm 2). The first step and a final step onto
    sigma = 0 are first order (the latter returns the x0 estimate).

    Args:
        denoise: x0 predictor.
        x: (B, C, T) sample at ts[0].
        ts: (N + 1,) decreasing times.
        dcfg: noise schedule.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: progress hook ``callback(i, total)``.

    Returns:
        (B, C, T) float32 sample at ts[-1].
    """
    del generator
    x = x.float()
    total = len(ts) - 1
    x0_prev: Tensor | None = None
    h_prev = 0.0
    for i in range(total):
        alpha, sigma = _coeffs(ts[i], dcfg)
        alpha_next, sigma_next = _coeffs(ts[i + 1], dcfg)
        x0 = _call(denoise, x, ts[i])
        if sigma_next == 0.0:
            x = x0
        else:
            # lambda step; lambda(t = 1) = -inf on the flow schedule (alpha = 0): h = inf makes
            # the step x_next = sigma_next * x + alpha_next * x0 (exact for that start) and the
            # next step first order (r = inf)
            lam = math.log(alpha / sigma) if alpha > 0 else -math.inf
            h = math.log(alpha_next / sigma_next) - lam
            if x0_prev is None:
                d = x0
            else:
                r = h_prev / h
                d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
            # x_{i+1} = (sigma_{i+1} / sigma_i) x_i - alpha_{i+1} (e^{-h} - 1) D
            x = (sigma_next / sigma) * x - alpha_next * math.expm1(-h) * d
            h_prev = h
        x0_prev = x0
        if callback is not None:
            callback(i + 1, total)
    return x


def sample_heun(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Heun's second-order method on the probability-flow ODE (Karras et al. 2022, Algorithm 1).

    Variance-preserving schedules run in the variance-exploding coordinates ``y = x / alpha``,
    ``s = sigma / alpha`` where the ODE is ``dy/ds = (y - x0) / s``; an Euler step there equals a
    DDIM (eta = 0) step. Each step costs two denoiser calls except the first of a grid from
    t = 1 (Euler: it starts at s = sigma / alpha ~ 1 / alpha(1), several orders of magnitude
    above the next s, where the trapezoid rule is inaccurate; a truncated grid, ``ts[0] < 1``,
    gets the trapezoid from its first step) and a final step onto sigma = 0 (returns x0). The
    flow schedule, where y = x / alpha is infinite at t = 1, runs in t on
    ``dx/dt = u = (x - x0) / t`` instead (the velocity is finite at t = 1, so every step but
    the last is second order).

    Args:
        denoise: x0 predictor.
        x: (B, C, T) sample at ts[0].
        ts: (N + 1,) decreasing times.
        dcfg: noise schedule.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: progress hook ``callback(i, total)``.

    Returns:
        (B, C, T) float32 sample at ts[-1].
    """
    del generator
    if not is_variance_preserving(dcfg):
        return _flow_heun(denoise, x, ts, dcfg=dcfg, callback=callback)
    x = x.float()
    total = len(ts) - 1
    for i in range(total):
        alpha, sigma = _coeffs(ts[i], dcfg)
        alpha_next, sigma_next = _coeffs(ts[i + 1], dcfg)
        x0 = _call(denoise, x, ts[i])
        if sigma_next == 0.0:
            x = x0
        else:
            s, s_next = sigma / alpha, sigma_next / alpha_next
            y = x / alpha
            slope = (y - x0) / s
            y_next = y + (s_next - s) * slope
            # a step from t = 1 leaves s ~ 1/alpha(1) (6e3 for cosine), where the trapezoid is
            # inaccurate; a truncated grid (SDEdit, ts[0] < 1) starts at a moderate s: use it
            if i > 0 or float(ts[0]) < 1.0:
                x0_next = _call(denoise, y_next * alpha_next, ts[i + 1])
                slope_next = (y_next - x0_next) / s_next
                y_next = y + (s_next - s) * 0.5 * (slope + slope_next)
            x = y_next * alpha_next
        if callback is not None:
            callback(i + 1, total)
    return x


def _flow_heun(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    callback: Callback | None = None,
) -> Tensor:
    """Heun in t for the flow schedule: ``x' = x + dt (u(x, t) + u(x_euler, t_next)) / 2``.

    The velocity ``u = (x - x0) / t`` comes from the x0 estimate, so it is not defined at
    t = 0: the step onto t = 0 is Euler (it returns x0). A (B, C, T) float32 sample at ts[-1].
    """
    del dcfg  # alpha = 1 - t, sigma = t: the velocity needs t only
    x = x.float()
    total = len(ts) - 1
    for i in range(total):
        t, t_next = float(ts[i]), float(ts[i + 1])
        x0 = _call(denoise, x, ts[i])
        if t_next == 0.0:
            x = x0
        else:
            u = (x - x0) / t
            x_euler = x + (t_next - t) * u
            u_next = (x_euler - _call(denoise, x_euler, ts[i + 1])) / t_next
            x = x + (t_next - t) * 0.5 * (u + u_next)
        if callback is not None:
            callback(i + 1, total)
    return x


def sample_euler(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler's method on the probability-flow ODE, one denoiser call per step.

    On the flow schedule this is the rectified-flow sampler ``x' = x + (t' - t) u`` with the
    velocity ``u = (x - x0) / t``; written as ``x' = alpha' x0 + sigma' eps`` it is also Euler
    in the variance-exploding coordinates of a variance-preserving schedule, i.e. DDIM with
    eta = 0 (which it runs, so both names give the same samples there).

    Args:
        denoise: x0 predictor.
        x: (B, C, T) sample at ts[0].
        ts: (N + 1,) decreasing times.
        dcfg: noise schedule.
        generator: unused (deterministic); accepted for a uniform signature.
        callback: progress hook ``callback(i, total)``.

    Returns:
        (B, C, T) float32 sample at ts[-1].
    """
    del generator
    return sample_ddim(denoise, x, ts, dcfg=dcfg, eta=0.0, callback=callback)


def sample_lcm(
    denoise: Denoiser,
    x: Tensor,
    ts: Tensor,
    *,
    dcfg: DiffusionConfig,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1; LCM): the few-step sampler
    of a distilled student (:mod:`jen1.diffusion.consistency`).

    Each step maps the sample to the student's x0 estimate and noises that afresh to the next
    time, ``x' = alpha' x0 + sigma' eps'`` with new noise ``eps'``; the last step returns x0.

    Args:
        denoise: x0 predictor.
        x: (B, C, T) sample at ts[0].
        ts: (N + 1,) decreasing times.
        dcfg: noise schedule.
        generator: source of the fresh noise (any device).
        callback: progress hook ``callback(i, total)``.

    Returns:
        (B, C, T) float32 sample at ts[-1].
    """
    x = x.float()
    total = len(ts) - 1
    for i in range(total):
        x0 = _call(denoise, x, ts[i])
        alpha_next, sigma_next = _coeffs(ts[i + 1], dcfg)
        if sigma_next == 0.0:
            x = x0
        else:
            x = alpha_next * x0 + sigma_next * draw_noise(x.shape, generator, x.device)
        if callback is not None:
            callback(i + 1, total)
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "ddim": sample_ddim,
    "dpmpp_2m": sample_dpmpp_2m,
    "euler": sample_euler,
    "heun": sample_heun,
    "lcm": sample_lcm,
}


def get_sampler(name: str) -> Callable[..., Tensor]:
    """Look up a sampler by name; raises Jen1Error listing the valid names."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise Jen1Error(f"unknown sampler '{name}': use one of {', '.join(SAMPLERS)}") from None
