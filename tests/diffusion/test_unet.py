"""UNet1D: shapes at odd lengths, exact causality in unidirectional mode, null text, sizes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jen1.conditioning.conditions import Conditions
from jen1.config import UNetConfig, load_config
from jen1.diffusion.unet import UNet1D, count_parameters
from jen1.errors import Jen1Error

C, D = 4, 12  # latent channels, text width


def _unet(levels: int = 3) -> UNet1D:
    cfg = UNetConfig(
        channels=(16, 32, 32)[:levels],
        num_res_blocks=1,
        attn_levels=(False, True, True)[:levels],
        head_dim=8,
        time_dim=16,
        cross_attn_dim=16,
        groups=4,
    )
    torch.manual_seed(0)
    unet = UNet1D(cfg, C, D)
    with torch.no_grad():  # zero-initialised output layers would hide every dependency
        for p in unet.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return unet.double()


def _cond(batch: int, frames: int, drop: list[bool] | None = None) -> Conditions:
    g = torch.Generator().manual_seed(1)
    text_mask = torch.ones(batch, 5, dtype=torch.bool)
    text_mask[0, 3:] = False  # padded text
    return Conditions(
        text_emb=torch.randn(batch, 5, D, generator=g, dtype=torch.float64),
        text_mask=text_mask,
        known=torch.zeros(batch, C, frames, dtype=torch.float64),
        mask=torch.zeros(batch, 1, frames, dtype=torch.float64),
        drop_text=None if drop is None else torch.tensor(drop),
    )


@pytest.mark.parametrize("frames", [1, 5, 13, 37])
@pytest.mark.parametrize("causal", [False, True])
def test_output_shape_any_length(frames, causal):
    unet = _unet()
    x = torch.randn(2, 2 * C + 1, frames, dtype=torch.float64)
    out = unet(x, torch.rand(2, dtype=torch.float64), _cond(2, frames), causal=causal)
    assert out.shape == (2, C, frames)
    assert torch.isfinite(out).all()


def _input_grad(unet: UNet1D, frames: int, k: int, causal: bool, drop: list[bool]) -> torch.Tensor:
    x = torch.randn(2, 2 * C + 1, frames, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0.3, 0.8], dtype=torch.float64)
    out = unet(x, t, _cond(2, frames, drop), causal=causal)
    out[..., k].sum().backward()
    return x.grad.abs().sum(dim=(0, 1))  # (T,) sensitivity of frame k to each input frame


@pytest.mark.parametrize("frames", [13, 22])
@pytest.mark.parametrize("drop", [[False, False], [True, False]])
def test_causal_mode_has_no_future_dependence(frames, drop):
    unet = _unet()
    for k in [0, 1, 4, 7, frames - 2]:
        grad = _input_grad(unet, frames, k, True, drop)
        assert torch.all(grad[k + 1 :] == 0), f"frame {k} depends on the future"
        assert grad[k] > 0  # and does depend on the present


@pytest.mark.parametrize("drop", [[False, False], [False, True]])
def test_bidirectional_mode_sees_the_future(drop):
    unet = _unet()
    for k in [0, 4, 7]:
        grad = _input_grad(unet, 13, k, False, drop)
        assert grad[k + 1 :].sum() > 0


def test_causal_mode_under_bf16_autocast_has_no_future_dependence():
    """The bf16 CPU path (convs as one matrix product over shifted frames) is causal too."""
    unet = _unet().float()
    frames, k = 22, 9
    x = torch.randn(2, 2 * C + 1, frames)
    later = x.clone()
    later[..., k + 1 :] = torch.randn(2, 2 * C + 1, frames - k - 1)
    t = torch.tensor([0.3, 0.8])
    cond = _cond(2, frames, [False, True])
    cond = dataclasses.replace(
        cond, text_emb=cond.text_emb.float(), known=cond.known.float(), mask=cond.mask.float()
    )
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        a, b = unet(x, t, cond, causal=True), unet(later, t, cond, causal=True)
        c, d = unet(x, t, cond, causal=False), unet(later, t, cond, causal=False)
    assert a.dtype == torch.bfloat16
    assert torch.equal(a[..., : k + 1], b[..., : k + 1])
    assert not torch.equal(a[..., k + 1 :], b[..., k + 1 :])
    assert not torch.equal(c[..., : k + 1], d[..., : k + 1])  # bidirectional sees the change


def test_causal_prefix_outputs_match_full_length():
    """Streaming property: a causal prefix gives the same frames as the full clip."""
    unet = _unet()
    x = torch.randn(1, 2 * C + 1, 23, dtype=torch.float64)
    t = torch.tensor([0.4], dtype=torch.float64)
    full = unet(x, t, _cond(1, 23), causal=True)
    for n in [1, 6, 9, 17]:
        part = unet(x[..., :n], t, _cond(1, n), causal=True)
        assert torch.allclose(part, full[..., :n], atol=1e-10)


def test_drop_text_uses_learned_null_and_ignores_text():
    unet = _unet()
    x = torch.randn(2, 2 * C + 1, 9, dtype=torch.float64)
    t = torch.tensor([0.5, 0.5], dtype=torch.float64)
    cond_a = _cond(2, 9, [True, False])
    cond_b = dataclasses.replace(cond_a, text_emb=torch.randn_like(cond_a.text_emb))
    out_a, out_b = unet(x, t, cond_a), unet(x, t, cond_b)
    assert torch.allclose(out_a[0], out_b[0])  # dropped: text does not matter
    assert not torch.allclose(out_a[1], out_b[1])  # kept: it does
    with torch.no_grad():
        unet.null_text.add_(1.0)
    assert not torch.allclose(unet(x, t, cond_a)[0], out_a[0])  # the null token is used


def test_default_mode_and_input_check():
    unet = _unet(2)
    x = torch.randn(1, 2 * C + 1, 8, dtype=torch.float64)
    t = torch.tensor([0.5], dtype=torch.float64)
    cond = _cond(1, 8)
    assert torch.equal(unet(x, t, cond), unet(x, t, cond, causal=False))
    unet.cfg = dataclasses.replace(unet.cfg, causal=True)
    assert torch.equal(unet(x, t, cond), unet(x, t, cond, causal=True))
    with pytest.raises(Jen1Error, match="input channels"):
        unet(x[:, :-1], t, cond)


def test_bf16_autocast_forward_and_backward():
    cfg = load_config("tiny")
    unet = UNet1D(cfg.unet, cfg.autoencoder.latent_dim, cfg.text.dim)
    c = cfg.autoencoder.latent_dim
    cond = Conditions(
        torch.randn(2, 3, cfg.text.dim),
        torch.ones(2, 3, dtype=torch.bool),
        torch.zeros(2, c, 11),
        torch.zeros(2, 1, 11),
        torch.tensor([True, False]),
    )
    with torch.autocast("cpu", torch.bfloat16):
        out = unet(torch.randn(2, 2 * c + 1, 11), torch.rand(2), cond, causal=True)
    out.float().square().mean().backward()
    assert out.shape == (2, c, 11)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in unet.parameters())


@pytest.mark.parametrize("name,low,high", [("small", 10e6, 40e6), ("paper", 690e6, 760e6)])
def test_parameter_counts(name, low, high):
    cfg = load_config(name)
    with torch.device("meta"):
        unet = UNet1D(cfg.unet, cfg.autoencoder.latent_dim, cfg.text.dim)
    assert low <= count_parameters(unet) <= high
