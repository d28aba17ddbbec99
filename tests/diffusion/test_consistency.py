"""Consistency distillation: the training step and its settings."""

from __future__ import annotations

import copy

import pytest
import torch

from jen1.diffusion.consistency import DistillSpec, consistency_distill_step
from jen1.errors import Jen1Error
from jen1.models import build_unet


def _batch(cfg, batch=6, frames=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    c, d = cfg.autoencoder.latent_dim, cfg.text.dim
    return (
        torch.randn(batch, c, frames, generator=g),
        torch.randn(batch, 5, d, generator=g),
        torch.ones(batch, 5, dtype=torch.bool),
    )


def _teacher(cfg):
    torch.manual_seed(0)
    unet = build_unet(cfg)
    with torch.no_grad():  # off the zero init, so the prediction depends on its inputs
        for p in unet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return unet.eval().requires_grad_(False)


def _step(student, teacher, cfg, spec, seed=3):
    """One distillation step on the fixed batch of ``_batch(cfg)`` with a seeded generator."""
    z, emb, mask = _batch(cfg)
    return consistency_distill_step(
        student, teacher, z, emb, mask, cfg.diffusion, spec, torch.Generator().manual_seed(seed)
    )


def test_distill_step_trains_the_student_alone_and_is_seeded(tiny_config):
    teacher = _teacher(tiny_config)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    spec = DistillSpec(steps=2, grid=8, cfg_scale=2.0)
    out = _step(student, teacher, tiny_config, spec)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()
    assert student.conv_out.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    again = _step(student, teacher, tiny_config, spec)
    assert torch.equal(out["loss"].detach(), again["loss"].detach())


def test_distill_target_follows_the_teachers_guidance(tiny_config):
    """The guidance scale is what the student learns: another scale, another loss."""
    teacher = _teacher(tiny_config)
    student = copy.deepcopy(teacher)

    def loss(scale):
        spec = DistillSpec(steps=2, grid=8, cfg_scale=scale)
        return _step(student, teacher, tiny_config, spec)["loss"].item()

    assert loss(1.0) != pytest.approx(loss(4.0), rel=1e-3)


def test_distill_spec_is_checked():
    DistillSpec(4, 32, 2.0).check()
    with pytest.raises(Jen1Error, match="multiple"):
        DistillSpec(4, 30, 2.0).check()
    with pytest.raises(Jen1Error, match="at least 2"):
        DistillSpec(1, 1, 2.0).check()
    with pytest.raises(Jen1Error, match="at least 0"):
        DistillSpec(4, 32, -1.0).check()
    assert DistillSpec.from_dict(DistillSpec(2, 8, 3.0).to_dict()) == DistillSpec(2, 8, 3.0)
