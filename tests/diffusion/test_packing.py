"""oneDNN-prepacked inference weights: same outputs, same causality, retired when stale."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from jen1.conditioning.conditions import Conditions
from jen1.config import load_config
from jen1.diffusion import packing
from jen1.diffusion.layers import Conv1d
from jen1.diffusion.ops import conv1d_frames
from jen1.diffusion.unet import UNet1D
from jen1.models import build_unet
from jen1.precision import cast_matmul_weights

pytestmark = pytest.mark.skipif(not packing.packing_available(), reason="no oneDNN in this build")


def _bf16_kernels() -> bool:
    return packing.packing_available() and packing._kernels_run(torch.bfloat16)


# oneDNN has no bf16 convolution on CPUs without AVX-512: there nothing is packed in bf16
needs_bf16 = pytest.mark.skipif("not _bf16_kernels()", reason="no oneDNN bf16 kernels on this CPU")


def _unet(seed: int = 0) -> tuple[UNet1D, int, int]:
    cfg = load_config("tiny")
    c, d = cfg.autoencoder.latent_dim, cfg.text.dim
    torch.manual_seed(seed)
    net = build_unet(cfg).eval()
    with torch.no_grad():  # zero-initialised output layers would hide every difference
        for p in net.parameters():
            p.normal_(0.0, 0.05)
    return net, c, d


def _inputs(c: int, d: int, frames: int = 37, batch: int = 2):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 2 * c + 1, frames, generator=g)
    cond = Conditions(
        text_emb=torch.randn(batch, 5, d, generator=g),
        text_mask=torch.tensor([[True] * 5, [True, True, False, False, False]][:batch]),
        known=torch.zeros(batch, c, frames),
        mask=torch.zeros(batch, 1, frames),
        drop_text=torch.zeros(batch, dtype=torch.bool),
    )
    return x, torch.rand(batch, generator=g), cond


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@needs_bf16
def test_packed_bf16_unet_matches_the_plain_one_in_both_modes():
    ref, c, d = _unet()
    cast_matmul_weights(ref, torch.bfloat16)
    fast = copy.deepcopy(ref)
    n = packing.pack_for_inference(fast)
    assert n == sum(isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)) for m in fast.modules())
    x, t, cond = _inputs(c, d)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        for causal in (False, True):
            a, b = ref(x, t, cond, causal), fast(x, t, cond, causal)
            assert a.shape == b.shape == (2, c, 37)
            assert not torch.equal(a, b)  # the packed kernels really ran
            assert _rel(b, a) < 0.02  # bf16 rounding, in another order


def test_packed_float32_unet_matches_the_plain_one():
    ref, c, d = _unet()
    fast = copy.deepcopy(ref)
    assert packing.pack_for_inference(fast) > 0  # float32: the convs
    x, t, cond = _inputs(c, d)
    with torch.inference_mode():
        a, b = ref(x, t, cond, False), fast(x, t, cond, False)
    assert b.dtype == torch.float32 and _rel(b, a) < 1e-5


def test_packed_unet_is_still_causal():
    net, c, d = _unet()
    cast_matmul_weights(net, torch.bfloat16)
    packing.pack_for_inference(net)
    x, t, cond = _inputs(c, d, frames=40)
    y = x.clone()
    y[:, :, 25:] = torch.randn_like(y[:, :, 25:])  # change only the future from frame 25 on
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        a, b = net(x, t, cond, True), net(y, t, cond, True)
        assert torch.equal(a[..., :25], b[..., :25])
        assert not torch.equal(a[..., 25:], b[..., 25:])
        a, b = net(x, t, cond, False), net(y, t, cond, False)
        assert not torch.equal(a[..., :25], b[..., :25])  # bidirectional does look ahead


@pytest.mark.parametrize(
    "kernel,stride,dilation", [(3, 1, 1), (3, 2, 1), (2, 1, 1), (4, 2, 1), (3, 1, 2)]
)
def test_packed_conv_pads_like_conv1d_frames(kernel, stride, dilation):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 5, kernel, stride=stride, dilation=dilation)
    x = torch.randn(2, 13, 6)
    for causal in (False, True):  # a fresh pack each: a pack serves one padding
        packing.unpack(conv)
        assert packing.pack_for_inference(conv) == 1
        with torch.inference_mode():
            p = packing.packed(conv, x)
            assert p is not None
            out = packing.packed_conv_frames(x, p, kernel, stride, dilation, causal=causal)
            ref = conv1d_frames(
                x, conv.weight, conv.bias, stride=stride, dilation=dilation, causal=causal
            )
            assert out.shape == ref.shape == (2, -(-13 // stride), 5)
            assert out.is_contiguous()
            assert torch.allclose(out, ref, atol=1e-5)


def test_stale_or_trained_weights_never_use_the_pack():
    net, c, d = _unet()
    packing.pack_for_inference(net)
    x, t, cond = _inputs(c, d)
    conv = net.conv_in.conv
    with torch.no_grad():
        assert packing.packed(conv, x.transpose(1, 2)) is not None
    # training: autograd on the weights -> plain path, gradients flow
    net.train()
    net(x, t, cond, False).square().mean().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert packing.packed(conv, x.transpose(1, 2)) is None
    # new weights loaded in place: the pack is retired, outputs follow the new weights
    net.eval()
    other, _, _ = _unet(seed=1)
    net.load_state_dict(other.state_dict())
    with torch.inference_mode():
        assert packing.packed(conv, x.transpose(1, 2)) is None
        assert torch.allclose(net(x, t, cond, False), other(x, t, cond, False), atol=1e-6)
    # wrong precision for the pack: a float32 pack never serves bf16 autocast
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        packing.pack_for_inference(net)
        assert packing.packed(conv, x.transpose(1, 2)) is None


def test_gelu_is_fused_exactly_as_nn_gelu():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 24).to(torch.bfloat16)
    x = torch.randn(3, 7, 16, dtype=torch.bfloat16)
    with torch.inference_mode():
        ref = F.gelu(F.linear(x.float(), lin.weight.float(), lin.bias.float()))
        packing.pack_for_inference(lin)
        out = packing.linear(lin, x, activation="gelu")
        packing.unpack(lin)
        plain = packing.linear(lin, x, activation="gelu")
    assert out.dtype == torch.bfloat16 and out.shape == (3, 7, 24)
    assert _rel(out, ref) < 0.01 and _rel(plain, ref) < 0.01


def test_unpack_and_no_onednn(monkeypatch):
    net, c, d = _unet()
    packing.pack_for_inference(net)
    packing.unpack(net)
    x = torch.randn(1, 4, net.conv_in.conv.in_channels)
    assert packing.packed(net.conv_in.conv, x) is None
    monkeypatch.setattr(packing, "packing_available", lambda: False)
    assert packing.pack_for_inference(net) == 0


def test_a_cpu_without_the_packed_kernels_keeps_the_plain_path(monkeypatch):
    net, c, d = _unet()
    monkeypatch.setattr(packing, "_kernels_run", lambda dtype: False)
    assert packing.pack_for_inference(net) == 0
    monkeypatch.undo()
    assert packing._kernels_run(torch.float32)  # oneDNN runs float32 on any x86 CPU


@needs_bf16
def test_conv_packs_serve_the_width_they_were_packed_for():
    """A conv is packed for the first input width and padding it meets; other calls run the
    plain convolution (a second blocked layout would be a second copy of the weights). A causal
    call of the same output width as the packed centred one is one of the others: served by
    the centred pack, oneDNN reordered the weight on every call (causal sampling 13x slower)."""
    torch.manual_seed(0)
    conv = Conv1d(8, 8, 3).to(torch.bfloat16)
    packing.pack_for_inference(conv)
    with torch.inference_mode():
        for frames, causal, served in ((40, False, True), (40, True, False), (7, False, False)):
            x = torch.randn(2, frames, 8, dtype=torch.bfloat16)
            p = packing.packed(conv.conv, x)
            direct = packing.packed_conv_frames(x, p, 3, 1, 1, causal=causal)
            assert (direct is not None) == served
            out = conv(x, causal)  # the layer: packed where it can, plain elsewhere
            ref = conv1d_frames(x, conv.conv.weight, conv.conv.bias, causal=causal)
            assert ((out.float() - ref.float()).norm() / ref.float().norm()).item() < 0.02
            assert list(p.by_size) == [(2, 8, 40, 1)]
