"""UNet1D with musical controls: causality of the aligned channels, the global embedding,
refusal by a model without controls, unchanged models without them, guidance drops them."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from jen1.conditioning.conditions import Conditions, concat_conditions
from jen1.conditioning.control_tensors import NUM_FRAME_CHANNELS, controls_to_tensors
from jen1.conditioning.controls import Controls
from jen1.config import ControlConfig, UNetConfig, load_config
from jen1.diffusion.unet import UNet1D
from jen1.errors import Jen1Error

C, D, RATE = 4, 12, 10.0  # latent channels, text width, frames per second
FULL = ControlConfig()


def _unet(controls: ControlConfig | None = FULL) -> UNet1D:
    cfg = UNetConfig(
        channels=(16, 32, 32), num_res_blocks=1, attn_levels=(False, True, True), head_dim=8,
        time_dim=16, cross_attn_dim=16, groups=4, controls=controls,
    )  # fmt: skip
    torch.manual_seed(0)
    unet = UNet1D(cfg, C, D)
    with torch.no_grad():  # zero-initialised output layers would hide every dependency
        for p in unet.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return unet.double()


def _controls(frames: int, batch: int = 2, **kw):
    told = [Controls(bpm=100.0 + 20 * i, key="D", mode="minor", meter=(3, 4),
                     chords=(("Dm",), ("G",), ("C", "A7"))) for i in range(batch)]  # fmt: skip
    c = controls_to_tensors(told, frames, RATE, beat_grid=True, **kw)
    c.frames = c.frames.double()
    return c


def _cond(batch: int, frames: int, controls=None) -> Conditions:
    g = torch.Generator().manual_seed(1)
    return Conditions(
        text_emb=torch.randn(batch, 3, D, generator=g, dtype=torch.float64),
        text_mask=torch.ones(batch, 3, dtype=torch.bool),
        known=torch.zeros(batch, C, frames, dtype=torch.float64),
        mask=torch.zeros(batch, 1, frames, dtype=torch.float64),
        controls=controls,
    )


@pytest.mark.parametrize("frames", [13, 22])
def test_causal_mode_stays_causal_with_the_control_channels(frames):
    """Backprop from frame k: zero gradient at every later frame, of the input and of the
    control channels alike (they enter like the mask, through the causal input conv)."""
    unet = _unet()
    for k in [0, 3, 7, frames - 2]:
        x = torch.randn(2, 2 * C + 1, frames, dtype=torch.float64, requires_grad=True)
        controls = _controls(frames)
        controls.frames.requires_grad_(True)
        out = unet(x, torch.tensor([0.3, 0.8], dtype=torch.float64), _cond(2, frames, controls),
                   causal=True)  # fmt: skip
        out[..., k].sum().backward()
        gx = x.grad.abs().sum(dim=(0, 1))
        gc = controls.frames.grad.abs().sum(dim=(0, 1))
        assert torch.all(gx[k + 1 :] == 0) and torch.all(gc[k + 1 :] == 0), f"frame {k}"
        assert gc[k] > 0 and gx[k] > 0  # the present frame's controls do matter


def test_bidirectional_mode_sees_future_controls():
    unet = _unet()
    controls = _controls(13)
    controls.frames.requires_grad_(True)
    x = torch.randn(2, 2 * C + 1, 13, dtype=torch.float64)
    unet(x, torch.tensor([0.5, 0.5], dtype=torch.float64), _cond(2, 13, controls))[..., 2].sum(
    ).backward()  # fmt: skip
    assert controls.frames.grad[..., 3:].abs().sum() > 0


@pytest.mark.parametrize("name", ["bpm", "key", "meter", "chords"])
def test_each_control_changes_the_prediction_and_absent_is_its_own_value(name):
    unet = _unet()
    x = torch.randn(2, 2 * C + 1, 16, dtype=torch.float64)
    t = torch.tensor([0.4, 0.6], dtype=torch.float64)
    full = _controls(16)
    flags = {n: torch.tensor([n == name] * 2) for n in ("bpm", "key", "meter", "chords")}
    dropped = full.dropped(**flags)
    a = unet(x, t, _cond(2, 16, full))
    b = unet(x, t, _cond(2, 16, dropped))
    assert not torch.allclose(a, b)
    none = unet(x, t, _cond(2, 16, None))  # no controls at all == every control absent
    assert torch.equal(none, unet(x, t, _cond(2, 16, full.all_dropped())))


def test_global_only_and_aligned_only_configs():
    g = _unet(ControlConfig(aligned=False))
    a = _unet(ControlConfig(global_embed=False))
    assert g.conv_in.conv.in_channels == 2 * C + 1 and g.control_embed is not None
    assert a.conv_in.conv.in_channels == 2 * C + 1 + NUM_FRAME_CHANNELS
    assert a.control_embed is None
    x = torch.randn(2, 2 * C + 1, 16, dtype=torch.float64)
    t = torch.tensor([0.4, 0.6], dtype=torch.float64)
    for unet in (g, a):
        c = _controls(16)
        assert not torch.allclose(unet(x, t, _cond(2, 16, c)), unet(x, t, _cond(2, 16, None)))


def test_a_model_without_controls_refuses_them_and_is_unchanged():
    plain = _unet(None)
    assert not any("control" in k for k in plain.state_dict())
    assert plain.conv_in.conv.in_channels == 2 * C + 1
    x = torch.randn(1, 2 * C + 1, 9, dtype=torch.float64)
    t = torch.tensor([0.5], dtype=torch.float64)
    with pytest.raises(Jen1Error, match="trained without musical controls"):
        plain(x, t, _cond(1, 9, _controls(9, batch=1)))
    # the shipped configs build the same state dict as before this option existed
    for name in ("tiny", "small"):
        cfg = load_config(name)
        assert cfg.unet.controls is None
        keys = UNet1D(cfg.unet, cfg.autoencoder.latent_dim, cfg.text.dim).state_dict()
        assert not any("control" in k for k in keys)


def test_a_fresh_control_embedding_starts_as_the_model_without_it():
    """Zero-initialised projection: adding global controls to a model changes nothing yet."""
    base = _unet(ControlConfig(aligned=False))
    with torch.no_grad():
        base.control_embed.out[1].weight.zero_()
        base.control_embed.out[1].bias.zero_()
    x = torch.randn(2, 2 * C + 1, 16, dtype=torch.float64)
    t = torch.tensor([0.4, 0.6], dtype=torch.float64)
    assert torch.equal(base(x, t, _cond(2, 16, _controls(16))), base(x, t, _cond(2, 16, None)))


def test_frames_must_match_the_input():
    unet = _unet()
    x = torch.randn(2, 2 * C + 1, 12, dtype=torch.float64)
    with pytest.raises(Jen1Error, match="controls are for 2 samples of 13 frames"):
        unet(x, torch.tensor(0.5, dtype=torch.float64), _cond(2, 12, _controls(13)))


def test_guidance_unconditional_branch_drops_controls_and_concat_fills_absent():
    cond = _cond(2, 8, _controls(8))
    null = cond.with_null_text()
    assert bool(null.drop_text.all())
    assert not null.controls.frames.any() and not null.controls.bpm.any()
    both = concat_conditions([cond, dataclasses.replace(cond, controls=None)])
    assert both.controls.batch_size == 4
    assert torch.equal(both.controls.frames[:2], cond.controls.frames)
    assert not both.controls.frames[2:].any()


def test_the_config_of_a_model_without_controls_is_written_as_before():
    """No "controls" key unless they are on: older jen1 versions read such configs."""
    from jen1.config import Jen1Config, parse_override

    cfg = load_config("tiny")
    assert "controls" not in cfg.to_dict()["unet"]
    on = parse_override(cfg, "unet.controls={}")
    assert on.to_dict()["unet"]["controls"]["dropout"] == 0.3
    assert Jen1Config.from_dict(on.to_dict()) == on
    assert parse_override(on, "unet.controls=null") == cfg
