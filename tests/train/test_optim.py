"""Optimiser set-up: weight decay on matrices only, warm-up then cosine or constant decay."""

import math

import pytest
import torch
from torch import nn

from jen1.config import TrainConfig
from jen1.train.optim import build_optimizer, build_scheduler, lr_factor


def test_no_weight_decay_on_biases_norms_and_frozen_parameters():
    net = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    net[2].weight.requires_grad_(False)
    opt = build_optimizer(list(net.parameters()), TrainConfig(weight_decay=0.1, lr=1e-3))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [torch.Size([4, 4])]
    assert len(no_decay["params"]) == 4  # two biases, the norm's weight and bias
    assert decay["lr"] == 1e-3 and opt.defaults["betas"] == TrainConfig().betas


@pytest.mark.parametrize("decay", ["cosine", "constant"])
def test_learning_rate_warms_up_then_decays(decay):
    cfg = TrainConfig(lr=1.0, warmup_steps=4, max_steps=14, min_lr_ratio=0.1, lr_decay=decay)
    factors = [lr_factor(s, cfg) for s in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    if decay == "constant":
        assert factors[4:] == [1.0] * 16
    else:
        assert factors[4] == 1.0 and math.isclose(factors[9], 0.55)  # half way: the mean
        assert all(a >= b for a, b in zip(factors[4:], factors[5:]))
        assert factors[14:] == [pytest.approx(0.1)] * 6  # the floor after max_steps


def test_scheduler_applies_the_factor_to_the_optimiser():
    p = nn.Parameter(torch.zeros(2, 2))
    cfg = TrainConfig(lr=0.5, warmup_steps=2, max_steps=10)
    opt = build_optimizer([p], cfg)
    sched = build_scheduler(opt, cfg)
    assert opt.param_groups[0]["lr"] == 0.25
    p.grad = torch.ones_like(p)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5
