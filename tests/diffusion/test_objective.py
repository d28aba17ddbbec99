"""v / eps parameterisations and the masked per-sample loss."""

from __future__ import annotations

import pytest
import torch

from jen1.diffusion.objective import (
    add_noise,
    diffusion_loss_per_sample,
    prediction_to_x0_eps,
    training_target,
)
from jen1.errors import Jen1Error


@pytest.mark.parametrize("objective", ["v", "eps"])
def test_exact_target_recovers_x0_and_eps(objective):
    g = torch.Generator().manual_seed(0)
    z, noise = torch.randn(3, 4, 10, generator=g), torch.randn(3, 4, 10, generator=g)
    angle = torch.tensor([0.1, 0.7, 1.4])
    alpha, sigma = torch.cos(angle), torch.sin(angle)
    x_t = add_noise(z, noise, alpha, sigma)
    target = training_target(z, noise, alpha, sigma, objective)
    x0, eps = prediction_to_x0_eps(target.bfloat16().float(), x_t, alpha, sigma, objective)
    assert torch.allclose(x0, z, atol=0.05) and torch.allclose(eps, noise, atol=0.05)
    x0, eps = prediction_to_x0_eps(target, x_t, alpha, sigma, objective)
    assert torch.allclose(x0, z, atol=1e-5) and torch.allclose(eps, noise, atol=1e-5)


def test_flow_velocity_recovers_x0_and_eps():
    g = torch.Generator().manual_seed(0)
    z, noise = torch.randn(3, 4, 10, generator=g), torch.randn(3, 4, 10, generator=g)
    t = torch.tensor([0.0, 0.4, 1.0])  # both ends included: nothing divides by alpha or sigma
    x_t = add_noise(z, noise, 1 - t, t)
    target = training_target(z, noise, 1 - t, t, "flow")
    assert torch.allclose(target, noise - z)
    x0, eps = prediction_to_x0_eps(target, x_t, 1 - t, t, "flow")
    assert torch.allclose(x0, z, atol=1e-5) and torch.allclose(eps, noise, atol=1e-5)
    # the velocity is the time derivative of x_t along the straight path
    dt = 1e-3
    ahead = add_noise(z, noise, 1 - (t[1] + dt), t[1] + dt)
    assert torch.allclose((ahead[1] - x_t[1]) / dt, target[1], atol=1e-2)


def test_unknown_objective_raises():
    with pytest.raises(Jen1Error, match="objective"):
        training_target(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), 1.0, 0.0, "x0")


def test_loss_counts_only_frames_to_generate():
    pred = torch.zeros(3, 2, 4)
    target = torch.zeros(3, 2, 4)
    target[:, :, :2] = 10.0  # large error on frames 0, 1
    target[:, :, 2:] = 1.0  # unit error on frames 2, 3
    mask = torch.zeros(3, 1, 4)
    mask[1, :, :2] = 1  # sample 1: frames 0, 1 known
    mask[2] = 1  # sample 2: nothing to generate
    loss = diffusion_loss_per_sample(pred, target, mask)
    assert loss.shape == (3,)
    assert torch.allclose(loss, torch.tensor([50.5, 1.0, 0.0]))
