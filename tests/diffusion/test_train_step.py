"""The multi-task diffusion training step: tasks, causal split, text dropout, per-task losses."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from jen1.conditioning.conditions import Conditions
from jen1.diffusion.train_step import diffusion_train_step, run_unet_by_mode
from jen1.models import build_unet


class SpyUNet(nn.Module):
    """Records each call (input, causal flag, conditions) and predicts x_t * w."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.w = nn.Parameter(torch.tensor(0.5))
        self.calls: list[tuple[torch.Tensor, bool, Conditions]] = []

    def forward(self, x, t, cond, causal=None):
        self.calls.append((x.detach(), causal, cond))
        return x[:, : self.latent_dim] * self.w


def _batch(cfg, batch=12, frames=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    c, d = cfg.autoencoder.latent_dim, cfg.text.dim
    return (
        torch.randn(batch, c, frames, generator=g),
        torch.randn(batch, 5, d, generator=g),
        torch.ones(batch, 5, dtype=torch.bool),
    )


def test_real_unet_step_is_finite_seeded_and_backprops(tiny_config):
    cfg = tiny_config
    unet = build_unet(cfg)
    z, emb, mask = _batch(cfg)
    out = diffusion_train_step(unet, z, emb, mask, cfg.diffusion, torch.Generator().manual_seed(1))
    assert set(out) == {"loss", "loss_generate", "loss_inpaint", "loss_continue"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in out.values())
    assert not any(v.requires_grad for k, v in out.items() if k != "loss")
    out["loss"].backward()
    assert unet.conv_out.conv.weight.grad.abs().sum() > 0
    gen = torch.Generator().manual_seed(1)
    again = diffusion_train_step(unet, z, emb, mask, cfg.diffusion, gen)
    assert torch.equal(out["loss"].detach(), again["loss"].detach())


def test_causal_split_text_dropout_and_inputs(tiny_config):
    cfg = tiny_config
    c = cfg.autoencoder.latent_dim
    spy = SpyUNet(c)
    z, emb, mask = _batch(cfg)
    dcfg = dataclasses.replace(cfg.diffusion, cfg_dropout=1.0, generate_causal_share=0.5)
    out = diffusion_train_step(spy, z, emb, mask, dcfg, torch.Generator().manual_seed(0))
    assert sorted(flag for _, flag, _ in spy.calls) == [False, True]  # one call per mode
    for x, flag, cond in spy.calls:
        assert torch.all(cond.drop_text)  # cfg_dropout = 1
        known_mask = x[:, -1]  # (b, T)
        assert torch.equal(x[:, -1:], cond.mask)
        assert torch.equal(x[:, c : 2 * c], cond.known * cond.mask)  # layout [x_t, known*m, m]
        prefix = (known_mask[:, :-1] >= known_mask[:, 1:]).all(dim=1)  # 1...1 0...0 rows
        if flag:  # causal: continuation (prefix) or text-to-music (all 0)
            assert torch.all(prefix)
        else:  # bidirectional: inpainting (0 inside, 1 at both ends) or text-to-music
            ends = (known_mask[:, 0] == 1) & (known_mask[:, -1] == 1)
            assert torch.all(ends | (known_mask.sum(1) == 0))
    spy.calls.clear()
    dcfg = dataclasses.replace(cfg.diffusion, cfg_dropout=0.0)
    diffusion_train_step(spy, z, emb, mask, dcfg, torch.Generator().manual_seed(0))
    assert not any(torch.any(cond.drop_text) for _, _, cond in spy.calls)
    assert out["loss"].requires_grad


def test_per_task_losses_only_for_present_tasks(tiny_config):
    cfg = tiny_config
    spy = SpyUNet(cfg.autoencoder.latent_dim)
    z, emb, mask = _batch(cfg, batch=4)
    dcfg = dataclasses.replace(cfg.diffusion, task_shares=(0.0, 1.0, 0.0))
    out = diffusion_train_step(spy, z, emb, mask, dcfg, torch.Generator().manual_seed(0))
    assert set(out) == {"loss", "loss_inpaint"}
    assert torch.allclose(out["loss"].detach(), out["loss_inpaint"])
    assert [flag for _, flag, _ in spy.calls] == [False]  # inpainting is bidirectional only


def test_run_unet_by_mode_keeps_sample_order(tiny_config):
    cfg = tiny_config
    torch.manual_seed(0)
    unet = build_unet(cfg)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    c, frames = cfg.autoencoder.latent_dim, 10
    x = torch.randn(4, 2 * c + 1, frames)
    t = torch.rand(4)
    cond = Conditions(
        torch.randn(4, 3, cfg.text.dim),
        torch.ones(4, 3, dtype=torch.bool),
        torch.zeros(4, c, frames),
        torch.zeros(4, 1, frames),
        torch.tensor([True, False, False, True]),
    )
    causal = torch.tensor([True, False, True, False])
    out = run_unet_by_mode(unet, x, t, cond, causal)
    for i in range(4):
        sel = torch.tensor([i])
        one = unet(x[sel], t[sel], cond.select(sel), causal=bool(causal[i]))
        assert torch.allclose(out[i : i + 1], one, atol=1e-5)


def test_per_sample_generators_make_draws_independent_of_the_batch(tiny_config):
    """With jen1.rng per-sample generators, a sample gets the same task, mask, t and noise
    whatever else is in its batch (DDP / micro-batch invariance)."""
    from jen1.rng import sample_generators

    cfg = tiny_config
    spy = SpyUNet(cfg.autoencoder.latent_dim)
    z, emb, mask = _batch(cfg, batch=6)
    diffusion_train_step(spy, z, emb, mask, cfg.diffusion, sample_generators(0, range(6)))
    full = {}
    for x, flag, cond in spy.calls:
        for i in range(x.shape[0]):
            full[tuple(cond.known[i, 0].tolist())] = (x[i], flag, bool(cond.drop_text[i]))
    spy.calls.clear()
    diffusion_train_step(spy, z[4:], emb[4:], mask[4:], cfg.diffusion, sample_generators(0, [4, 5]))
    seen = 0
    for x, flag, cond in spy.calls:
        for i in range(x.shape[0]):
            ref_x, ref_flag, ref_drop = full[tuple(cond.known[i, 0].tolist())]  # sample's z
            assert torch.equal(x[i], ref_x) and flag == ref_flag
            assert bool(cond.drop_text[i]) == ref_drop
            seen += 1
    assert seen == 2


class OracleFlowUNet(nn.Module):
    """Predicts the exact rectified-flow velocity from x_t, t and the clean latent it was given:
    x_t = (1 - t) z + t eps, so eps - z = (x_t - z) / t."""

    def __init__(self, z: torch.Tensor) -> None:
        super().__init__()
        self.z = z
        self.w = nn.Parameter(torch.tensor(1.0))
        self.ts: list[torch.Tensor] = []

    def forward(self, x, t, cond, causal=None):
        self.ts.append(t)
        x_t = x[:, : self.z.shape[1]]
        idx = [
            next(i for i in range(len(self.z)) if torch.equal(cond.known[j], self.z[i]))
            for j in range(len(x_t))
        ]  # which sample each row is (the causal split reorders)
        return self.w * (x_t - self.z[idx]) / t[:, None, None]


def test_flow_step_builds_x_t_on_the_line_and_regresses_the_velocity(tiny_config):
    cfg = tiny_config
    z, emb, mask = _batch(cfg)
    flow = dataclasses.replace(
        cfg.diffusion, objective="flow", schedule="flow", train_t="logit_normal", train_t_std=0.5
    )
    oracle = OracleFlowUNet(z)
    out = diffusion_train_step(oracle, z, emb, mask, flow, torch.Generator().manual_seed(0))
    assert out["loss"].item() < 1e-8
    t = torch.cat(oracle.ts)
    assert torch.all((t > 0.05) & (t < 0.95))  # sigmoid(N(0, 0.5)) over 12 strata
    # the same oracle is wrong for the v objective on the cosine schedule
    out = diffusion_train_step(
        oracle, z, emb, mask, cfg.diffusion, torch.Generator().manual_seed(0)
    )
    assert out["loss"].item() > 0.1
