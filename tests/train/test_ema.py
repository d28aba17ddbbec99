"""EMA of parameters: the warm-up of the decay, copied buffers, a state-dict round trip."""

import torch
from torch import nn

from jen1.train.ema import EMA


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_follows_the_warmed_up_decay_and_copies_buffers():
    net = _net()
    ema = EMA(net, decay=0.9)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.fill_(3.0)
    ema.update(net)  # first update: decay min(0.9, 2 / 11)
    d = 2 / 11
    expected = d * start + (1 - d) * net[0].weight.detach()
    assert torch.allclose(ema.shadow[0].weight, expected, atol=1e-6)
    assert torch.equal(ema.shadow[1].running_mean, torch.full((4,), 3.0))
    for _ in range(200):
        ema.update(net)
    assert torch.allclose(ema.shadow[0].weight, net[0].weight, atol=1e-6)  # it converges
    assert not any(p.requires_grad for p in ema.shadow.parameters()) and not ema.shadow.training


def test_state_dict_round_trip():
    net = _net()
    ema = EMA(net, decay=0.99)
    with torch.no_grad():
        net[0].weight.mul_(2)
    ema.update(net)
    other = EMA(_net(), decay=0.99)
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1
    assert torch.equal(other.shadow[0].weight, ema.shadow[0].weight)
