"""Guidance distillation: the training step and its settings."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from jen1.diffusion.consistency import DistillSpec
from jen1.diffusion.guidance_distill import guidance_distill_step
from jen1.errors import Jen1Error
from tests.diffusion.test_consistency import _batch, _teacher


def _step(student, teacher, cfg, scale, seed=3, dcfg=None):
    """One guidance-distillation step on the fixed batch of ``_batch(cfg)``, seeded."""
    z, emb, mask = _batch(cfg)
    spec = DistillSpec(steps=4, cfg_scale=scale, method="guidance")
    gen = torch.Generator().manual_seed(seed)
    return guidance_distill_step(student, teacher, z, emb, mask, dcfg or cfg.diffusion, spec, gen)


def test_a_student_equal_to_the_teacher_has_no_loss_without_guidance(tiny_config):
    """At cfg 1 the target is the teacher's conditional prediction, which the copy already makes;
    any other scale moves the target off it."""
    teacher = _teacher(tiny_config)
    student = copy.deepcopy(teacher)
    out = _step(student, teacher, tiny_config, 1.0)
    assert out["loss"].item() == pytest.approx(0.0, abs=1e-10)
    assert 0.0 <= out["t"].item() < 1.0
    assert _step(student, teacher, tiny_config, 2.0)["loss"].item() > 1e-6


def test_the_step_trains_the_student_alone_and_is_seeded(tiny_config):
    teacher = _teacher(tiny_config)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    out = _step(student, teacher, tiny_config, 2.0)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0
    out["loss"].backward()
    assert student.conv_out.conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    again = _step(student, teacher, tiny_config, 2.0)
    assert torch.equal(out["loss"].detach(), again["loss"].detach())
    assert not torch.equal(
        out["loss"].detach(), _step(student, teacher, tiny_config, 2.0, 4)["loss"]
    )


class _OffOnFrames(nn.Module):
    """The teacher's prediction plus a large offset on the known frames (``on="known"``) or on
    the frames to generate (``on="generated"``): the mask is the U-Net input's last channel."""

    def __init__(self, unet: nn.Module, on: str):
        super().__init__()
        self.unet, self.on = unet, on

    def forward(self, x, t, cond, causal=False):
        mask = x[:, -1:]
        where = mask if self.on == "known" else 1 - mask
        return self.unet(x, t, cond, causal=causal) + 100.0 * where


def test_known_frames_carry_no_loss(tiny_config):
    """Inpainting and continuation only: a student wrong on every known frame (and right on the
    rest) has no loss; wrong on the frames to generate, it has."""
    dcfg = dataclasses.replace(tiny_config.diffusion, task_shares=(0.0, 0.5, 0.5))
    teacher = _teacher(tiny_config)
    wrong_known = _OffOnFrames(copy.deepcopy(teacher), "known")
    wrong_generated = _OffOnFrames(copy.deepcopy(teacher), "generated")
    assert _step(wrong_known, teacher, tiny_config, 1.0, dcfg=dcfg)["loss"].item() == (
        pytest.approx(0.0, abs=1e-10)
    )
    assert _step(wrong_generated, teacher, tiny_config, 1.0, dcfg=dcfg)["loss"].item() > 1e3


def test_a_few_steps_pull_the_student_to_the_guided_teacher(tiny_config):
    teacher = _teacher(tiny_config)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    opt = torch.optim.Adam(student.parameters(), lr=1e-4)
    losses = []
    for _ in range(6):
        opt.zero_grad(set_to_none=True)
        out = _step(student, teacher, tiny_config, 3.0)  # the same draws every step
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    with torch.no_grad():
        final = _step(student, teacher, tiny_config, 3.0)["loss"].item()
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert final < 0.5 * losses[0], losses + [final]


def test_the_method_is_checked_and_old_specs_are_consistency():
    DistillSpec(4, 32, 2.0, "guidance").check()
    DistillSpec(25, 32, 2.0, "guidance").check()  # no grid rule: the grid plays no part
    with pytest.raises(Jen1Error, match="multiple"):
        DistillSpec(25, 32, 2.0, "consistency").check()
    with pytest.raises(Jen1Error, match="--distill-method must be one of consistency, guidance"):
        DistillSpec(4, 32, 2.0, "progressive").check()
    with pytest.raises(Jen1Error, match="at least 0"):
        DistillSpec(4, 32, -1.0, "guidance").check()
    spec = DistillSpec(25, 32, 3.0, "guidance")
    assert spec.to_dict()["method"] == "guidance"
    assert DistillSpec.from_dict(spec.to_dict()) == spec
    # distill.json of a run from before the method existed
    old = {"steps": 4, "grid": 32, "cfg_scale": 2.0, "init": "models/teacher"}
    assert DistillSpec.from_dict(old) == DistillSpec(4, 32, 2.0, "consistency")
