"""Samplers against closed-form denoisers (no U-Net)."""

from __future__ import annotations

import pytest
import torch

from jen1.config import DiffusionConfig
from jen1.diffusion.samplers import SAMPLERS, get_sampler
from jen1.diffusion.schedule import alpha_sigma, make_timesteps
from jen1.errors import Jen1Error


def gaussian_denoiser(std: float, dcfg: DiffusionConfig):
    """E[x0 | x_t] for data ~ N(0, std^2): alpha s^2 / (alpha^2 s^2 + sigma^2) x_t."""

    def denoise(x, t):
        assert t.shape == (x.shape[0],)
        alpha, sigma = alpha_sigma(t.double(), dcfg)
        gain = alpha * std**2 / (alpha**2 * std**2 + sigma**2)
        return (gain[:, None, None] * x.double()).float()

    return denoise


def _dcfg(schedule: str) -> DiffusionConfig:
    return DiffusionConfig(schedule=schedule, objective="flow" if schedule == "flow" else "v")


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("schedule", ["cosine", "linear", "flow"])
def test_constant_data_is_reached(name, schedule):
    dcfg = _dcfg(schedule)
    target = torch.linspace(-1, 1, 6)[None, :, None].expand(2, 6, 5)
    calls = []
    x = torch.randn(2, 6, 5, generator=torch.Generator().manual_seed(0))
    out = SAMPLERS[name](
        lambda x_t, t: target.clone(),
        x,
        make_timesteps(8, dcfg),
        dcfg=dcfg,
        callback=lambda i, n: calls.append((i, n)),
    )
    assert torch.allclose(out, target, atol=1e-5)
    assert calls == [(i, 8) for i in range(1, 9)]


@pytest.mark.parametrize("name,tol", [("ddim", 0.08), ("dpmpp_2m", 0.03), ("heun", 0.03)])
@pytest.mark.parametrize("std", [0.5, 2.0])
def test_gaussian_data_std_is_reproduced(name, tol, std):
    dcfg = DiffusionConfig(schedule="cosine")
    x = torch.randn(4, 8, 1000, generator=torch.Generator().manual_seed(1))
    out = SAMPLERS[name](gaussian_denoiser(std, dcfg), x, make_timesteps(25, dcfg), dcfg=dcfg)
    assert abs(out.std().item() / std - 1) < tol
    assert abs(out.mean().item()) < 0.05 * std


@pytest.mark.parametrize("name", ["ddim", "dpmpp_2m"])
def test_gaussian_data_linear_ddpm_schedule(name):
    dcfg = DiffusionConfig(schedule="linear")
    x = torch.randn(2, 8, 1000, generator=torch.Generator().manual_seed(2))
    out = SAMPLERS[name](gaussian_denoiser(1.5, dcfg), x, make_timesteps(50, dcfg), dcfg=dcfg)
    assert abs(out.std().item() / 1.5 - 1) < 0.06


def test_ddim_eta_is_stochastic_and_seeded():
    dcfg = DiffusionConfig()
    x = torch.randn(2, 4, 64, generator=torch.Generator().manual_seed(0))
    den = gaussian_denoiser(1.0, dcfg)
    ts = make_timesteps(10, dcfg)
    a = SAMPLERS["ddim"](den, x, ts, dcfg=dcfg, eta=1.0, generator=torch.Generator().manual_seed(3))
    b = SAMPLERS["ddim"](den, x, ts, dcfg=dcfg, eta=1.0, generator=torch.Generator().manual_seed(3))
    c = SAMPLERS["ddim"](den, x, ts, dcfg=dcfg, eta=0.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)


# --- the rectified-flow schedule (alpha = 1 - t, sigma = t) ----------------------------------


FLOW = DiffusionConfig(schedule="flow", objective="flow")


def test_euler_with_the_exact_velocity_reaches_the_target_distribution():
    """Data ~ N(m, s^2) per channel: E[x0 | x_t] is affine in x_t; Euler must carry N(0, 1)
    noise to N(m, s^2), and fewer steps must be worse (it is a first-order method)."""
    mean = torch.tensor([-1.0, 0.0, 2.0])[None, :, None]
    std = torch.tensor([0.5, 1.0, 2.0])[None, :, None]

    def denoise(x, t):  # E[x0 | x_t] for x_t = (1 - t) x0 + t eps
        a, s = (1 - t.double())[:, None, None], t.double()[:, None, None]
        var = a**2 * std**2 + s**2
        return (mean + a * std**2 / var * (x.double() - a * mean)).float()

    x = torch.randn(4, 3, 4000, generator=torch.Generator().manual_seed(0))
    errs = {}
    for steps in (4, 200):
        out = SAMPLERS["euler"](denoise, x, make_timesteps(steps, FLOW), dcfg=FLOW)
        m, s = out.mean(dim=(0, 2), keepdim=True), out.std(dim=(0, 2), keepdim=True)
        errs[steps] = ((m - mean).abs().max().item(), (s / std - 1).abs().max().item())
    assert errs[200][0] < 0.02 and errs[200][1] < 0.02, errs
    assert errs[4][1] > 5 * errs[200][1], errs


def test_euler_is_the_rectified_flow_step():
    """One Euler step from t to t' is x + (t' - t) * u with u = (x - x0) / t."""
    x = torch.randn(1, 2, 5, generator=torch.Generator().manual_seed(4))
    x0 = torch.randn(1, 2, 5, generator=torch.Generator().manual_seed(5))
    ts = torch.tensor([0.8, 0.5], dtype=torch.float64)
    out = SAMPLERS["euler"](lambda x_t, t: x0, x, ts, dcfg=FLOW)
    assert torch.allclose(out, x + (0.5 - 0.8) * (x - x0) / 0.8, atol=1e-6)


@pytest.mark.parametrize("name,tol", [("ddim", 0.08), ("euler", 0.08), ("dpmpp_2m", 0.02),
                                      ("heun", 0.02)])
@pytest.mark.parametrize("std", [0.5, 2.0])
def test_flow_gaussian_data_std_is_reproduced(name, tol, std):
    x = torch.randn(4, 8, 1000, generator=torch.Generator().manual_seed(1))
    out = SAMPLERS[name](gaussian_denoiser(std, FLOW), x, make_timesteps(25, FLOW), dcfg=FLOW)
    assert abs(out.std().item() / std - 1) < tol
    assert abs(out.mean().item()) < 0.05 * std


@pytest.mark.parametrize("name,calls", [("euler", 8), ("ddim", 8), ("dpmpp_2m", 8), ("heun", 15)])
def test_flow_samplers_honour_steps_and_are_deterministic(name, calls):
    """Heun on the flow is second order on every step but the last (no Euler first step)."""
    seen = []

    def denoise(x, t):
        seen.append(float(t[0]))
        return torch.tanh(x)  # an x0 estimate that depends on x_t: order matters

    x = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0))
    ticks = []
    a = SAMPLERS[name](denoise, x, make_timesteps(8, FLOW), dcfg=FLOW, callback=lambda i, n:
                       ticks.append((i, n)))
    assert len(seen) == calls and seen[0] == 1.0 and ticks == [(i, 8) for i in range(1, 9)]
    b = SAMPLERS[name](denoise, x, make_timesteps(8, FLOW), dcfg=FLOW)
    assert torch.equal(a, b) and torch.isfinite(a).all()


def test_flow_ddim_eta_keeps_the_marginals_and_is_seeded():
    """eta = 1 (ancestral) must still land on the data distribution: the posterior std is
    written without alpha**2 + sigma**2 = 1."""
    x = torch.randn(4, 8, 1000, generator=torch.Generator().manual_seed(2))
    den = gaussian_denoiser(2.0, FLOW)
    ts = make_timesteps(100, FLOW)
    a = SAMPLERS["ddim"](den, x, ts, dcfg=FLOW, eta=1.0, generator=torch.Generator().manual_seed(3))
    b = SAMPLERS["ddim"](den, x, ts, dcfg=FLOW, eta=1.0, generator=torch.Generator().manual_seed(3))
    c = SAMPLERS["ddim"](den, x, ts, dcfg=FLOW, eta=0.0)
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert abs(a.std().item() / 2.0 - 1) < 0.04


def test_unknown_sampler_lists_valid_names():
    with pytest.raises(Jen1Error, match="ddim, dpmpp_2m, euler, heun"):
        get_sampler("plms")


# --- truncated grids (SDEdit / remix: sampling starts part-way, at ts[0] < 1) ---------------


def test_truncated_grid_starts_at_start():
    dcfg = DiffusionConfig()
    ts = make_timesteps(4, dcfg, start=0.3)
    assert ts[0] == 0.3 and ts[-1] == 0 and len(ts) == 5 and (ts.diff() < 0).all()
    with pytest.raises(Jen1Error, match="start time"):
        make_timesteps(4, dcfg, start=0.0)


@pytest.mark.parametrize(
    "name,tol",
    [("ddim", 0.07), ("euler", 0.07), ("dpmpp_2m", 0.015), ("heun", 0.015)],
)
@pytest.mark.parametrize("t0,corr", [(0.3, 0.6), (0.7, 0.15)])
@pytest.mark.parametrize("schedule", ["cosine", "flow"])
def test_truncated_grid_follows_the_exact_flow(name, tol, t0, corr, schedule):
    """Data ~ N(0, s^2): the probability-flow ODE from x_t0 is linear, x0 = s x_t0 / std(t0).

    A sampler that ignored ts[0] (treating x as pure noise at t = 1) lands far from it.
    """
    dcfg, std = _dcfg(schedule), 0.5
    g = torch.Generator().manual_seed(3)
    z = std * torch.randn(2, 8, 500, generator=g)
    alpha, sigma = (float(v) for v in alpha_sigma(torch.tensor(t0, dtype=torch.float64), dcfg))
    x = alpha * z + sigma * torch.randn(2, 8, 500, generator=g)
    exact = x * std / (alpha**2 * std**2 + sigma**2) ** 0.5
    out = SAMPLERS[name](
        gaussian_denoiser(std, dcfg), x, make_timesteps(20, dcfg, start=t0), dcfg=dcfg
    )
    err = ((out - exact).norm() / exact.norm()).item()
    assert err < tol, err
    # the output keeps the input's clean data, more of it from a lower start (SDEdit)
    assert torch.corrcoef(torch.stack([out.flatten(), z.flatten()]))[0, 1] > corr


def test_heun_uses_the_trapezoid_from_the_first_step_of_a_truncated_grid():
    dcfg = DiffusionConfig()
    calls = []

    def denoise(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    x = torch.randn(1, 2, 3)
    get_sampler("heun")(denoise, x, make_timesteps(5, dcfg), dcfg=dcfg)
    full = len(calls)
    calls.clear()
    get_sampler("heun")(denoise, x, make_timesteps(5, dcfg, start=0.5), dcfg=dcfg)
    assert full == 2 * 5 - 2 and len(calls) == 2 * 5 - 1  # Euler first step only from t = 1
    assert calls[0] == 0.5


def test_lcm_renoises_each_step_from_its_generator_and_honours_steps():
    """The consistency sampler: one call per step, fresh noise drawn from the generator."""
    dcfg = DiffusionConfig(schedule="cosine")
    seen = []

    def denoise(x, t):
        seen.append(float(t[0]))
        return 0.5 * torch.tanh(x)

    x = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(0))
    ts = make_timesteps(4, dcfg)
    a = SAMPLERS["lcm"](denoise, x, ts, dcfg=dcfg, generator=torch.Generator().manual_seed(1))
    assert seen == [1.0, 0.75, 0.5, 0.25]
    b = SAMPLERS["lcm"](denoise, x, ts, dcfg=dcfg, generator=torch.Generator().manual_seed(1))
    c = SAMPLERS["lcm"](denoise, x, ts, dcfg=dcfg, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    # one step is the student's x0 from the start, whatever the generator
    one = SAMPLERS["lcm"](denoise, x, make_timesteps(1, dcfg), dcfg=dcfg)
    assert torch.equal(one, 0.5 * torch.tanh(x))
