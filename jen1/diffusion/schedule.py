"""Noise schedules as pure functions of continuous time ``t`` in [0, 1].

``x_t = alpha(t) * z + sigma(t) * noise``, with ``alpha**2 + sigma**2 == 1`` (variance preserving)
for every schedule but ``"flow"``. ``t = 0`` is clean data (alpha = 1, sigma = 0); ``t = 1`` is
(almost) pure noise. Every formula has its one home here; ``alpha_sigma(t, dcfg)`` dispatches on
``dcfg.schedule``:

- ``"cosine"``: alpha = cos(pi t / 2), sigma = sin(pi t / 2) (Nichol & Dhariwal 2021), with t
  clamped to ``[0, 1 - COSINE_T_EPS]`` so alpha never reaches exactly 0 (x0 from an epsilon
  prediction divides by alpha, and logSNR stays finite at t = 1).
- ``"linear"``: JEN-1's DDPM schedule (section 5.1): ``num_train_steps`` betas spaced linearly
  from ``beta_start`` to ``beta_end`` (0.0015..0.0195), ``alphas_cumprod = cumprod(1 - beta)``.
- ``"scaled_linear"``: the same end points spaced linearly in sqrt(beta), as the LDM/AudioLDM code
  calls "linear" (diffusers' "scaled_linear").
- ``"flow"``: rectified flow (Liu et al. 2022; Esser et al. 2024, "SD3"): alpha = 1 - t,
  sigma = t, the straight line from data to noise; alpha + sigma = 1, not variance preserving.
  alpha reaches 0 at t = 1 (logSNR = -inf there), which the flow objective never divides by.

Discrete schedules become continuous by interpolating log(alphas_cumprod) linearly in t on the grid
``t_i = (i + 1) / N`` (i = 0..N-1) extended with ``t = 0 -> alphas_cumprod = 1``; so ``t = (i+1)/N``
is exactly DDPM step i, and t = 0 is clean data.

Computations run in float32 at least (float64 inputs stay float64), never in bf16.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

from jen1.config import DiffusionConfig
from jen1.errors import Jen1Error
from jen1.rng import Generators, rand

COSINE_T_EPS = 1e-4  # cosine: t is clamped to [0, 1 - COSINE_T_EPS]; logsnr(1) ~ -17.5
SCHEDULES = ("cosine", "linear", "scaled_linear", "flow")
TRAIN_T = ("uniform", "logit_normal")


def _as_float(t: Tensor | float) -> Tensor:
    t = torch.as_tensor(t)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t


def cosine_alpha_sigma(t: Tensor | float) -> tuple[Tensor, Tensor]:
    """Cosine schedule: alpha = cos(pi t / 2), sigma = sin(pi t / 2), t clamped below 1.

    Args:
        t: time in [0, 1], any shape.

    Returns:
        (alpha, sigma) of t's shape.
    """
    t = _as_float(t).clamp(0.0, 1.0 - COSINE_T_EPS)
    return torch.cos(t * (math.pi / 2)), torch.sin(t * (math.pi / 2))


def flow_alpha_sigma(t: Tensor | float) -> tuple[Tensor, Tensor]:
    """Rectified-flow schedule: alpha = 1 - t, sigma = t, t clamped to [0, 1].

    Args:
        t: time in [0, 1], any shape.

    Returns:
        (alpha, sigma) of t's shape, alpha + sigma = 1.
    """
    t = _as_float(t).clamp(0.0, 1.0)
    return 1.0 - t, t


def is_variance_preserving(dcfg: DiffusionConfig) -> bool:
    """True for the schedules with alpha**2 + sigma**2 = 1 (all but ``"flow"``)."""
    return dcfg.schedule != "flow"


def ddpm_betas(
    num_steps: int, beta_start: float, beta_end: float, spacing: str = "linear"
) -> Tensor:
    """The N discrete DDPM betas (float64).

    Args:
        num_steps: N.
        beta_start: first beta.
        beta_end: last beta.
        spacing: "linear" (linear in beta) or "scaled_linear" (linear in sqrt(beta)).

    Returns:
        (N,) float64 betas.
    """
    if spacing == "linear":
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    if spacing == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64) ** 2
    raise Jen1Error(f"unknown beta spacing '{spacing}': use linear or scaled_linear")


@lru_cache(maxsize=8)
def _log_alphas_cumprod(num_steps: int, beta_start: float, beta_end: float, spacing: str) -> Tensor:
    """(N + 1,) float64 log(alphas_cumprod) with a leading 0 for t = 0."""
    betas = ddpm_betas(num_steps, beta_start, beta_end, spacing)
    log_acp = torch.cumsum(torch.log1p(-betas), dim=0)
    return torch.cat([torch.zeros(1, dtype=torch.float64), log_acp])


def discrete_alpha_sigma(
    t: Tensor | float, num_steps: int, beta_start: float, beta_end: float, spacing: str = "linear"
) -> tuple[Tensor, Tensor]:
    """DDPM schedule at continuous t (log alphas_cumprod interpolated linearly in t).

    Args:
        t: time in [0, 1], any shape; t = (i + 1) / N is exactly DDPM step i.
        num_steps: N discrete steps.
        beta_start: first beta.
        beta_end: last beta.
        spacing: "linear" or "scaled_linear".

    Returns:
        (alpha, sigma) of t's shape and dtype (float32 or float64).
    """
    t = _as_float(t)
    table = _log_alphas_cumprod(num_steps, beta_start, beta_end, spacing).to(t.device)
    pos = t.to(torch.float64).clamp(0.0, 1.0) * num_steps  # in [0, N]
    lo = pos.floor().clamp(max=num_steps - 1)
    frac = pos - lo
    lo_i = lo.long()
    log_acp = table[lo_i] * (1 - frac) + table[lo_i + 1] * frac
    alpha = torch.exp(0.5 * log_acp)
    sigma = torch.sqrt(-torch.expm1(log_acp))
    return alpha.to(t.dtype), sigma.to(t.dtype)


def alpha_sigma(t: Tensor | float, dcfg: DiffusionConfig) -> tuple[Tensor, Tensor]:
    """Signal and noise scales at time t for the configured schedule.

    Args:
        t: time in [0, 1], any shape (float32 or float64).
        dcfg: ``schedule`` ("cosine" | "linear" | "scaled_linear" | "flow"), and for the
            discrete schedules ``num_train_steps``, ``beta_start``, ``beta_end``.

    Returns:
        (alpha, sigma) of t's shape, sigma rising in t; alpha**2 + sigma**2 = 1 except for
        "flow" (alpha + sigma = 1).
    """
    if dcfg.schedule == "cosine":
        return cosine_alpha_sigma(t)
    if dcfg.schedule == "flow":
        return flow_alpha_sigma(t)
    if dcfg.schedule in ("linear", "scaled_linear"):
        return discrete_alpha_sigma(
            t, dcfg.num_train_steps, dcfg.beta_start, dcfg.beta_end, dcfg.schedule
        )
    raise Jen1Error(
        f"unknown diffusion.schedule '{dcfg.schedule}': use one of {', '.join(SCHEDULES)}"
    )


def logsnr(t: Tensor | float, dcfg: DiffusionConfig) -> Tensor:
    """log(alpha**2 / sigma**2) at time t (+inf at t = 0, where sigma = 0; -inf at t = 1 for
    the flow schedule, where alpha = 0).

    Args:
        t: time in [0, 1], any shape.
        dcfg: schedule.

    Returns:
        logSNR of t's shape, falling in t.
    """
    alpha, sigma = alpha_sigma(t, dcfg)
    return 2.0 * (torch.log(alpha) - torch.log(sigma))


def logit_normal_t(u: Tensor, mean: float, std: float) -> Tensor:
    """Map U(0, 1) draws to logit-normal times: ``sigmoid(mean + std * Phi^-1(u))``.

    The inverse CDF keeps a stratified batch stratified (each stratum of u maps to an equal
    probability mass of t). SD3 (Esser et al. 2024) trains rectified flow with mean 0, std 1,
    which puts most of the batch in the middle times, where the velocity is hardest to predict.

    Args:
        u: uniform draws in [0, 1), any shape.
        mean: location of the normal in logit space.
        std: its scale (> 0).

    Returns:
        times in [0, 1) of u's shape and dtype.
    """
    return torch.sigmoid(mean + std * torch.special.ndtri(u))


def sample_train_t(
    batch: int,
    generator: Generators = None,
    *,
    device: torch.device | str | None = None,
    dcfg: DiffusionConfig | None = None,
) -> Tensor:
    """Training times: U(0, 1), or logit-normal when ``dcfg.train_t == "logit_normal"``.

    With one generator the batch is stratified: one offset, B equal strata, shuffled, so a
    batch covers [0, 1) evenly (lower loss variance; Kingma et al. 2021, "Variational Diffusion
    Models"). With one generator per sample (:mod:`jen1.rng`) each t is drawn on its own. The
    logit-normal times are the same uniform draws through :func:`logit_normal_t`.

    Args:
        batch: B.
        generator: one generator, or a sequence of B; draws happen on each generator's device.
        device: where to put the result (default: the (first) generator's device, else CPU).
        dcfg: ``train_t``, ``train_t_mean``, ``train_t_std``; None is uniform.

    Returns:
        (B,) float32 times in [0, 1).
    """
    if generator is not None and not isinstance(generator, torch.Generator):
        gens = list(generator)
        if len(gens) != batch:
            raise ValueError(f"{len(gens)} generators for a batch of {batch}")
        t = rand((batch,), gens, device=gens[0].device if gens else "cpu")
        t = t.to(device) if device is not None else t
    else:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand((), generator=generator, device=gen_device)
        strata = torch.randperm(batch, generator=generator, device=gen_device).to(torch.float32)
        t = (strata + u) / max(batch, 1)
        t = t.to(device if device is not None else gen_device)
    if dcfg is None or dcfg.train_t == "uniform":
        return t
    if dcfg.train_t == "logit_normal":
        return logit_normal_t(t, dcfg.train_t_mean, dcfg.train_t_std)
    raise Jen1Error(f"unknown diffusion.train_t '{dcfg.train_t}': use one of {', '.join(TRAIN_T)}")


def make_timesteps(steps: int, dcfg: DiffusionConfig, start: float = 1.0) -> Tensor:
    """Sampling time grid, uniform in t from ``start`` (1: pure noise) down to 0.

    For the discrete schedules with ``num_train_steps`` divisible by ``steps`` the grid hits DDPM
    steps exactly (e.g. DDIM 200 of 1000: steps 999, 994, ..., 4, then t = 0). ``start < 1``
    is the truncated grid of SDEdit (remix), which starts from a partly noised latent.

    Args:
        steps: number of sampler steps (>= 1).
        dcfg: schedule (unused by the uniform grid; kept so the grid can depend on it).
        start: the first time, in (0, 1].

    Returns:
        (steps + 1,) float64 times, ts[0] = start, ts[-1] = 0.
    """
    del dcfg
    if steps < 1:
        raise Jen1Error(f"sampling steps must be >= 1, got {steps}")
    if not 0 < start <= 1:
        raise Jen1Error(f"the grid's start time must be in (0, 1], got {start}")
    return torch.linspace(float(start), 0.0, steps + 1, dtype=torch.float64)
