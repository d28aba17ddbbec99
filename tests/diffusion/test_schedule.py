"""Noise schedule invariants for the cosine and the paper's discrete DDPM schedules."""

from __future__ import annotations

import math

import pytest
import torch

from jen1.config import DiffusionConfig
from jen1.diffusion.schedule import (
    alpha_sigma,
    ddpm_betas,
    is_variance_preserving,
    logit_normal_t,
    logsnr,
    make_timesteps,
    sample_train_t,
)
from jen1.rng import sample_generators
from jen1.errors import Jen1Error

SCHEDULES = ["cosine", "linear", "scaled_linear"]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_variance_preserving_and_monotone(schedule):
    dcfg = DiffusionConfig(schedule=schedule)
    t = torch.linspace(0, 1, 2001, dtype=torch.float64)
    alpha, sigma = alpha_sigma(t, dcfg)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(t), atol=1e-12)
    assert torch.all(sigma[1:] > sigma[:-1])
    assert torch.all(alpha > 0)
    lam = logsnr(t[1:], dcfg)
    assert torch.all(lam[1:] < lam[:-1]) and torch.isfinite(lam).all()


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_endpoints(schedule):
    dcfg = DiffusionConfig(schedule=schedule)
    a0, s0 = alpha_sigma(torch.tensor(0.0), dcfg)
    assert float(a0) == 1.0 and float(s0) == 0.0
    a1, s1 = alpha_sigma(torch.tensor(1.0), dcfg)
    assert 0 < float(a1) < 0.02 and float(s1) > 0.9998


def test_cosine_formula_and_clamp():
    dcfg = DiffusionConfig(schedule="cosine")
    alpha, sigma = alpha_sigma(torch.tensor([0.25, 0.5]), dcfg)
    assert torch.allclose(alpha, torch.tensor([math.cos(math.pi / 8), math.cos(math.pi / 4)]))
    assert torch.allclose(sigma, torch.tensor([math.sin(math.pi / 8), math.sin(math.pi / 4)]))
    assert float(logsnr(torch.tensor(1.0), dcfg)) > -20  # finite at t = 1


def test_linear_matches_discrete_ddpm_steps():
    dcfg = DiffusionConfig(
        schedule="linear", num_train_steps=1000, beta_start=0.0015, beta_end=0.0195
    )
    betas = ddpm_betas(1000, 0.0015, 0.0195)
    assert float(betas[0]) == pytest.approx(0.0015) and float(betas[-1]) == pytest.approx(0.0195)
    acp = torch.cumprod(1 - betas, dim=0)
    steps = torch.tensor([0, 1, 499, 999])
    alpha, _ = alpha_sigma((steps + 1).double() / 1000, dcfg)
    assert torch.allclose(alpha**2, acp[steps], rtol=1e-10)


def test_dtype_is_kept_and_unknown_schedule_raises():
    dcfg = DiffusionConfig(schedule="linear")
    alpha, sigma = alpha_sigma(torch.rand(5), dcfg)
    assert alpha.dtype == torch.float32 and sigma.shape == (5,)
    with pytest.raises(Jen1Error, match="unknown diffusion.schedule"):
        alpha_sigma(torch.rand(2), DiffusionConfig(schedule="quadratic"))


def test_sample_train_t_is_stratified_and_seeded():
    t = sample_train_t(8, torch.Generator().manual_seed(0))
    assert t.shape == (8,) and t.dtype == torch.float32
    assert torch.all((t >= 0) & (t < 1))
    assert sorted((t * 8).floor().long().tolist()) == list(range(8))  # one per stratum
    assert torch.equal(t, sample_train_t(8, torch.Generator().manual_seed(0)))


def test_make_timesteps():
    ts = make_timesteps(200, DiffusionConfig(schedule="linear"))
    assert ts.shape == (201,) and ts[0] == 1 and ts[-1] == 0
    assert torch.all(ts[1:] < ts[:-1])
    assert torch.allclose(ts[1] * 1000, torch.tensor(995.0, dtype=torch.float64))
    with pytest.raises(Jen1Error):
        make_timesteps(0, DiffusionConfig())


# --- rectified flow ---------------------------------------------------------------------------

FLOW = DiffusionConfig(schedule="flow", objective="flow")


def test_flow_schedule_is_the_straight_line():
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    alpha, sigma = alpha_sigma(t, FLOW)
    assert torch.equal(alpha, 1 - t) and torch.equal(sigma, t) and alpha.dtype == torch.float64
    assert alpha[-1] == 0 and sigma[0] == 0  # pure noise at t = 1 exactly, unlike cosine
    lam = logsnr(t, FLOW)
    assert lam[0] == math.inf and lam[-1] == -math.inf and torch.all(lam[1:] < lam[:-1])
    assert not is_variance_preserving(FLOW)
    assert all(is_variance_preserving(DiffusionConfig(schedule=s)) for s in SCHEDULES)


def test_logit_normal_train_t_matches_its_distribution_and_is_stratified():
    dcfg = DiffusionConfig(
        schedule="flow", objective="flow", train_t="logit_normal", train_t_mean=0.5, train_t_std=0.8
    )
    t = sample_train_t(20000, torch.Generator().manual_seed(0), dcfg=dcfg)
    assert t.dtype == torch.float32 and torch.all((t > 0) & (t < 1))
    logit = torch.logit(t.double())
    assert abs(logit.mean().item() - 0.5) < 0.01 and abs(logit.std().item() / 0.8 - 1) < 0.01
    # stratified like the uniform draws: a batch of 8 has one time in each eighth of the mass
    small = sample_train_t(8, torch.Generator().manual_seed(1), dcfg=dcfg)
    u = torch.special.ndtr((torch.logit(small.double()) - 0.5) / 0.8)
    assert sorted((u * 8).floor().long().tolist()) == list(range(8))
    assert torch.equal(small, sample_train_t(8, torch.Generator().manual_seed(1), dcfg=dcfg))
    # the same uniform draws, mapped: the default distribution is untouched
    uniform = sample_train_t(8, torch.Generator().manual_seed(1))
    assert torch.allclose(small, logit_normal_t(uniform, 0.5, 0.8))
    assert torch.equal(uniform, sample_train_t(8, torch.Generator().manual_seed(1), dcfg=FLOW))


def test_logit_normal_with_per_sample_generators():
    dcfg = DiffusionConfig(schedule="flow", objective="flow", train_t="logit_normal")
    gens = sample_generators(0, [3, 1, 4, 1])
    t = sample_train_t(4, gens, dcfg=dcfg)
    gens = sample_generators(0, [3, 1, 4, 1])
    assert torch.equal(t, logit_normal_t(sample_train_t(4, gens), 0.0, 1.0))
